package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// schema is the reference layout, as SQLAlchemy creates it for the Python
// reference.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS quantumpipes_capsules (
	id VARCHAR(36) NOT NULL,
	type VARCHAR(20) NOT NULL,
	sequence INTEGER NOT NULL,
	previous_hash VARCHAR(64),
	data TEXT NOT NULL,
	hash VARCHAR(64) NOT NULL,
	signature TEXT NOT NULL,
	signature_pq TEXT NOT NULL,
	signed_at VARCHAR(40),
	signed_by VARCHAR(32),
	session_id VARCHAR(36),
	domain VARCHAR(50) NOT NULL,
	tenant_id VARCHAR(36),
	PRIMARY KEY (id),
	CONSTRAINT uq_capsule_tenant_sequence UNIQUE (tenant_id, sequence)
)`,
	"CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_sequence ON quantumpipes_capsules (sequence)",
	"CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_hash ON quantumpipes_capsules (hash)",
	"CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_session_id ON quantumpipes_capsules (session_id)",
	"CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_domain ON quantumpipes_capsules (domain)",
	"CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_tenant_id ON quantumpipes_capsules (tenant_id)",
	"CREATE UNIQUE INDEX IF NOT EXISTS uq_capsule_global_sequence ON quantumpipes_capsules (sequence) WHERE tenant_id IS NULL",
	ownIndexes[1].ddl,
	// ownIndexes[0] follows, unless the id column sorts in byte order
	// (see createSchema).
}

// compressData makes PostgreSQL compress data with lz4: several times
// faster than its default, pglz, for nearly the same size. A typical
// capsule's row (2.2 KB) is over the 2 KB at which PostgreSQL compresses
// a row's values: 2,239 -> 1,795 bytes of heap WAL per capsule.
const compressData = "ALTER TABLE quantumpipes_capsules ALTER COLUMN data SET COMPRESSION lz4"

// ownIndexes are this package's indexes beside the reference's, which the
// reference never reads and PostgreSQL keeps when it writes.
// lock names the advisory lock that one process at a time builds it under.
var ownIndexes = [2]struct{ name, lock, ddl string }{
	// Serves id prefixes: the primary key sorts in the database's
	// collation, in which a prefix is not a range (nor can LIKE use it
	// unless the collation is "C"); in byte order it is. Not built where
	// the primary key sorts in byte order already (see idByteOrder): it
	// would cost every append a second index entry of the id, about 100
	// bytes of WAL per capsule, for nothing.
	{"ix_quantumpipes_capsules_id_c", "capsule:id-index", `CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_id_c ON quantumpipes_capsules (id COLLATE "C")`},
	// Serves a chain's capsules of one type, newest first (List and Count
	// with a type filter), from index entries instead of every row of the
	// chain; tenant_id IS NULL (the null tenant) is a range of it too.
	{"ix_quantumpipes_capsules_tenant_type", "capsule:type-index", "CREATE INDEX IF NOT EXISTS ix_quantumpipes_capsules_tenant_type ON quantumpipes_capsules (tenant_id, type, sequence)"},
}

// lockKey is the advisory lock key for name: a stable 64-bit hash (FNV-1a)
// shared by every process using this package.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// chainLock is the advisory lock key of tenant's chain.
func chainLock(tenant string) int64 { return lockKey("capsule:" + tenant) }

// createSchema creates the table and its indexes when the table is
// missing, under an advisory lock so that concurrent creators wait for each
// other. An existing table is left as it is.
func (s *Store) createSchema(ctx context.Context) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('quantumpipes_capsules') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("look for table quantumpipes_capsules: %w", err)
	}
	if exists {
		bytes, err := s.idOrder(ctx, s.pool)
		if err != nil {
			return err
		}
		for k, ix := range ownIndexes {
			if k == 0 && bytes {
				continue
			}
			if err := s.createIndex(ctx, ix.name, ix.lock, ix.ddl); err != nil {
				return err
			}
		}
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("capsule:schema")); err != nil {
			return err
		}
		var already bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass('quantumpipes_capsules') IS NOT NULL").Scan(&already); err != nil || already {
			return err // another process created it meanwhile
		}
		for _, stmt := range schema {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		bytes, err := s.idOrder(ctx, tx)
		if err != nil {
			return err
		}
		if !bytes {
			if _, err := tx.Exec(ctx, ownIndexes[0].ddl); err != nil {
				return err
			}
		}
		var lz4 bool
		err = tx.QueryRow(ctx, "SELECT coalesce('lz4' = ANY(enumvals), false) FROM pg_settings WHERE name = 'default_toast_compression'").Scan(&lz4)
		if err != nil || !lz4 {
			return err
		}
		_, err = tx.Exec(ctx, compressData)
		return err
	})
	if err != nil {
		return fmt.Errorf("create table quantumpipes_capsules: %w", err)
	}
	return nil
}

// createIndex adds one of ownIndexes to a table created before it
// existed, without blocking writers (CREATE INDEX CONCURRENTLY), in one
// process at a time: a process that finds another building it goes on
// without waiting. Until it exists, the reads it serves scan instead.
func (s *Store) createIndex(ctx context.Context, name, lock, ddl string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
		return fmt.Errorf("look for index %s: %w", name, err)
	}
	if exists {
		return nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("create index %s: %w", name, err)
	}
	defer conn.Release()
	key := lockKey(lock)
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&locked); err != nil || !locked {
		return err // another process is building it
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
	_, err = conn.Exec(ctx, strings.Replace(ddl, "CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		// insufficient_privilege: only the table's owner can index it;
		// the store works without, reading by a scan.
		return nil
	}
	if err != nil {
		return fmt.Errorf("create index %s: %w", name, err)
	}
	return nil
}

// idCollationQuery answers the id column's collation: its provider
// (c: libc, b: builtin, i: ICU, d: the database's) and locale, the
// database's provider and locale standing in for "default". The
// database's provider is read through row_to_json, since
// pg_database.datlocprovider only exists from PostgreSQL 15 (libc before).
const idCollationQuery = `SELECT CASE WHEN c.collname = 'default' THEN coalesce(row_to_json(d)->>'datlocprovider', 'c') ELSE c.collprovider::text END,
	CASE WHEN c.collname = 'default' THEN d.datcollate::text ELSE coalesce(c.collcollate::text, '') END,
	c.collname::text
FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
CROSS JOIN (SELECT * FROM pg_database WHERE datname = current_database()) d
WHERE a.attrelid = to_regclass('quantumpipes_capsules') AND a.attname = 'id'`

// idOrder reports whether the table's id column sorts in byte order, so
// that its primary key answers an id prefix as a range (see wherePrefix),
// as q sees it; the answer is kept once the table exists. The collations
// that do: libc's C and POSIX, its C.UTF-8 (code point order, which is
// byte order in UTF-8), the builtin provider's (PostgreSQL 17: C and
// C.UTF-8, both code point order) and ucs_basic.
func (s *Store) idOrder(ctx context.Context, q rowQuerier) (bool, error) {
	switch s.idBytes.Load() {
	case idBytes:
		return true, nil
	case idCollated:
		return false, nil
	}
	var provider, locale, name string
	err := q.QueryRow(ctx, idCollationQuery).Scan(&provider, &locale, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // no table yet
	}
	if err != nil {
		return false, fmt.Errorf("look at the collation of quantumpipes_capsules.id: %w", err)
	}
	bytes := name == "C" || name == "POSIX" || name == "ucs_basic" || provider == "b" ||
		provider == "c" && slices.Contains([]string{"C", "POSIX", "C.UTF-8", "C.utf8"}, locale)
	if bytes {
		s.idBytes.Store(idBytes)
	} else {
		s.idBytes.Store(idCollated)
	}
	return bytes, nil
}

// The values of Store.idBytes.
const (
	_ int32 = iota // not looked at yet
	idBytes
	idCollated
)

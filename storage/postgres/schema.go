package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
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
	ownIndexes[0].ddl,
	ownIndexes[1].ddl,
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
	// unless the collation is "C"); in byte order it is.
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
		for _, ix := range ownIndexes {
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
		var lz4 bool
		err := tx.QueryRow(ctx, "SELECT coalesce('lz4' = ANY(enumvals), false) FROM pg_settings WHERE name = 'default_toast_compression'").Scan(&lz4)
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

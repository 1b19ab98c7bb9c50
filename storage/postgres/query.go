package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage/internal/rows"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// planned is the execution mode of this package's reads: each is planned
// for its arguments, as an unnamed statement whose description pgx caches.
// A prepared statement gets, from its sixth execution on, a generic plan
// made with the statistics of that moment and kept for as long as the
// connection lives: on a table never analyzed (a new one, or autovacuum
// off) and still small, the generic plans of a chain's head and of a page
// of it read through the tenant_id index and sorted the whole chain
// (TestPlansReadChainsByIndex). The appends, whose plans are worth
// caching, keep their prepared statements (see appendSettings).
const planned = pgx.QueryExecModeCacheDescribe

// readArgs returns the arguments of a read: planned, then args.
func readArgs(args []any) []any { return append([]any{planned}, args...) }

// query builds a SELECT with numbered parameters.
type query struct {
	conds []string
	args  []any
}

// arg adds a parameter and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// where adds a condition; cond contains %s where the placeholders of args
// go.
func (q *query) where(cond string, args ...any) {
	ph := make([]any, len(args))
	for i, a := range args {
		ph[i] = q.arg(a)
	}
	q.conds = append(q.conds, fmt.Sprintf(cond, ph...))
}

// tenant restricts the query to tenant's chain.
func (q *query) tenant(tenant string) {
	if tenant == "" {
		q.conds = append(q.conds, "tenant_id IS NULL")
	} else {
		q.where("tenant_id = %s", tenant)
	}
}

func (q *query) tenantFilter(tenant *string) {
	if tenant != nil {
		q.tenant(*tenant)
	}
}

// sql returns "SELECT what FROM quantumpipes_capsules [WHERE …] tail".
func (q *query) sql(what, tail string) string {
	s := "SELECT " + what + " FROM quantumpipes_capsules"
	if len(q.conds) > 0 {
		s += " WHERE " + strings.Join(q.conds, " AND ")
	}
	if tail != "" {
		s += " " + tail
	}
	return s
}

// recordCols selects the columns scanRecord reads, in its order.
const recordCols = "id, type, domain, COALESCE(tenant_id, ''), sequence, COALESCE(previous_hash, ''), data, hash, " +
	"signature, signature_pq, COALESCE(signed_at, ''), COALESCE(signed_by, ''), COALESCE(session_id, '')"

func scanRecord(row pgx.Row) (protocol.Sealed, error) {
	var r protocol.Sealed
	var seq int32
	err := row.Scan(&r.ID, &r.Type, &r.Domain, &r.Tenant, &seq, &r.PreviousHash, &r.Data, &r.Hash,
		&r.Signature, &r.SignaturePQ, &r.SignedAt, &r.SignedBy, &r.SessionID)
	r.Sequence = int64(seq)
	if r.Data == nil {
		r.Data = []byte{}
	}
	return r, err
}

// noTable reports whether err says the table does not exist, which a
// read-only store, that never creates it, reads as "no capsules".
func (s *Store) noTable(err error) bool {
	var pe *pgconn.PgError
	return s.readOnly && errors.As(err, &pe) && pe.Code == "42P01" // undefined_table
}

// queryRecords runs sql and reads every row as a Record; a read-only store
// reads no row from a missing table.
func (s *Store) queryRecords(ctx context.Context, sql string, args ...any) ([]protocol.Sealed, error) {
	return s.queryRecordsMax(ctx, 0, sql, args...)
}

// queryRecordsMax is queryRecords reading rows until they hold maxBytes
// bytes of Data or more (every row when maxBytes <= 0).
func (s *Store) queryRecordsMax(ctx context.Context, maxBytes int64, sql string, args ...any) ([]protocol.Sealed, error) {
	c, err := s.pool.Query(ctx, sql, readArgs(args)...)
	if err != nil {
		if s.noTable(err) {
			return nil, nil
		}
		return nil, err
	}
	defer c.Close()
	recs, err := rows.Collect(c, maxBytes, func() (protocol.Sealed, error) { return scanRecord(c) })
	if err != nil && !s.noTable(err) {
		return nil, err
	}
	return recs, nil
}

// likePrefix returns the LIKE pattern matching the strings that start with
// prefix, escaping the pattern characters.
func likePrefix(prefix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(prefix) + "%"
}

// prefixEnd returns the least string above every string starting with
// prefix, in byte order: prefix with its last byte incremented. ok is
// false when that is not text (the last byte is not ASCII below DEL).
func prefixEnd(prefix string) (end string, ok bool) {
	last := prefix[len(prefix)-1]
	if last >= 0x7f {
		return "", false
	}
	return prefix[:len(prefix)-1] + string(last+1), true
}

// wherePrefix restricts q to the ids starting with prefix, as a range in
// byte order that the primary key answers when bytes (the id column sorts
// in byte order), else the index ix_quantumpipes_capsules_id_c.
func (q *query) wherePrefix(prefix string, bytes bool) {
	if end, ok := prefixEnd(prefix); ok && bytes {
		q.where(`id >= %s AND id < %s`, prefix, end)
		return
	}
	if end, ok := prefixEnd(prefix); ok {
		q.where(`id COLLATE "C" >= %s AND id COLLATE "C" < %s`, prefix, end)
		return
	}
	q.where(`id LIKE %s ESCAPE '\'`, likePrefix(prefix))
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/internal/rows"
)

// Head returns the last link of tenant's chain.
func (s *Store) Head(ctx context.Context, tenant string) (storage.Head, error) {
	if s.closed.Load() {
		return storage.Head{}, s.errClosed("head")
	}
	h := storage.Head{Sequence: -1}
	have, err := s.tables(ctx)
	if err != nil {
		return storage.Head{}, fmt.Errorf("sqlite: head of %q: %w", tenant, err)
	}
	t := tableOf(tenant)
	if have&t.bit == 0 {
		return h, nil
	}
	var args []any
	if tenant != "" {
		args = []any{tenant}
	}
	err = s.r.QueryRowContext(ctx, t.head, args...).Scan(&h.Sequence, &h.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return storage.Head{}, fmt.Errorf("sqlite: head of %q: %w", tenant, err)
	}
	return h, nil
}

// idLen is the length of a full capsule id (a hyphenated UUID).
const idLen = 36

// Get returns the capsule with id id or, when id is shorter than a full
// id, the one capsule whose id starts with it.
func (s *Store) Get(ctx context.Context, id string, tenant *string) (protocol.Sealed, error) {
	if s.closed.Load() {
		return protocol.Sealed{}, s.errClosed("get")
	}
	if id == "" {
		return protocol.Sealed{}, fmt.Errorf("sqlite: get: empty id: %w", storage.ErrNotFound)
	}
	ps, err := s.parts(ctx, tenant)
	if err != nil {
		return protocol.Sealed{}, fmt.Errorf("sqlite: get %q: %w", id, err)
	}
	if len(ps) == 0 {
		return protocol.Sealed{}, fmt.Errorf("sqlite: get %q: %w", id, storage.ErrNotFound)
	}
	q, args := getQuery(ps, id)
	recs, err := s.queryRecords(ctx, q, args...)
	if err != nil {
		return protocol.Sealed{}, fmt.Errorf("sqlite: get %q: %w", id, err)
	}
	switch len(recs) {
	case 0:
		return protocol.Sealed{}, fmt.Errorf("sqlite: get %q: %w", id, storage.ErrNotFound)
	case 1:
		return recs[0], nil
	}
	return protocol.Sealed{}, fmt.Errorf("sqlite: get %q: %w", id, storage.ErrAmbiguous)
}

// getQuery returns Get's SELECT over ps of the capsule whose id is id or,
// for a shorter id, starts with it: at most two rows, found through the
// primary key of each table.
func getQuery(ps []part, id string) (string, []any) {
	for i := range ps {
		// The id alone picks the rows: a unary + keeps SQLite from
		// walking the whole tenant chain through the (tenant_id,
		// sequence) index instead of the primary key.
		if j := slices.Index(ps[i].cond, tenantCond); j >= 0 {
			ps[i].cond[j] = "+" + tenantCond
		}
		if len(id) >= idLen {
			ps[i].where("id = ?", id)
		} else {
			// Every id starting with the prefix sorts between the prefix
			// and the prefix followed by 0xFF, a byte UTF-8 text never
			// holds; the primary key index answers the range.
			ps[i].where("id >= ? AND id < ?", id, id+"\xff")
		}
	}
	q, args := union(ps)
	return q + " LIMIT 2", args
}

// GetByHash returns the capsule with the given hash.
func (s *Store) GetByHash(ctx context.Context, hash string, tenant *string) (protocol.Sealed, error) {
	if s.closed.Load() {
		return protocol.Sealed{}, s.errClosed("get by hash")
	}
	ps, err := s.parts(ctx, tenant)
	if err != nil {
		return protocol.Sealed{}, fmt.Errorf("sqlite: get by hash %q: %w", hash, err)
	}
	if len(ps) == 0 {
		return protocol.Sealed{}, fmt.Errorf("sqlite: get by hash %q: %w", hash, storage.ErrNotFound)
	}
	for i := range ps {
		ps[i].where("hash = ?", hash)
	}
	q, args := union(ps)
	recs, err := s.queryRecords(ctx, q+" LIMIT 1", args...)
	if err != nil {
		return protocol.Sealed{}, fmt.Errorf("sqlite: get by hash %q: %w", hash, err)
	}
	if len(recs) == 0 {
		return protocol.Sealed{}, fmt.Errorf("sqlite: get by hash %q: %w", hash, storage.ErrNotFound)
	}
	return recs[0], nil
}

// Scan streams tenant's chain from sequence from, reading batches of 512
// records by key (sequence), so memory stays bounded whatever the length
// of the chain and no read transaction stays open between batches.
func (s *Store) Scan(ctx context.Context, tenant string, from int64) iter.Seq2[protocol.Sealed, error] {
	return func(yield func(protocol.Sealed, error) bool) {
		if s.closed.Load() {
			yield(protocol.Sealed{}, s.errClosed(fmt.Sprintf("scan %q", tenant)))
			return
		}
		ps, err := s.parts(ctx, &tenant)
		if err != nil {
			yield(protocol.Sealed{}, fmt.Errorf("sqlite: scan %q from %d: %w", tenant, from, err))
			return
		}
		if len(ps) == 0 {
			return // no table, no chain
		}
		p := ps[0]
		p.where("sequence >= ?", nil)
		q, args := p.sql(p.t.cols)
		q += " ORDER BY sequence LIMIT " + strconv.Itoa(scanBatch)
		scan := rows.Keyset(from, scanBatch, func(next int64) ([]protocol.Sealed, error) {
			if s.closed.Load() {
				return nil, s.errClosed(fmt.Sprintf("scan %q", tenant))
			}
			args[len(args)-1] = next
			recs, err := s.queryRecords(ctx, q, args...)
			if err != nil {
				return nil, fmt.Errorf("sqlite: scan %q from %d: %w", tenant, next, err)
			}
			return recs, nil
		})
		for r, err := range scan {
			if !yield(r, err) {
				return
			}
		}
	}
}

// filtered returns the SELECTs for f's conditions other than Limit and
// Offset.
func (s *Store) filtered(ctx context.Context, f storage.Filter) ([]part, error) {
	ps, err := s.parts(ctx, f.Tenant)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if f.Type != "" {
			ps[i].where("type = ?", f.Type)
		}
		if f.Domain != "" {
			ps[i].where(ps[i].t.domain+" = ?", f.Domain)
		}
		if f.SessionID != "" {
			ps[i].where("session_id = ?", f.SessionID)
		}
		if f.MaxSequence != nil {
			ps[i].where("sequence <= ?", *f.MaxSequence)
		}
		if f.MinSequence != nil {
			ps[i].where("sequence >= ?", *f.MinSequence)
		}
	}
	return ps, nil
}

// List returns the capsules matching f, newest first, then by tenant.
func (s *Store) List(ctx context.Context, f storage.Filter) ([]protocol.Sealed, error) {
	if s.closed.Load() {
		return nil, s.errClosed("list")
	}
	ps, err := s.filtered(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", err)
	}
	if len(ps) == 0 {
		return nil, nil
	}
	q, args := listQuery(ps, f)
	recs, err := s.queryRecordsMax(ctx, f.MaxBytes, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", err)
	}
	return recs, nil
}

// listQuery returns List's SELECT over ps (f's conditions), ordered and
// paged by f.
func listQuery(ps []part, f storage.Filter) (string, []any) {
	q, args := union(ps)
	limit := int64(-1) // no limit
	if f.Limit > 0 {
		limit = int64(f.Limit)
	}
	if f.Tenant != nil {
		// One chain, whose sequences are unique: the order its indexes
		// give, without a sort for a constant tenant_id.
		q += " ORDER BY sequence DESC LIMIT ? OFFSET ?"
	} else {
		q += " ORDER BY sequence DESC, tenant_id LIMIT ? OFFSET ?"
	}
	return q, append(args, limit, max(f.Offset, 0))
}

// Count returns how many capsules match f, ignoring Limit and Offset.
func (s *Store) Count(ctx context.Context, f storage.Filter) (int64, error) {
	if s.closed.Load() {
		return 0, s.errClosed("count")
	}
	ps, err := s.filtered(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count: %w", err)
	}
	if len(ps) == 0 {
		return 0, nil
	}
	var qs []string
	var args []any
	for _, p := range ps {
		q, a := p.sql("count(*)")
		qs = append(qs, "("+q+")")
		args = append(args, a...)
	}
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT "+strings.Join(qs, " + "), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count: %w", err)
	}
	return n, nil
}

// The query of Tenants in two parts, one per table: the null tenant when
// its chain has a capsule, then every other tenant, jumping from one to the
// next through the unique (tenant_id, sequence) index instead of reading
// every row.
const (
	tenantsNull  = `SELECT '' WHERE EXISTS (SELECT 1 FROM capsules)`
	tenantsOther = `SELECT tenant_id FROM (
	WITH RECURSIVE t(tenant_id) AS (
		SELECT min(tenant_id) FROM capsule_tenant_chains
		UNION ALL
		SELECT (SELECT min(tenant_id) FROM capsule_tenant_chains WHERE tenant_id > t.tenant_id)
		FROM t WHERE t.tenant_id IS NOT NULL
	)
	SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL
)`
)

// Tenants returns every tenant with a chain, in ascending byte order, ""
// first when the null tenant has one.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	if s.closed.Load() {
		return nil, s.errClosed("tenants")
	}
	have, err := s.tables(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: tenants: %w", err)
	}
	var qs []string
	if have&hasRef != 0 {
		qs = append(qs, tenantsNull)
	}
	if have&hasTenant != 0 {
		qs = append(qs, tenantsOther)
	}
	if len(qs) == 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, strings.Join(qs, "\nUNION ALL\n"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: tenants: %w", err)
	}
	defer rows.Close()
	var tenants []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("sqlite: tenants: %w", err)
		}
		tenants = append(tenants, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: tenants: %w", err)
	}
	slices.Sort(tenants)
	return tenants, nil
}

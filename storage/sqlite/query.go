package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/storage/internal/rows"
)

// table is one of the two tables, with the SQL that reads a Record from it.
type table struct {
	name string
	bit  tableSet // the table in a tableSet
	// cols selects the columns scanRecord reads, in its order.
	cols string
	// domain is the expression of a capsule's domain.
	domain string
	// head reads the last link of a chain; its only parameter, if any, is
	// the tenant.
	head string
	// appendHead reads, in an append, the last link of a chain and
	// whether its row holds its tree hashes (see tree.go).
	appendHead string
	// insert stores a record: id, type, sequence, previous_hash, data, hash,
	// signature, signature_pq, signed_at, signed_by, session_id, tree,
	// domain, tenant_id (the reference table has none of the last two).
	insert string
	// tree is the SQL of the tree hashes its rows hold (see tree.go).
	tree rowTreeSQL
}

// topLevelString returns the string value of key in the top-level JSON
// object data, or "" when data is not an object, lacks the key, or its
// value is not a string. It reads the Python reference's content (with
// whitespace) as well as canonical JSON.
func topLevelString(data []byte, key string) string {
	var out string
	canonical.Members(data, func(k, v []byte) bool {
		if string(k) != key {
			return true
		}
		if json.Unmarshal(v, &out) != nil {
			out = ""
		}
		return false
	})
	return out
}

// refDomain reads the domain of a capsule in the reference table, which has
// no domain column, from its content, tolerating content that is not JSON.
const refDomain = "CASE WHEN json_valid(data) THEN CASE json_type(data, '$.domain') WHEN 'text' THEN json_extract(data, '$.domain') END END"

var (
	refTable = table{
		name: "capsules",
		bit:  hasRef,
		cols: "id, type, NULL AS domain, '' AS tenant_id, sequence, previous_hash, data, hash, " +
			"signature, signature_pq, signed_at, signed_by, session_id",
		domain:     refDomain,
		head:       "SELECT sequence, hash FROM capsules ORDER BY sequence DESC LIMIT 1",
		appendHead: "SELECT sequence, hash, tree IS NOT NULL FROM capsules ORDER BY sequence DESC LIMIT 1",
		insert: "INSERT INTO capsules (id, type, sequence, previous_hash, data, hash, signature, signature_pq, " +
			"signed_at, signed_by, session_id, tree) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
		tree: rowTreeStatements("capsules", "''"),
	}
	tenantTable = table{
		name: "capsule_tenant_chains",
		bit:  hasTenant,
		cols: "id, type, domain, tenant_id, sequence, previous_hash, data, hash, " +
			"signature, signature_pq, signed_at, signed_by, session_id",
		domain:     "domain",
		head:       "SELECT sequence, hash FROM capsule_tenant_chains WHERE tenant_id = ? ORDER BY sequence DESC LIMIT 1",
		appendHead: "SELECT sequence, hash, tree IS NOT NULL FROM capsule_tenant_chains WHERE tenant_id = ? ORDER BY sequence DESC LIMIT 1",
		insert: "INSERT INTO capsule_tenant_chains (id, type, sequence, previous_hash, data, hash, signature, signature_pq, " +
			"signed_at, signed_by, session_id, tree, domain, tenant_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
		tree: rowTreeStatements("capsule_tenant_chains", "tenant_id"),
	}
)

// tableOf returns the table holding tenant's chain.
func tableOf(tenant string) table {
	if tenant == "" {
		return refTable
	}
	return tenantTable
}

// part is a SELECT over one table, restricted to a tenant when the table
// holds several.
type part struct {
	t    table
	cond []string
	args []any
}

// tenantCond restricts a SELECT on the tenant table to one tenant.
const tenantCond = "tenant_id = ?"

// parts returns the SELECTs covering the chains a tenant filter selects.
func parts(tenant *string) []part {
	switch {
	case tenant == nil:
		return []part{{t: refTable}, {t: tenantTable}}
	case *tenant == "":
		return []part{{t: refTable}}
	default:
		return []part{{t: tenantTable, cond: []string{tenantCond}, args: []any{*tenant}}}
	}
}

// parts returns the SELECTs covering the chains a tenant filter selects,
// leaving out the tables the file does not hold (their chains are empty).
func (s *Store) parts(ctx context.Context, tenant *string) ([]part, error) {
	have, err := s.tables(ctx)
	if err != nil {
		return nil, err
	}
	ps := parts(tenant)
	return slices.DeleteFunc(ps, func(p part) bool { return have&p.t.bit == 0 }), nil
}

// where adds a condition with its arguments.
func (p *part) where(cond string, args ...any) {
	p.cond = append(p.cond, cond)
	p.args = append(p.args, args...)
}

// sql returns "SELECT <what> FROM <table> [WHERE ...]" and its arguments.
func (p part) sql(what string) (string, []any) {
	q := "SELECT " + what + " FROM " + p.t.name
	if len(p.cond) > 0 {
		q += " WHERE " + strings.Join(p.cond, " AND ")
	}
	return q, p.args
}

// union joins the SELECTs of records of ps with UNION ALL.
func union(ps []part) (string, []any) {
	var qs []string
	var args []any
	for _, p := range ps {
		q, a := p.sql(p.t.cols)
		qs = append(qs, q)
		args = append(args, a...)
	}
	return strings.Join(qs, " UNION ALL "), args
}

// scanRecord reads a row selected with table.cols.
func scanRecord(row interface{ Scan(...any) error }) (protocol.Sealed, error) {
	var r protocol.Sealed
	var domain, prev, signedAt, signedBy, session sql.NullString
	err := row.Scan(&r.ID, &r.Type, &domain, &r.Tenant, &r.Sequence, &prev, &r.Data, &r.Hash,
		&r.Signature, &r.SignaturePQ, &signedAt, &signedBy, &session)
	if err != nil {
		return protocol.Sealed{}, err
	}
	r.Domain, r.PreviousHash, r.SignedAt, r.SignedBy, r.SessionID = domain.String, prev.String, signedAt.String, signedBy.String, session.String
	if !domain.Valid {
		// The reference table has no domain column: read it from the
		// content, in Go, rather than have SQLite parse the JSON per row.
		r.Domain = topLevelString(r.Data, "domain")
	}
	if r.Data == nil {
		r.Data = []byte{}
	}
	return r, nil
}

// queryRecords runs q and reads every row as a Record.
func (s *Store) queryRecords(ctx context.Context, q string, args ...any) ([]protocol.Sealed, error) {
	return s.queryRecordsMax(ctx, 0, q, args...)
}

// queryRecordsMax runs q and reads its rows as Records until they hold
// maxBytes bytes of Data or more (every row when maxBytes <= 0); SQLite
// reads no row after that.
func (s *Store) queryRecordsMax(ctx context.Context, maxBytes int64, q string, args ...any) ([]protocol.Sealed, error) {
	c, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return rows.Collect(c, maxBytes, func() (protocol.Sealed, error) { return scanRecord(c) })
}

func (s *Store) errClosed(op string) error {
	return fmt.Errorf("sqlite: %s %s: %w", op, s.path, storage.ErrClosed)
}

// nullable maps "" to NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

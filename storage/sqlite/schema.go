package sqlite

import (
	"context"
	"fmt"
)

// The reference table, exactly as the Python reference creates it; SQLite
// stores the text without "IF NOT EXISTS", so a file created here carries
// the same schema as one created there.
const (
	// refColumns are the reference table's columns, which the tenant
	// table starts with.
	refColumns = "\tid VARCHAR(36) NOT NULL,\n" +
		"\ttype VARCHAR(20) NOT NULL,\n" +
		"\tsequence INTEGER NOT NULL,\n" +
		"\tprevious_hash VARCHAR(64),\n" +
		"\tdata TEXT NOT NULL,\n" +
		"\thash VARCHAR(64) NOT NULL,\n" +
		"\tsignature TEXT NOT NULL,\n" +
		"\tsignature_pq TEXT NOT NULL,\n" +
		"\tsigned_at VARCHAR(40),\n" +
		"\tsigned_by VARCHAR(32),\n" +
		"\tsession_id VARCHAR(36),\n"
	refTableDDL = "CREATE TABLE IF NOT EXISTS capsules (\n" +
		refColumns +
		"\tPRIMARY KEY (id),\n" +
		"\tCONSTRAINT uq_capsule_sequence UNIQUE (sequence)\n" +
		")"
	// tenantTableDDL holds the chains of non-null tenants.
	tenantTableDDL = "CREATE TABLE IF NOT EXISTS capsule_tenant_chains (\n" +
		refColumns +
		"\tdomain TEXT NOT NULL,\n" +
		"\ttenant_id TEXT NOT NULL,\n" +
		"\tPRIMARY KEY (id),\n" +
		"\tCONSTRAINT uq_capsule_tenant_sequence UNIQUE (tenant_id, sequence)\n" +
		")"
)

// schema creates the tables and indexes that are missing.
var schema = []string{
	refTableDDL,
	"CREATE INDEX IF NOT EXISTS ix_capsules_sequence ON capsules (sequence)",
	"CREATE INDEX IF NOT EXISTS ix_capsules_hash ON capsules (hash)",
	"CREATE INDEX IF NOT EXISTS ix_capsules_session_id ON capsules (session_id)",
	tenantTableDDL,
	"CREATE INDEX IF NOT EXISTS ix_capsule_tenant_chains_hash ON capsule_tenant_chains (hash)",
	"CREATE INDEX IF NOT EXISTS ix_capsule_tenant_chains_session_id ON capsule_tenant_chains (session_id)",
	// Newest first across tenants (List without a tenant).
	"CREATE INDEX IF NOT EXISTS ix_capsule_tenant_chains_sequence ON capsule_tenant_chains (sequence DESC, tenant_id)",
	typeIndexes[0],
	typeIndexes[1],
	treeTableDDL,
	checkpointTableDDL,
}

// typeIndexes serve a chain's capsules of one type, newest first (List and
// Count with a type filter), reading index entries only instead of every
// row of the chain. They are this package's own, beside the reference's
// schema: the reference never reads them and SQLite keeps them when it
// writes. Open adds them to a file that lacks them.
var typeIndexes = [2]string{
	"CREATE INDEX IF NOT EXISTS ix_capsules_type_sequence ON capsules (type, sequence)",
	"CREATE INDEX IF NOT EXISTS ix_capsule_tenant_chains_type ON capsule_tenant_chains (tenant_id, type, sequence)",
}

// tableSet is a set of the two tables.
type tableSet uint32

const (
	hasRef tableSet = 1 << iota
	hasTenant
	allTables = hasRef | hasTenant
)

// tables returns the tables the file holds. A writable store created both
// at Open; a read-only store looks again while one is missing, since
// another process may create it.
func (s *Store) tables(ctx context.Context) (tableSet, error) {
	have := tableSet(s.present.Load())
	if have == allTables {
		return have, nil
	}
	rows, err := s.r.QueryContext(ctx,
		"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('capsules', 'capsule_tenant_chains')")
	if err != nil {
		return 0, fmt.Errorf("read the schema: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return 0, fmt.Errorf("read the schema: %w", err)
		}
		switch name {
		case refTable.name:
			have |= hasRef
		case tenantTable.name:
			have |= hasTenant
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read the schema: %w", err)
	}
	return tableSet(s.present.Or(uint32(have)) | uint32(have)), nil
}

// createSchema creates the tables, indexes and columns that are missing, under
// the write lock, so that processes opening a new file together agree. A
// file created before the type indexes existed gets them here, once: their
// build holds the write lock for about 3 s per million capsules (measured
// on a loaded 2-core machine), which writers of other processes wait for
// up to their busy timeout.
func (s *Store) createSchema(ctx context.Context) error {
	var n, cols int
	err := s.w.QueryRowContext(ctx,
		"SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('capsules', 'capsule_tenant_chains', "+
			"'capsule_tree', 'capsule_checkpoints') "+
			"OR type = 'index' AND name IN ('ix_capsules_type_sequence', 'ix_capsule_tenant_chains_type')), "+
			"("+refTable.tree.hasColumn+") + ("+tenantTable.tree.hasColumn+")").Scan(&n, &cols)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	if n == 6 && cols == 2 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: create schema: %w", s.path, err)
	}
	defer tx.Rollback()
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: open %s: create schema: %w", s.path, err)
		}
	}
	// The tree column, added to both tables of a file of any version (a
	// new column of NULLs: SQLite rewrites no row). The Python reference
	// names its columns in every statement, so it neither reads the
	// column nor writes it (its rows hold NULL: a tree not built yet).
	for _, t := range []table{refTable, tenantTable} {
		var col int
		if err := tx.QueryRowContext(ctx, t.tree.hasColumn).Scan(&col); err != nil {
			return fmt.Errorf("sqlite: open %s: create schema: %w", s.path, err)
		}
		if col == 0 {
			if _, err := tx.ExecContext(ctx, t.tree.addColumn); err != nil {
				return fmt.Errorf("sqlite: open %s: create schema: %w", s.path, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: open %s: create schema: %w", s.path, err)
	}
	return nil
}

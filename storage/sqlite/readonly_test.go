package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	sqlitedriver "github.com/capsule-go/capsule/storage/sqlite/internal/driver"
	"github.com/capsule-go/capsule/storage/storagetest"
)

const referenceDB = "../../testdata/interop/python-reference/capsules.db"

// openRO opens path read-only and closes it when t ends.
func openRO(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, WithReadOnly())
	if err != nil {
		t.Fatalf("Open read-only: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fileSum returns the SHA-256 of the file at path, hex.
func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// masterOf returns every row of sqlite_master of the file at path, read
// through a connection of its own, closed before returning.
func masterOf(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open(sqlitedriver.Name, "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT type || ' ' || name || ' ' || tbl_name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// journalVersions returns the file format write and read versions of the
// header (bytes 18 and 19): 1 for a rollback journal, 2 for WAL.
func journalVersions(t *testing.T, path string) [2]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return [2]byte{b[18], b[19]}
}

// scan collects tenant's chain from sequence from.
func scan(t *testing.T, s storage.Store, tenant string, from int64) []protocol.Sealed {
	t.Helper()
	var recs []protocol.Sealed
	for r, err := range s.Scan(t.Context(), tenant, from) {
		if err != nil {
			t.Fatalf("Scan(%q, %d): %v", tenant, from, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestReadOnlyContract runs the read-only suite on files a writable store
// keeps in WAL mode and writes meanwhile. Its digest of a file is the bytes
// of the file and its -wal, and the names in the directory.
func TestReadOnlyContract(t *testing.T) {
	storagetest.RunReadOnly(t, storagetest.ReadOnly{
		New: func(t *testing.T) string { return filepath.Join(t.TempDir(), "capsules.db") },
		Open: func(t *testing.T, path string) storage.Store {
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		OpenReadOnly: func(t *testing.T, path string) storage.Store { return openRO(t, path) },
		Digest: func(t *testing.T, path string) string {
			return fileSum(t, path) + " " + fileSum(t, path+"-wal") + " " + strings.Join(dirNames(t, filepath.Dir(path)), " ")
		},
	})
}

// TestReadOnlyReferenceFile reads everything from the file the Python
// reference wrote, which has no tenant table and a rollback journal, and
// checks that not one byte of it changed and nothing appeared beside it.
func TestReadOnlyReferenceFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "capsules.db")
	copyFile(t, referenceDB, path)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	sum, master := fileSum(t, path), masterOf(t, path)
	if got := fileSum(t, referenceDB); got != sum {
		t.Fatalf("the copy differs from the reference file")
	}
	if v := journalVersions(t, path); v != [2]byte{1, 1} {
		t.Fatalf("the reference file's header says versions %v, want a rollback journal", v)
	}
	raw, err := os.ReadFile("../../testdata/interop/python-reference/chain.json")
	if err != nil {
		t.Fatal(err)
	}
	var chain []chainEntry
	if err := json.Unmarshal(raw, &chain); err != nil || len(chain) != 12 {
		t.Fatalf("chain.json: %d capsules, %v", len(chain), err)
	}

	ctx := t.Context()
	s := openRO(t, path)
	head, err := s.Head(ctx, "")
	if err != nil || head != (storage.Head{Sequence: 11, Hash: chain[11].str("hash")}) {
		t.Fatalf("Head = %+v, %v", head, err)
	}
	if h, err := s.Head(ctx, "t1"); err != nil || h != (storage.Head{Sequence: -1}) {
		t.Fatalf("Head of a tenant without a table = %+v, %v; want an empty chain", h, err)
	}
	recs := scan(t, s, "", 0)
	if len(recs) != 12 {
		t.Fatalf("Scan yielded %d capsules, want 12", len(recs))
	}
	for i, r := range recs {
		sum := sha256.Sum256(r.Data)
		if r.ID != chain[i].str("id") || r.Hash != chain[i].str("hash") || r.Sequence != int64(i) ||
			r.Signature != chain[i].str("signature") || r.Domain != "interop" || r.Tenant != "" ||
			hex.EncodeToString(sum[:]) != referenceDataSHA256[i] {
			t.Fatalf("capsule %d differs from chain.json: %+v", i, r)
		}
	}
	if got := scan(t, s, "", 10); !reflect.DeepEqual(got, recs[10:]) {
		t.Fatalf("Scan from 10 yielded %d capsules", len(got))
	}
	if got := scan(t, s, "t1", 0); len(got) != 0 {
		t.Fatalf("Scan of a tenant without a table yielded %d capsules", len(got))
	}
	got, err := s.Get(ctx, chain[10].str("id"), nil)
	if err != nil || !reflect.DeepEqual(got, recs[10]) {
		t.Fatalf("Get of capsule 10 = %+v, %v", got, err)
	}
	if got, err := s.Get(ctx, chain[3].str("id"), new("")); err != nil || got.Sequence != 3 {
		t.Fatalf("Get in the null tenant = %d, %v", got.Sequence, err)
	}
	if _, err := s.Get(ctx, "00001234", nil); !errors.Is(err, storage.ErrAmbiguous) {
		t.Fatalf("Get by a shared prefix: %v, want ErrAmbiguous", err)
	}
	if _, err := s.Get(ctx, chain[10].str("id"), new("t1")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get in a tenant without a table: %v, want ErrNotFound", err)
	}
	if got, err := s.GetByHash(ctx, chain[5].str("hash"), nil); err != nil || !reflect.DeepEqual(got, recs[5]) {
		t.Fatalf("GetByHash of capsule 5 = %+v, %v", got, err)
	}
	if _, err := s.GetByHash(ctx, chain[5].str("hash"), new("t1")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetByHash in a tenant without a table: %v, want ErrNotFound", err)
	}
	list, err := s.List(ctx, storage.Filter{})
	if err != nil || len(list) != 12 || list[0].Sequence != 11 || list[11].Sequence != 0 {
		t.Fatalf("List = %d records, %v", len(list), err)
	}
	if list, err := s.List(ctx, storage.Filter{Tenant: new("t1")}); err != nil || len(list) != 0 {
		t.Fatalf("List of a tenant without a table = %d records, %v", len(list), err)
	}
	if list, err := s.List(ctx, storage.Filter{Limit: 2, Offset: 1}); err != nil || !reflect.DeepEqual(list, []protocol.Sealed{recs[10], recs[9]}) {
		t.Fatalf("List limit 2 offset 1 = %d records, %v", len(list), err)
	}
	for _, c := range []struct {
		f    storage.Filter
		want int64
	}{
		{storage.Filter{}, 12},
		{storage.Filter{Tenant: new("")}, 12},
		{storage.Filter{Domain: "interop", Type: "tool"}, 3},
		{storage.Filter{Tenant: new("t1")}, 0},
	} {
		if n, err := s.Count(ctx, c.f); err != nil || n != c.want {
			t.Fatalf("Count(%+v) = %d, %v; want %d", c.f, n, err, c.want)
		}
	}
	if tenants, err := s.Tenants(ctx); err != nil || !reflect.DeepEqual(tenants, []string{""}) {
		t.Fatalf("Tenants = %q, %v", tenants, err)
	}
	storagetest.CheckAppendRefused(t, s, head)
	// The connections refuse writes too.
	if _, err := s.r.ExecContext(ctx, "CREATE TABLE capsule_tenant_chains (id TEXT)"); err == nil {
		t.Fatal("a read-only connection ran DDL")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if got := fileSum(t, path); got != sum {
		t.Fatalf("the file changed: sha256 %s, was %s", got, sum)
	}
	if got := masterOf(t, path); !reflect.DeepEqual(got, master) {
		t.Fatalf("sqlite_master changed:\n%q\nwas\n%q", got, master)
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"capsules.db"}) {
		t.Fatalf("the directory holds %q, want only capsules.db (no journal, -wal or -shm)", names)
	}
}

// TestReadOnlyMissingFile checks that a missing file is an error and that
// nothing is created: neither the file nor its directory.
func TestReadOnlyMissingFile(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{
		filepath.Join(dir, "capsules.db"),
		filepath.Join(dir, "a", "b", "capsules.db"),
	} {
		s, err := Open(t.Context(), path, WithReadOnly())
		if err == nil {
			s.Close()
			t.Fatalf("Open read-only of missing %s succeeded", path)
		}
		if want := "sqlite: open " + path + ": no such database file"; err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("error %v does not match fs.ErrNotExist", err)
		}
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("Open read-only created %q", names)
	}

	// Neither a directory nor a file that is not a database opens, and the
	// file is left as it was.
	if s, err := Open(t.Context(), dir, WithReadOnly()); err == nil {
		s.Close()
		t.Fatal("Open read-only of a directory succeeded")
	}
	text := filepath.Join(dir, "notes.txt")
	content := []byte("this is not a database, but it is long enough to hold a header: 0123456789abcdef\n")
	if err := os.WriteFile(text, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), text, WithReadOnly()); err == nil {
		s.Close()
		t.Fatal("Open read-only of a text file succeeded")
	}
	if b, err := os.ReadFile(text); err != nil || string(b) != string(content) {
		t.Fatalf("the text file changed: %q, %v", b, err)
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"notes.txt"}) {
		t.Fatalf("the directory holds %q", names)
	}
}

// TestReadOnlyMissingTables reads files lacking one or both tables: a
// missing table is an empty chain, never an error.
func TestReadOnlyMissingTables(t *testing.T) {
	ctx := t.Context()
	t.Run("EmptyFile", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "capsules.db")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		s := openRO(t, path)
		storagetest.CheckEmpty(t, s)
		storagetest.CheckAppendRefused(t, s, storage.Head{Sequence: -1})
		s.Close()
		if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
			t.Fatalf("the empty file changed: %v, %v", fi, err)
		}
		if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"capsules.db"}) {
			t.Fatalf("the directory holds %q", names)
		}
	})

	t.Run("NoReferenceTable", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "capsules.db")
		w, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		null := storagetest.Chain("", storage.Head{Sequence: -1}, 2)
		tenant := storagetest.Chain("t", storage.Head{Sequence: -1}, 3)
		if err := w.Append(ctx, "", null); err != nil {
			t.Fatal(err)
		}
		if err := w.Append(ctx, "t", tenant); err != nil {
			t.Fatal(err)
		}
		w.Close()
		db, err := sql.Open(sqlitedriver.Name, "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"DROP TABLE capsules", "PRAGMA journal_mode = DELETE"} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		db.Close()
		sum := fileSum(t, path)

		s := openRO(t, path)
		if h, err := s.Head(ctx, ""); err != nil || h != (storage.Head{Sequence: -1}) {
			t.Fatalf("Head of the null tenant without its table = %+v, %v", h, err)
		}
		if h, err := s.Head(ctx, "t"); err != nil || h != (storage.Head{Sequence: 2, Hash: tenant[2].Hash}) {
			t.Fatalf("Head(t) = %+v, %v", h, err)
		}
		if recs := scan(t, s, "", 0); len(recs) != 0 {
			t.Fatalf("Scan of the null tenant yielded %d records", len(recs))
		}
		if recs := scan(t, s, "t", 1); !reflect.DeepEqual(recs, tenant[1:]) {
			t.Fatalf("Scan(t, 1) = %d records", len(recs))
		}
		if tenants, err := s.Tenants(ctx); err != nil || !reflect.DeepEqual(tenants, []string{"t"}) {
			t.Fatalf("Tenants = %q, %v", tenants, err)
		}
		if n, err := s.Count(ctx, storage.Filter{}); err != nil || n != 3 {
			t.Fatalf("Count = %d, %v; want 3", n, err)
		}
		if n, err := s.Count(ctx, storage.Filter{Tenant: new("")}); err != nil || n != 0 {
			t.Fatalf("Count of the null tenant = %d, %v; want 0", n, err)
		}
		list, err := s.List(ctx, storage.Filter{})
		if err != nil || !reflect.DeepEqual(list, []protocol.Sealed{tenant[2], tenant[1], tenant[0]}) {
			t.Fatalf("List = %d records, %v", len(list), err)
		}
		if _, err := s.Get(ctx, null[0].ID, nil); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get of a dropped capsule: %v, want ErrNotFound", err)
		}
		if got, err := s.Get(ctx, tenant[0].ID[:30], nil); err != nil || !reflect.DeepEqual(got, tenant[0]) {
			t.Fatalf("Get by prefix = %+v, %v", got, err)
		}
		if _, err := s.GetByHash(ctx, null[1].Hash, new("")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetByHash of a dropped capsule: %v, want ErrNotFound", err)
		}
		s.Close()
		if got := fileSum(t, path); got != sum {
			t.Fatal("the file changed")
		}
		if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"capsules.db"}) {
			t.Fatalf("the directory holds %q", names)
		}
	})
}

// TestReadOnlyFollowsWriter reads a file while a writable store writes it.
func TestReadOnlyFollowsWriter(t *testing.T) {
	ctx := t.Context()
	t.Run("ReferenceFileTurnsWAL", func(t *testing.T) {
		// The read-only store opens the reference file, without a tenant
		// table; a writer then adds the table, switches the file to WAL
		// and appends. The reader sees it all.
		path := filepath.Join(t.TempDir(), "capsules.db")
		copyFile(t, referenceDB, path)
		r := openRO(t, path)
		head, err := r.Head(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if tenants, err := r.Tenants(ctx); err != nil || !reflect.DeepEqual(tenants, []string{""}) {
			t.Fatalf("Tenants = %q, %v", tenants, err)
		}
		w, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		next := storagetest.Chain("", head, 1)
		t1 := storagetest.Chain("t1", storage.Head{Sequence: -1}, 2)
		if err := w.Append(ctx, "", next); err != nil {
			t.Fatal(err)
		}
		if err := w.Append(ctx, "t1", t1); err != nil {
			t.Fatal(err)
		}
		if v := journalVersions(t, path); v != [2]byte{2, 2} {
			t.Fatalf("the writer left header versions %v, want WAL", v)
		}
		if h, err := r.Head(ctx, ""); err != nil || h != (storage.Head{Sequence: 12, Hash: next[0].Hash}) {
			t.Fatalf("Head after the writer = %+v, %v", h, err)
		}
		if h, err := r.Head(ctx, "t1"); err != nil || h != (storage.Head{Sequence: 1, Hash: t1[1].Hash}) {
			t.Fatalf("Head(t1) after the writer = %+v, %v", h, err)
		}
		if tenants, err := r.Tenants(ctx); err != nil || !reflect.DeepEqual(tenants, []string{"", "t1"}) {
			t.Fatalf("Tenants after the writer = %q, %v", tenants, err)
		}
		if n, err := r.Count(ctx, storage.Filter{}); err != nil || n != 15 {
			t.Fatalf("Count after the writer = %d, %v; want 15", n, err)
		}
		storagetest.CheckChain(ctx, t, r, "t1", 2)
	})
}

// TestReadOnlyWALFile reads a file in WAL mode that no writer has open:
// the main file keeps every byte and stays in WAL mode. SQLite creates the
// -wal and -shm files a WAL reader needs, but writes no frame.
func TestReadOnlyWALFile(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "capsules.db")
	w, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	chain := storagetest.Chain("x", storage.Head{Sequence: -1}, 5)
	if err := w.Append(ctx, "x", chain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// The last connection checkpointed and removed the -wal and -shm.
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"capsules.db"}) {
		t.Fatalf("after the writer closed the directory holds %q", names)
	}
	sum := fileSum(t, path)

	r := openRO(t, path)
	if got := storagetest.CheckChain(ctx, t, r, "x", 5); !reflect.DeepEqual(got, chain) {
		t.Fatal("the chain read back differs")
	}
	if tenants, err := r.Tenants(ctx); err != nil || !reflect.DeepEqual(tenants, []string{"x"}) {
		t.Fatalf("Tenants = %q, %v", tenants, err)
	}
	storagetest.CheckAppendRefused(t, r, storage.Head{Sequence: -1})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileSum(t, path); got != sum {
		t.Fatal("the WAL file changed")
	}
	if v := journalVersions(t, path); v != [2]byte{2, 2} {
		t.Fatalf("header versions %v after reading, want WAL (2, 2)", v)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Fatalf("the reader wrote %d bytes of WAL", fi.Size())
	}
	for _, name := range dirNames(t, dir) {
		if !slices.Contains([]string{"capsules.db", "capsules.db-wal", "capsules.db-shm"}, name) {
			t.Fatalf("the reader created %s", name)
		}
	}

	// Without a -shm file that can be opened, a WAL file cannot be read;
	// the error says why. (A symbolic link stands for a directory the
	// reader cannot write: SQLite opens the -shm without following links.)
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), path+"-shm"); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path, WithReadOnly())
	if err == nil {
		s.Close()
		t.Fatal("Open read-only of a WAL file without a usable -shm succeeded")
	}
	if !strings.Contains(err.Error(), "the file is in WAL mode") || !strings.HasPrefix(err.Error(), "sqlite: open "+path+": ") {
		t.Fatalf("error %q does not explain the WAL requirement", err)
	}
	if got := fileSum(t, path); got != sum {
		t.Fatal("the WAL file changed")
	}
}

// TestReadOnlyConnections checks the two locks of the connections.
func TestReadOnlyConnections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capsules.db")
	copyFile(t, referenceDB, path)
	sum := fileSum(t, path)
	s := openRO(t, path)
	conn, err := s.r.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var q int
	if err := conn.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&q); err != nil || q != 1 {
		t.Fatalf("query_only = %d, %v; want 1", q, err)
	}
	// Lifting query_only leaves the file opened read-only (mode=ro).
	if _, err := conn.ExecContext(t.Context(), "PRAGMA query_only = 0"); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(t.Context(), "CREATE TABLE x (a)")
	if code, _ := sqlitedriver.Code(err); sqlitedriver.Primary(code) != sqlitedriver.ReadOnly {
		t.Fatalf("DDL on a connection without query_only: %v, want SQLITE_READONLY", err)
	}
	conn.Raw(func(any) error { return driver.ErrBadConn }) // discard the connection
	conn.Close()
	if got := fileSum(t, path); got != sum {
		t.Fatal("the file changed")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

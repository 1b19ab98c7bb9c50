package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
	sqlitedriver "github.com/capsule-go/capsule/storage/sqlite/internal/driver"
	"github.com/capsule-go/capsule/storage/storagetest"
)

// openTemp opens a store on a new file in a temporary directory.
func openTemp(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capsules.db")
	s, err := Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := openTemp(t)
		return s
	})
}

func TestContractSynchronousNormal(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := openTemp(t, WithSynchronous(SynchronousNormal))
		return s
	})
}

// rawDB opens path directly, to look at what the store wrote.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open(sqlitedriver.Name, "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// schemaOf returns sqlite_master's rows for the reference table.
func schemaOf(t *testing.T, path string) []string {
	t.Helper()
	rows, err := rawDB(t, path).Query("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master WHERE tbl_name = 'capsules' ORDER BY name")
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

// referenceSchema is sqlite_master for the table of the Python reference,
// as in testdata/interop/python-reference/capsules.db, with what this
// package adds to it: the column tree (", tree BLOB", where SQLite's ALTER
// TABLE ADD COLUMN puts it in the stored text) and an index.
var referenceSchema = []string{
	"table capsules CREATE TABLE capsules (\n\tid VARCHAR(36) NOT NULL,\n\ttype VARCHAR(20) NOT NULL,\n\tsequence INTEGER NOT NULL,\n\tprevious_hash VARCHAR(64),\n\tdata TEXT NOT NULL,\n\thash VARCHAR(64) NOT NULL,\n\tsignature TEXT NOT NULL,\n\tsignature_pq TEXT NOT NULL,\n\tsigned_at VARCHAR(40),\n\tsigned_by VARCHAR(32),\n\tsession_id VARCHAR(36)" + addedTreeColumn + ",\n\tPRIMARY KEY (id),\n\tCONSTRAINT uq_capsule_sequence UNIQUE (sequence)\n)",
	"index ix_capsules_hash CREATE INDEX ix_capsules_hash ON capsules (hash)",
	"index ix_capsules_sequence CREATE INDEX ix_capsules_sequence ON capsules (sequence)",
	"index ix_capsules_session_id CREATE INDEX ix_capsules_session_id ON capsules (session_id)",
	// Not the reference's: serves a type filter (List, Count); Open adds
	// it to a file that lacks it.
	"index ix_capsules_type_sequence CREATE INDEX ix_capsules_type_sequence ON capsules (type, sequence)",
	"index sqlite_autoindex_capsules_1 ",
	"index sqlite_autoindex_capsules_2 ",
}

// addedTreeColumn is what adding the column tree adds to the stored text of
// the reference's CREATE TABLE.
const addedTreeColumn = ", tree BLOB"

// writtenByReference is referenceSchema as the Python reference writes
// it: without this package's column and index.
func writtenByReference() []string {
	schema := slices.DeleteFunc(slices.Clone(referenceSchema), func(s string) bool { return strings.Contains(s, "ix_capsules_type_sequence") })
	schema[0] = strings.Replace(schema[0], addedTreeColumn, "", 1)
	return schema
}

// referenceDataSHA256 is the SHA-256 of the data column of each capsule of
// the reference file, computed with Python's sqlite3 module.
var referenceDataSHA256 = []string{
	"97cb9dddafb858c53c115d77b640dac14313d401684d9c3f8b91fe9093b7c129",
	"f1400bd9f15e10bdcc68ccd29eeabe7c804530cceefce9ba71822684978f4258",
	"e84a0f7902ccfbe9658e769cf693925ae682c1b4ed12a45cea9a669a680f1e43",
	"6774175a4aedff08166167ed65a5b906833149e99f53c79a184c719f5b9364e0",
	"6e64898d3f3ce5eb7dbfaf20a04995dfd6269eea8ac10ab1486d69ca4fd96a6e",
	"effd9a4f9451a15dd6b4dfaa517a243c5e5e4e73a530d91ce7bdd703dcaff58f",
	"f5a53e66dd5017ab108a4688215d55f234e596d749811619c47521c5a8ef1e96",
	"61ba7d26028ea4baa9a92b19de07eb3b8a7ad4b461ef9583c377350fe63bd0a6",
	"96c9ac08ef51f9569a704401d82f796bf0779d9490724a2d95912765ed7ae0a9",
	"72112d1d6f1d6bea446aaf520f7d1aa2e1a69a2473eaf3e4d26fbf3d20ebccda",
	"1351a0cc4a1288bdb4c44faf8025d2af9ab6588f9918534eadd96d8fb6228f06",
	"b06042c63d23575b3d35f8e0d664b0c9783189a5ff11ba1f9a5bba91d6f0da36",
}

func TestFreshFileHasReferenceSchema(t *testing.T) {
	s, path := openTemp(t)
	s.Close()
	got := schemaOf(t, path)
	if !reflect.DeepEqual(got, referenceSchema) {
		t.Fatalf("schema of a new file:\n%q\nwant\n%q", got, referenceSchema)
	}
	var mode string
	if err := rawDB(t, path).QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	if got := pageSizeOf(t, path); got != pageSize {
		t.Fatalf("page size of a new file = %d, want %d", got, pageSize)
	}
}

// pageSizeOf reads the page size from the header of the database file at
// path (bytes 16-17, big-endian; 1 means 65536).
func pageSizeOf(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [18]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		t.Fatal(err)
	}
	if n := int(h[16])<<8 | int(h[17]); n != 1 {
		return n
	}
	return 65536
}

// chainEntry is one sealed capsule of chain.json.
type chainEntry map[string]any

func (e chainEntry) str(key string) string {
	s, _ := e[key].(string)
	return s
}

func TestPythonReferenceFile(t *testing.T) {
	const ref = "../../testdata/interop/python-reference"
	path := filepath.Join(t.TempDir(), "capsules.db")
	copyFile(t, filepath.Join(ref, "capsules.db"), path)
	refPageSize := pageSizeOf(t, path)
	written := writtenByReference()
	if got := schemaOf(t, path); !reflect.DeepEqual(got, written) {
		t.Fatalf("schema of the reference file:\n%q\nwant\n%q", got, written)
	}
	raw, err := os.ReadFile(filepath.Join(ref, "chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	var chain []chainEntry
	if err := json.Unmarshal(raw, &chain); err != nil {
		t.Fatal(err)
	}
	if len(chain) != 12 {
		t.Fatalf("chain.json holds %d capsules, want 12", len(chain))
	}

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	var recs []protocol.Sealed
	for r, err := range s.Scan(t.Context(), "", 0) {
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 12 {
		t.Fatalf("Scan yielded %d capsules, want 12", len(recs))
	}
	for i, r := range recs {
		want := chain[i]
		ctxSection, _ := want["context"].(map[string]any)
		session, _ := ctxSection["session_id"].(string)
		wantRec := protocol.Sealed{
			ID: want.str("id"), Type: want.str("type"), Domain: want.str("domain"), Tenant: "",
			Sequence: int64(i), PreviousHash: want.str("previous_hash"), SessionID: session,
			Data: r.Data, Hash: want.str("hash"), Signature: want.str("signature"),
			SignaturePQ: want.str("signature_pq"), SignedAt: want.str("signed_at"), SignedBy: want.str("signed_by"),
		}
		if !reflect.DeepEqual(r, wantRec) {
			t.Fatalf("capsule %d:\ngot  %+v\nwant %+v", i, r, wantRec)
		}
		if r.Domain != "interop" || r.SignedBy != "qp_key_ceef" || len(r.Signature) != 128 {
			t.Fatalf("capsule %d: domain %q, signed_by %q, signature of %d chars", i, r.Domain, r.SignedBy, len(r.Signature))
		}
		sum := sha256.Sum256(r.Data)
		if got := hex.EncodeToString(sum[:]); got != referenceDataSHA256[i] {
			t.Fatalf("capsule %d: data bytes changed: sha256 %s, want %s", i, got, referenceDataSHA256[i])
		}
		// The content is chain.json's capsule without the seal.
		var content map[string]any
		if err := json.Unmarshal(r.Data, &content); err != nil {
			t.Fatalf("capsule %d: data: %v", i, err)
		}
		sealed := map[string]any{}
		for k, v := range want {
			sealed[k] = v
		}
		for _, k := range []string{"hash", "signature", "signature_pq", "signed_at", "signed_by"} {
			delete(sealed, k)
		}
		if !reflect.DeepEqual(content, sealed) {
			t.Fatalf("capsule %d: data differs from chain.json", i)
		}
	}
	head, err := s.Head(t.Context(), "")
	if err != nil || head != (storage.Head{Sequence: 11, Hash: recs[11].Hash}) {
		t.Fatalf("Head = %+v, %v", head, err)
	}
	got, err := s.Get(t.Context(), "00001234-0000-4000-8000-00000000000a", nil)
	if err != nil || got.Sequence != 10 {
		t.Fatalf("Get of capsule 10 = %d, %v", got.Sequence, err)
	}
	_, err = s.Get(t.Context(), "00001234", nil)
	if !errors.Is(err, storage.ErrAmbiguous) {
		t.Fatalf("Get by a shared prefix: %v, want ErrAmbiguous", err)
	}
	n, err := s.Count(t.Context(), storage.Filter{Domain: "interop", Type: "tool"})
	if err != nil || n != 3 {
		t.Fatalf("Count(domain interop, type tool) = %d, %v; want 3", n, err)
	}

	// A 13th capsule, then a tenant chain beside the reference table.
	next := storagetest.NewRecord("", 12, head.Hash)
	if err := s.Append(t.Context(), "", []protocol.Sealed{next}); err != nil {
		t.Fatalf("Append of capsule 12: %v", err)
	}
	if err := s.Append(t.Context(), "t1", storagetest.Chain("t1", storage.Head{Sequence: -1}, 2)); err != nil {
		t.Fatalf("Append to tenant t1: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	recs2 := storagetest.CheckChain(t.Context(), t, s2, "", 13)
	if !reflect.DeepEqual(recs2[:12], recs) || !reflect.DeepEqual(recs2[12], next) {
		t.Fatal("the reopened chain differs")
	}
	if got := schemaOf(t, path); !reflect.DeepEqual(got, referenceSchema) {
		t.Fatalf("schema of the reference table after writing:\n%q\nwant\n%q", got, referenceSchema)
	}
	if got := pageSizeOf(t, path); got != refPageSize || got == pageSize {
		t.Fatalf("page size of the reference's file after writing = %d, want its own %d (not ours, %d)", got, refPageSize, pageSize)
	}
	// The reference's 12 rows hold no tree: the 13th append caught it up.
	storagetest.CheckTree(t.Context(), t, s2, "", recs2)
	// The reference reads the row it would have written: TEXT columns, NULL
	// session and previous hash only where it writes NULL.
	var typ, prevType string
	err = rawDB(t, path).QueryRow("SELECT typeof(data), typeof(previous_hash) FROM capsules WHERE sequence = 12").Scan(&typ, &prevType)
	if err != nil || typ != "text" || prevType != "text" {
		t.Fatalf("stored types: data %s, previous_hash %s, %v", typ, prevType, err)
	}
}

// referenceColumns are the columns the Python reference names in its
// INSERTs and SELECTs (SQLAlchemy's, from its model): all but ours.
const referenceColumns = "id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id"

// The Python reference, writing to a file of ours, names its eleven
// columns, as SQLAlchemy does, and leaves the column tree NULL: its rows
// read back as it wrote them, their tree is caught up (by GrowTree, or by
// the next append), and its SELECT of its eleven columns reads every row.
func TestReferenceRowsInOurFile(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	recs := storagetest.AppendChain(t, s, "", nil, 5, 2)
	db, err := sql.Open(sqlitedriver.Name, "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	insert := func(n int) {
		t.Helper()
		last := recs[len(recs)-1]
		for _, r := range storagetest.Chain("", storage.Head{Sequence: last.Sequence, Hash: last.Hash}, n) {
			_, err := db.ExecContext(ctx, "INSERT INTO capsules ("+referenceColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				r.ID, r.Type, r.Sequence, r.PreviousHash, string(r.Data), r.Hash, r.Signature, r.SignaturePQ,
				r.SignedAt, r.SignedBy, nullable(r.SessionID))
			if err != nil {
				t.Fatalf("the reference's INSERT: %v", err)
			}
			recs = append(recs, r)
		}
	}
	insert(3)
	if got := storagetest.CheckChain(ctx, t, s, "", len(recs)); !reflect.DeepEqual(got, recs) {
		t.Fatal("the chain with the reference's rows reads back otherwise")
	}
	if n, err := s.TreeSize(ctx, ""); err != nil || n != 5 {
		t.Fatalf("tree size with the reference's rows: %d, %v; want 5", n, err)
	}
	if n, err := s.GrowTree(ctx, "", 100); err != nil || n != int64(len(recs)) {
		t.Fatalf("GrowTree: %d, %v; want %d", n, err, len(recs))
	}
	storagetest.CheckTree(ctx, t, s, "", recs)
	insert(4)
	recs = storagetest.AppendChain(t, s, "", recs, 2, 1)
	if n, err := s.TreeSize(ctx, ""); err != nil || n != int64(len(recs)) {
		t.Fatalf("tree size after an append over the reference's rows: %d, %v; want %d", n, err, len(recs))
	}
	storagetest.CheckTree(ctx, t, s, "", recs)

	rows, err := db.QueryContext(ctx, "SELECT "+referenceColumns+" FROM capsules ORDER BY sequence")
	if err != nil {
		t.Fatalf("the reference's SELECT: %v", err)
	}
	defer rows.Close()
	var n int
	for ; rows.Next(); n++ {
		var r protocol.Sealed
		var data string
		var prev, session sql.NullString
		if err := rows.Scan(&r.ID, &r.Type, &r.Sequence, &prev, &data, &r.Hash, &r.Signature, &r.SignaturePQ,
			&r.SignedAt, &r.SignedBy, &session); err != nil {
			t.Fatalf("the reference's SELECT: %v", err)
		}
		want := recs[n]
		r.Tenant, r.Domain, r.PreviousHash, r.SessionID, r.Data = want.Tenant, want.Domain, prev.String, session.String, []byte(data)
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("the reference's SELECT of row %d:\ngot  %+v\nwant %+v", n, r, want)
		}
	}
	if err := rows.Err(); err != nil || n != len(recs) {
		t.Fatalf("the reference's SELECT read %d rows, want %d (%v)", n, len(recs), err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNullColumns(t *testing.T) {
	s, path := openTemp(t)
	r := storagetest.NewRecord("", 0, "")
	r.SessionID = ""
	if err := s.Append(t.Context(), "", []protocol.Sealed{r}); err != nil {
		t.Fatal(err)
	}
	var prev, session, data string
	err := rawDB(t, path).QueryRow("SELECT typeof(previous_hash), typeof(session_id), data FROM capsules").Scan(&prev, &session, &data)
	if err != nil {
		t.Fatal(err)
	}
	if prev != "null" || session != "null" || data != string(r.Data) {
		t.Fatalf("genesis stored previous_hash %s, session_id %s, data %q", prev, session, data)
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b?c#d%20e")
	path := filepath.Join(dir, "capsules.db")
	s, err := Open(t.Context(), path, WithBusyTimeout(time.Second))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, want 0700", fi.Mode().Perm())
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the path given: %v", err)
	}
	if err := s.Append(t.Context(), "", storagetest.Chain("", storage.Head{Sequence: -1}, 1)); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if s, err := Open(t.Context(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
	if s, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), WithSynchronous(Synchronous(7))); err == nil {
		s.Close()
		t.Error("Open with an invalid synchronous setting succeeded")
	}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), filepath.Join(notDir, "x.db")); err == nil {
		s.Close()
		t.Error("Open under a regular file succeeded")
	}
}

func TestSynchronousSetting(t *testing.T) {
	for _, c := range []struct {
		opts []Option
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{nil, 2}, {[]Option{WithSynchronous(SynchronousNormal)}, 1}, {[]Option{WithSynchronous(SynchronousFull)}, 2}} {
		s, _ := openTemp(t, c.opts...)
		var got int
		if err := s.w.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("synchronous = %d, want %d", got, c.want)
		}
	}
}

// TestBusy holds the write lock from another connection: an Append waits
// for the busy timeout, then fails without ErrConflict.
func TestBusy(t *testing.T) {
	s, path := openTemp(t, WithBusyTimeout(200*time.Millisecond))
	other, err := sql.Open(sqlitedriver.Name, "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	start := time.Now()
	err = s.Append(t.Context(), "", storagetest.Chain("", storage.Head{Sequence: -1}, 1))
	if err == nil || errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Append while another connection writes: %v, want a busy error", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("Append gave up after %v, before the busy timeout", d)
	}
	// Reads do not wait for the writer.
	if _, err := s.Head(t.Context(), ""); err != nil {
		t.Fatalf("Head while another connection writes: %v", err)
	}
	tx.Rollback()
	if err := s.Append(t.Context(), "", storagetest.Chain("", storage.Head{Sequence: -1}, 1)); err != nil {
		t.Fatalf("Append after the lock is released: %v", err)
	}
}

// TestUniqueViolation maps the constraints of the tables, which another
// writer may hit without the head check: a taken sequence is a conflict, a
// taken id is not.
func TestUniqueViolation(t *testing.T) {
	s, _ := openTemp(t)
	for _, tenant := range []string{"", "x"} {
		chain := storagetest.Chain(tenant, storage.Head{Sequence: -1}, 2)
		if err := s.Append(t.Context(), tenant, chain); err != nil {
			t.Fatal(err)
		}
		tbl := tableOf(tenant)
		insert := func(r protocol.Sealed) error {
			args := []any{r.ID, r.Type, r.Sequence, nullable(r.PreviousHash), string(r.Data), r.Hash,
				r.Signature, r.SignaturePQ, r.SignedAt, r.SignedBy, nullable(r.SessionID), nil, r.Domain, tenant}
			_, err := s.w.ExecContext(t.Context(), tbl.insert, args[:strings.Count(tbl.insert, "?")]...)
			return s.insertErr(tenant, r, err)
		}
		err := insert(storagetest.NewRecord(tenant, 1, chain[0].Hash))
		if !errors.Is(err, storage.ErrConflict) {
			t.Errorf("tenant %q: taken sequence: %v, want ErrConflict", tenant, err)
		}
		dup := storagetest.NewRecord(tenant, 2, chain[1].Hash)
		dup.ID = chain[0].ID
		err = insert(dup)
		if err == nil || errors.Is(err, storage.ErrConflict) || !strings.Contains(err.Error(), "already stored") {
			t.Errorf("tenant %q: taken id: %v, want a duplicate id error", tenant, err)
		}
	}
}

// TestMultiProcess runs the contract's multi-process test on one file,
// with children of both drivers: this test binary and a build of this
// package with the other cgo setting (pure Go when this one uses cgo), so
// a file written through either driver is read and appended to through
// the other, by concurrent writers.
func TestMultiProcess(t *testing.T) {
	p := storagetest.Processes{
		Open:     func(ctx context.Context, path string) (storage.Store, error) { return Open(ctx, path) },
		New:      func(t *testing.T) string { return filepath.Join(t.TempDir(), "shared", "capsules.db") },
		DropTree: func(s storage.Store, tenant string) error { return dropTree(s.(*Store), tenant) },
	}
	if os.Getenv("CAPSULE_STORAGETEST_CHILD_LOCATION") == "" && !testing.Short() {
		p.Binaries = []string{os.Args[0], otherDriverBinary(t)}
	}
	storagetest.MultiProcess(t, p)
}

// otherDriverBinary builds this package's tests with the other driver: with
// CGO_ENABLED=0 when this binary uses cgo, and with cgo otherwise.
func otherDriverBinary(t *testing.T) string {
	cgo := "0"
	if sqlitedriver.PureGo {
		cgo = "1"
	}
	bin := filepath.Join(t.TempDir(), "sqlite-other-driver.test")
	cmd := exec.CommandContext(t.Context(), "go", "test", "-c", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the tests with CGO_ENABLED=%s: %v\n%s", cgo, err, out)
	}
	return bin
}

func BenchmarkAppend(b *testing.B) {
	storagetest.BenchmarkAppend(b, func(b *testing.B) storage.Store {
		s, _ := openTemp(b)
		return s
	})
}

// A database file removed while open is noticed: SQLite would write into
// the unlinked file and the capsules would be lost.
func TestAppendRefusesRemovedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db", "capsules.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := storagetest.AppendRetry(t.Context(), s, "", 1); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	_, err = storagetest.AppendRetry(t.Context(), s, "", 1)
	if !errors.Is(err, ErrFileGone) {
		t.Fatalf("append after removal: %v, want ErrFileGone", err)
	}
}

// The WAL stays bounded under sustained appends: checkpoints keep up, so
// disk use follows the database, not the number of commits.
func TestWALStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 25,000 records")
	}
	p := filepath.Join(t.TempDir(), "capsules.db")
	s, err := Open(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	head := storage.Head{Sequence: -1}
	for range 400 {
		recs := storagetest.Chain("", head, 64)
		head = storage.Head{Sequence: recs[63].Sequence, Hash: recs[63].Hash}
		if err := s.Append(t.Context(), "", recs); err != nil {
			t.Fatal(err)
		}
	}
	wal, err := os.Stat(p + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint threshold (64 MB of pages) plus the batch that crossed it.
	if wal.Size() > 80<<20 {
		t.Fatalf("WAL grew to %d MB after 25,600 records", wal.Size()>>20)
	}
}

func TestTopLevelString(t *testing.T) {
	for _, c := range []struct{ data, want string }{
		{`{"domain":"agents"}`, "agents"},
		{`{"id": "x", "type": "agent", "domain": "interop", "trigger": {"domain": "nested"}}`, "interop"},
		{`{"trigger":{"domain":"nested"},"domain":"top"}`, "top"},
		{`{"a":[1,{"domain":"x"}],"b":"},\"domain\":\"y","domain":"z"}`, "z"},
		{"{\n\t\"domain\" :\r\n \"spaced\"\n}", "spaced"},
		{`{"domain":"esc\"aped\u00e9"}`, "esc\"apedé"},
		{`{"domain":5}`, ""},
		{`{"domain":null}`, ""},
		{`{"other":"x"}`, ""},
		{`[{"domain":"x"}]`, ""},
		{`not json`, ""},
		{``, ""},
		{`{"domain":"unterminated`, ""},
	} {
		if got := topLevelString([]byte(c.data), "domain"); got != c.want {
			t.Errorf("topLevelString(%q) = %q, want %q", c.data, got, c.want)
		}
	}
}

// An id prefix is served from the primary key of each table, never by
// walking a tenant's chain: EXPLAIN QUERY PLAN of Get's query, for every
// tenant filter, searches the id range and nothing else.
func TestGetPrefixUsesPrimaryKey(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "capsules.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tn := range []string{"", "acme"} {
		if _, err := storagetest.AppendRetry(t.Context(), s, tn, 64); err != nil {
			t.Fatal(err)
		}
	}
	for _, tenant := range []*string{nil, new(""), func() *string { s := "acme"; return &s }()} {
		for _, id := range []string{"ab12", "0c4e5a1b-89aa-4c1e-b2f0-123456789abc"} {
			ps, err := s.parts(t.Context(), tenant)
			if err != nil {
				t.Fatal(err)
			}
			q, args := getQuery(ps, id)
			label := "every tenant"
			if tenant != nil {
				label = "tenant " + *tenant
			}
			var plan []string
			for _, detail := range explainPlan(t, s, q, args) {
				if strings.HasPrefix(detail, "SEARCH") || strings.HasPrefix(detail, "SCAN") {
					plan = append(plan, detail)
				}
			}
			want := "(id>? AND id<?)"
			if len(id) == idLen {
				want = "(id=?)"
			}
			for _, step := range plan {
				if !strings.HasPrefix(step, "SEARCH") || !strings.Contains(step, want) {
					t.Errorf("%s, id %q: plan step %q does not search the primary key for %s\n%s", label, id, step, want, q)
				}
			}
			if len(plan) != len(ps) {
				t.Errorf("%s, id %q: plan %q, want one search per table", label, id, plan)
			}
		}
	}
}

// When the disk is nearly full the store checkpoints and truncates its WAL
// after every commit, instead of letting it grow to 64 MB: the space a
// store needs beyond its database file stays one batch.
func TestLowDiskCheckpointsEveryCommit(t *testing.T) {
	walAfter := func(free uint64) int64 {
		p := filepath.Join(t.TempDir(), "capsules.db")
		s, err := Open(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var dirs []string
		s.freeSpace = func(dir string) (uint64, bool) {
			dirs = append(dirs, dir)
			return free, true
		}
		head := storage.Head{Sequence: -1}
		var biggest int64
		for range 60 {
			recs := storagetest.Chain("", head, 64)
			head = storage.Head{Sequence: recs[63].Sequence, Hash: recs[63].Hash}
			if err := s.Append(t.Context(), "", recs); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p + "-wal")
			if err != nil {
				t.Fatal(err)
			}
			biggest = max(biggest, fi.Size())
		}
		if len(dirs) != 60 || dirs[0] != filepath.Dir(p) {
			t.Fatalf("free space asked %d times, for %q; want 60, for %s", len(dirs), dirs[:1], filepath.Dir(p))
		}
		return biggest
	}
	if free, ok := diskFree(t.TempDir()); !ok || free == 0 {
		t.Errorf("diskFree(%s) = %d, %v", t.TempDir(), free, ok)
	}
	plenty, low := walAfter(1<<40), walAfter(DiskHeadroom-1)
	t.Logf("WAL after 60 commits of 64 records: %d KB with the disk free, at most %d KB with less than DiskHeadroom free", plenty>>10, low>>10)
	if low > 1<<20 {
		t.Errorf("with the disk nearly full the WAL reached %d KB, want under 1 MB", low>>10)
	}
	if plenty <= low {
		t.Errorf("with the disk free the WAL reached %d KB, not more than with it nearly full (%d KB)", plenty>>10, low>>10)
	}
}

// TestConcurrentOpenOfNewFile opens one new file from many stores at once,
// as processes starting together do: creating the file, turning on WAL and
// creating the schema race, and SQLite answers some of those races with
// SQLITE_BUSY without waiting (its deadlock avoidance). Every Open must
// succeed and every store must append.
func TestConcurrentOpenOfNewFile(t *testing.T) {
	const stores, rounds = 8, 15
	for round := range rounds {
		path := filepath.Join(t.TempDir(), "capsules.db")
		errs := make(chan error, stores)
		opened := make(chan *Store, stores)
		for range stores {
			go func() {
				s, err := Open(t.Context(), path)
				if err != nil {
					errs <- err
					return
				}
				opened <- s
				errs <- nil
			}()
		}
		for range stores {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: Open: %v", round, err)
			}
		}
		close(opened)
		for s := range opened {
			s.Close()
		}
	}
}

// TestAppendBatchesRejectedPartWay has the database reject the second row
// of one batch among good ones (a trigger stands in for any constraint the
// checks before the inserts cannot see). The transaction goes without
// savepoints until then; the rejected batch must leave no row behind and
// the others must be stored.
func TestAppendBatchesRejectedPartWay(t *testing.T) {
	s, path := openTemp(t)
	empty := storage.Head{Sequence: -1}
	good1 := storagetest.Chain("a", empty, 2)
	bad := storagetest.Chain("b", empty, 3)
	good2 := storagetest.Chain("", empty, 2)
	db, err := sql.Open(sqlitedriver.Name, "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	trigger := "CREATE TRIGGER refuse BEFORE INSERT ON capsule_tenant_chains WHEN NEW.id = '" + bad[1].ID +
		"' BEGIN SELECT RAISE(ABORT, 'refused'); END"
	if _, err := db.Exec(trigger); err != nil {
		t.Fatal(err)
	}
	errs := s.AppendBatches(t.Context(), []storage.Batch{
		{Tenant: "a", Records: good1}, {Tenant: "b", Records: bad}, {Tenant: "", Records: good2},
	})
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("good batches: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], storage.ErrRejected) {
		t.Fatalf("refused batch: %v, want ErrRejected", errs[1])
	}
	storagetest.CheckChain(t.Context(), t, s, "a", 2)
	storagetest.CheckChain(t.Context(), t, s, "", 2)
	storagetest.CheckChain(t.Context(), t, s, "b", 0)
}

func TestTreeCatchUp(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storagetest.TreeCatchUp(t, s, func(tenant string) {
		if err := dropTree(s, tenant); err != nil {
			t.Fatal(err)
		}
	})
}

// dropTree deletes every stored hash of tenant's tree, as a chain written
// by the Python reference has none.
func dropTree(s *Store, tenant string) error {
	if _, err := s.w.Exec("DELETE FROM capsule_tree WHERE tenant_id = ?", tenant); err != nil {
		return err
	}
	tbl := tableOf(tenant)
	if _, err := s.w.Exec("UPDATE "+tbl.name+" SET tree = NULL WHERE "+tbl.tree.where, tenant); err != nil {
		return err
	}
	s.trees.Drop(tenant)
	return nil
}

// Tenant ids no backend can hold are refused alone, as on PostgreSQL.
func TestHostileTenants(t *testing.T) {
	s, _ := openTemp(t)
	storagetest.CheckHostileTenants(t, s)
}

// A page of one chain is read in index order, by sequence and by type
// and sequence: EXPLAIN QUERY PLAN of List's query searches an index and
// never sorts (a sort reads every matching row before the first), for
// both tables, with and without a type, as the list route asks: an upper
// bound on sequence, and an offset.
func TestListOfOneChainUsesIndexes(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "capsules.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tn := range []string{"", "acme"} {
		if _, err := storagetest.AppendRetry(t.Context(), s, tn, 64); err != nil {
			t.Fatal(err)
		}
	}
	seq := int64(40)
	for _, tenant := range []string{"", "acme"} {
		for _, f := range []storage.Filter{
			{Tenant: &tenant, MaxSequence: &seq, Limit: 20},
			{Tenant: &tenant, Type: "tool", MaxSequence: &seq, Limit: 20, Offset: 3},
			{Tenant: &tenant, Type: "tool", Limit: 1, Offset: 1024},
		} {
			ps, err := s.filtered(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			q, args := listQuery(ps, f)
			plan := explainPlan(t, s, q, args)
			want := "sequence<?)"
			if f.Type != "" {
				want = "type=?"
			}
			if len(plan) != 1 || !strings.HasPrefix(plan[0], "SEARCH") || !strings.Contains(plan[0], want) {
				t.Errorf("tenant %q, type %q: plan %q, want one SEARCH on %s\n%s", tenant, f.Type, plan, want, q)
			}
		}
	}
}

// explainPlan returns the detail of each step of SQLite's plan for q.
func explainPlan(t *testing.T, s *Store, q string, args []any) []string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

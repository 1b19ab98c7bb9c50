package reliability

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/mattn/go-sqlite3"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
)

// execer runs SQL against the database behind a store, with ? placeholders.
type execer func(t *testing.T, query string, args ...any)

// backend is a database kind the tampering test runs against: open returns
// a fresh database URL and a way to run SQL on it behind the runtime's back.
type backend struct {
	name  string
	table string // table holding the tampered (tenant) chain
	open  func(t *testing.T) (url string, exec execer)
}

var tamperBackends = []backend{
	{"sqlite", "capsule_tenant_chains", func(t *testing.T) (string, execer) {
		path := filepath.Join(t.TempDir(), "capsules.db")
		return path, sqliteExec(path)
	}},
	{"postgres", "quantumpipes_capsules", func(t *testing.T) (string, execer) {
		url := PostgresURL(t)
		return url, pgExec(url)
	}},
}

func replaceEach(s, old string, next func() string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(next())
		s = s[i+len(old):]
	}
}

// Every single-row change made behind the runtime's back is reported by
// verification at the right level and the right sequence.
func TestTamperingDetected(t *testing.T) {
	const chainTenant = "acme"
	for _, b := range tamperBackends {
		t.Run(b.name, func(t *testing.T) {
			cases := []struct {
				name   string
				tamper func(t *testing.T, recs []protocol.Sealed, exec execer, table string)
				level  capsule.Level // the lowest level that must catch it
				broken int64
			}{
				{"edit a content field", func(t *testing.T, recs []protocol.Sealed, exec execer, table string) {
					data := strings.Replace(string(recs[4].Data), `"request":"step 4"`, `"request":"step 4, approved"`, 1)
					exec(t, "UPDATE "+table+" SET data = ? WHERE id = ?", data, recs[4].ID)
				}, capsule.Full, 4},
				{"edit a stored hash", func(t *testing.T, recs []protocol.Sealed, exec execer, table string) {
					exec(t, "UPDATE "+table+" SET hash = ? WHERE id = ?", strings.Repeat("ab", 32), recs[3].ID)
				}, capsule.Structural, 4},
				{"delete a row", func(t *testing.T, recs []protocol.Sealed, exec execer, table string) {
					exec(t, "DELETE FROM "+table+" WHERE id = ?", recs[5].ID)
				}, capsule.Structural, 6},
				{"swap two rows", func(t *testing.T, recs []protocol.Sealed, exec execer, table string) {
					exec(t, "UPDATE "+table+" SET sequence = -1 WHERE id = ?", recs[2].ID)
					exec(t, "UPDATE "+table+" SET sequence = 2 WHERE id = ?", recs[3].ID)
					exec(t, "UPDATE "+table+" SET sequence = 3 WHERE id = ?", recs[2].ID)
				}, capsule.Structural, 2},
				{"insert a forged row signed with another key", func(t *testing.T, recs []protocol.Sealed, exec execer, table string) {
					// A forger rewrites capsule 6 and re-seals it correctly,
					// chained to capsule 5, with a key of their own.
					_, priv, _ := ed25519.GenerateKey(nil)
					forger := keys.NewSigner(priv, recs[6].SignedBy)
					c := capsule.New(capsule.TypeAgent)
					c.Sequence, c.PreviousHash = 6, recs[5].Hash
					c.Trigger.Request = "forged"
					forged, err := capsule.SealWith(c, chainTenant, forger, nil)
					if err != nil {
						t.Fatal(err)
					}
					exec(t, "DELETE FROM "+table+" WHERE id = ?", recs[6].ID)
					exec(t, "INSERT INTO "+table+" (id, type, sequence, previous_hash, data, hash, signature, signature_pq, signed_at, signed_by, session_id, domain, tenant_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
						forged.ID, forged.Type, forged.Sequence, forged.PreviousHash, string(forged.Data), forged.Hash, forged.Signature, "", forged.SignedAt, forged.SignedBy, forged.Domain, chainTenant)
					// Capsule 7 still points at the real capsule 6.
				}, capsule.Structural, 7},
				{"replace the last row with a forged one", func(t *testing.T, recs []protocol.Sealed, exec execer, table string) {
					last := recs[len(recs)-1]
					_, priv, _ := ed25519.GenerateKey(nil)
					forger := keys.NewSigner(priv, last.SignedBy)
					c := capsule.New(capsule.TypeAgent)
					c.Sequence, c.PreviousHash = last.Sequence, last.PreviousHash
					forged, err := capsule.SealWith(c, chainTenant, forger, nil)
					if err != nil {
						t.Fatal(err)
					}
					exec(t, "UPDATE "+table+" SET id = ?, data = ?, hash = ?, signature = ? WHERE id = ?",
						forged.ID, string(forged.Data), forged.Hash, forged.Signature, last.ID)
				}, capsule.Signatures, 9},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					url, exec := b.open(t)
					c, err := capsule.Open(ctx, url, capsule.WithKeyDir(t.TempDir()))
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					var recs []protocol.Sealed
					for i := range 10 {
						cp := capsule.New(capsule.TypeAgent)
						cp.Trigger.Request = "step " + string(rune('0'+i))
						rec, err := c.Append(ctx, chainTenant, cp)
						if err != nil {
							t.Fatal(err)
						}
						recs = append(recs, rec)
					}
					if res, err := c.Verify(ctx, chainTenant, capsule.Signatures); err != nil || !res.Valid {
						t.Fatalf("before tampering: %+v %v", res, err)
					}
					tc.tamper(t, recs, exec, b.table)
					if tc.level > capsule.Structural {
						res, err := c.Verify(ctx, chainTenant, tc.level-1)
						if err != nil {
							t.Fatal(err)
						}
						if !res.Valid {
							t.Logf("also caught below %v: %+v", tc.level, res)
						}
					}
					for level := tc.level; level <= capsule.Signatures; level++ {
						res, err := c.Verify(ctx, chainTenant, level)
						if err != nil {
							t.Fatal(err)
						}
						if res.Valid {
							t.Fatalf("%v: tampering not detected: %+v", level, res)
						}
						if level == tc.level && res.BrokenSequence != tc.broken {
							t.Fatalf("%v: broken at %d (%s), want %d", level, res.BrokenSequence, res.Error, tc.broken)
						}
					}
				})
			}
		})
	}
}

func sqliteExec(path string) execer {
	return func(t *testing.T, q string, args ...any) {
		db, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func pgExec(url string) execer {
	return func(t *testing.T, q string, args ...any) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		n := 0
		q = replaceEach(q, "?", func() string { n++; return "$" + itoa(n) })
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

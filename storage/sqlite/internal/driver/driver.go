// Package driver is the seam between package sqlite and the SQLite driver
// it uses: github.com/mattn/go-sqlite3 when cgo is available, the pure-Go
// modernc.org/sqlite when it is not, chosen by build constraint. Both take
// the same data source names (a file: URI with _busy_timeout,
// _synchronous, _query_only, _txlock and SQLite's own URI
// parameters such as mode=ro) and write the same file format, so a file
// written through one is read and appended to through the other.
package driver

// SQLite extended result codes (https://sqlite.org/rescode.html): stable
// numbers, the same through either driver.
const (
	Busy                 = 5    // SQLITE_BUSY
	ReadOnly             = 8    // SQLITE_READONLY
	TooBig               = 18   // SQLITE_TOOBIG
	Constraint           = 19   // SQLITE_CONSTRAINT (primary code)
	Mismatch             = 20   // SQLITE_MISMATCH
	ConstraintUnique     = 2067 // SQLITE_CONSTRAINT_UNIQUE
	ConstraintPrimaryKey = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
)

// Code returns the SQLite extended result code err carries, and whether it
// carries one. Errors are classified by code, never by message text.
func Code(err error) (int, bool) { return code(err) }

// Primary returns the primary result code of an extended one.
func Primary(code int) int { return code & 0xff }

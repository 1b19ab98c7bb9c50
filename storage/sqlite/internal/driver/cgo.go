//go:build cgo

package driver

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/mattn/go-sqlite3"
)

// Name is the database/sql driver name of plain connections.
const Name = "sqlite3"

// PureGo reports whether the driver is the pure-Go one.
const PureGo = false

const writerName = "sqlite3_capsule_writer"

var registerOnce sync.Once

// Writer returns the driver name and extra data source parameters of a
// connection that runs pragmas (name and value pairs) and then enters WAL
// mode whenever it connects, so that a connection database/sql opens
// again gets them too. All calls must pass the same pragmas.
func Writer(pragmas [][2]string) (name string, params url.Values) {
	registerOnce.Do(func() {
		stmts := make([]string, 0, len(pragmas)+1)
		for _, p := range pragmas {
			stmts = append(stmts, fmt.Sprintf("PRAGMA %s=%s", p[0], p[1]))
		}
		// Last, and not by the _journal_mode parameter, which runs before
		// this hook: entering WAL mode writes the file's first page, after
		// which a page_size pragma no longer changes a new file.
		stmts = append(stmts, "PRAGMA journal_mode=WAL")
		sql.Register(writerName, &sqlite3.SQLiteDriver{
			ConnectHook: func(c *sqlite3.SQLiteConn) error {
				_, err := c.Exec(strings.Join(stmts, "; "), nil)
				return err
			},
		})
	})
	return writerName, url.Values{}
}

func code(err error) (int, bool) {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return int(se.ExtendedCode), true
	}
	return 0, false
}

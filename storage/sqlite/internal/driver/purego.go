//go:build !cgo

package driver

import (
	"errors"
	"fmt"
	"net/url"

	"modernc.org/sqlite"
)

// Name is the database/sql driver name of plain connections.
const Name = "sqlite"

// PureGo reports whether the driver is the pure-Go one.
const PureGo = true

// Writer returns the driver name and extra data source parameters of a
// connection that runs pragmas (name and value pairs) and then enters WAL
// mode whenever it connects, so that a connection database/sql opens
// again gets them too. The driver runs the pragmas in the order of their
// text, not as given, so none may depend on another.
func Writer(pragmas [][2]string) (name string, params url.Values) {
	params = url.Values{}
	for _, p := range pragmas {
		params.Add("_pragma", fmt.Sprintf("%s(%s)", p[0], p[1]))
	}
	// The driver applies _journal_mode after every _pragma: entering WAL
	// mode writes the file's first page, after which a page_size pragma no
	// longer changes a new file.
	params.Set("_journal_mode", "WAL")
	return Name, params
}

func code(err error) (int, bool) {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code(), true
	}
	return 0, false
}

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
// connection that runs pragmas (name and value pairs) whenever it
// connects, so that a connection database/sql opens again gets them too.
func Writer(pragmas [][2]string) (name string, params url.Values) {
	params = url.Values{}
	for _, p := range pragmas {
		params.Add("_pragma", fmt.Sprintf("%s(%s)", p[0], p[1]))
	}
	return Name, params
}

func code(err error) (int, bool) {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code(), true
	}
	return 0, false
}

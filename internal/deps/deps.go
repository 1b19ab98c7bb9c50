// Package deps pins the module's dependencies while the packages that use
// them are being written. It is removed once every import is real.
package deps

import (
	_ "github.com/cloudflare/circl/sign/mldsa/mldsa65"
	_ "github.com/dave/jennifer/jen"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/mattn/go-sqlite3"
	_ "golang.org/x/term"
	_ "golang.org/x/tools/go/packages"
)

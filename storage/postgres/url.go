package postgres

import "net/url"

// IsURL reports whether s is a PostgreSQL connection URL: one that parses
// as a URL with the scheme postgres or postgresql and a "//" authority
// part. Anything else, such as a SQLite file named postgres-audit.db, is
// not.
func IsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") && u.Opaque == ""
}

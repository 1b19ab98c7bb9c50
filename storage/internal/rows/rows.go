// Package rows reads capsule rows the way every SQL backend does: a
// query's rows collected up to a byte budget, and a chain streamed in
// batches read by key (sequence).
package rows

import (
	"iter"

	"github.com/capsule-go/capsule/protocol"
)

// Keyset streams the records that read returns, batch after batch: read
// gets the lowest sequence wanted and returns up to size records from
// there in ascending sequence order, or an error, which ends the stream
// after it is yielded. A batch shorter than size is the last. Memory stays
// bounded by one batch whatever the length of the chain.
func Keyset(from int64, size int, read func(from int64) ([]protocol.Sealed, error)) iter.Seq2[protocol.Sealed, error] {
	return func(yield func(protocol.Sealed, error) bool) {
		next := from
		for {
			recs, err := read(next)
			if err != nil {
				yield(protocol.Sealed{}, err)
				return
			}
			for _, r := range recs {
				if !yield(r, nil) {
					return
				}
			}
			if len(recs) < size {
				return
			}
			next = recs[len(recs)-1].Sequence + 1
		}
	}
}

// Cursor is a query's result rows, as database/sql's *sql.Rows and pgx's
// Rows both provide them.
type Cursor interface {
	Next() bool
	Err() error
}

// Collect reads c's rows with scan until they hold maxBytes bytes of Data
// or more (every row when maxBytes <= 0); no row is read after that. The
// error is scan's, or c's once its rows are done.
func Collect(c Cursor, maxBytes int64, scan func() (protocol.Sealed, error)) ([]protocol.Sealed, error) {
	var recs []protocol.Sealed
	var read int64
	for c.Next() {
		r, err := scan()
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
		if read += int64(len(r.Data)); maxBytes > 0 && read >= maxBytes {
			break
		}
	}
	return recs, c.Err()
}

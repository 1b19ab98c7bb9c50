// Package imports has signatures with types of other packages.
package imports

import (
	"context"
	"io"
	mrand "math/rand"
	rand2 "math/rand/v2"
	"net/http"
	"net/url"
	"time"
	"unsafe"
)

// Complex has every kind of type in its signature.
//
//capsule:audit type=tool trigger_from=""
func Complex(
	ctx context.Context,
	r *http.Request,
	m map[string]*url.URL,
	d time.Duration,
	in <-chan int,
	out chan<- []string,
	both chan (<-chan int),
	f func(int, ...string) (bool, error),
	s struct {
		Name string `json:"name,omitempty" xml:"name"`
		io.Reader
		Raw []byte "raw:\"r\""
	},
	i interface {
		io.Closer
		Len() int
	},
	arr [4]byte,
	e interface{},
	a any,
	p unsafe.Pointer,
) (*http.Response, error) {
	return nil, nil
}

// Rands uses two packages named rand.
//
//capsule:audit type=tool trigger_from=""
func Rands(a *mrand.Rand, b *rand2.PCG) {}

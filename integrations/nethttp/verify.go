package nethttp

import (
	"context"
	"iter"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/capsule-go/capsule"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/storage"
)

// verifyResult is the answer of the verify route.
type verifyResult struct {
	valid          bool
	level          capsule.Level
	verified       int64
	chains         int64   // chains verified completely and found valid
	complete       bool    // false when a bound stopped the verification
	tenant         *string // the chain asked for; nil for every chain
	err            string  // "" when nothing is broken
	brokenAt       string
	brokenSequence int64
	brokenTenant   string
}

func (v *verifyResult) appendJSON(b []byte) []byte {
	broken := v.err != ""
	b = append(b, `{"valid":`...)
	b = strconv.AppendBool(b, v.valid)
	b = append(b, `,"level":`...)
	b = appendString(b, v.level.String())
	b = append(b, `,"capsules_verified":`...)
	b = strconv.AppendInt(b, v.verified, 10)
	b = append(b, `,"chains_verified":`...)
	b = strconv.AppendInt(b, v.chains, 10)
	b = append(b, `,"complete":`...)
	b = strconv.AppendBool(b, v.complete)
	b = append(b, `,"tenant_id":`...)
	if v.tenant != nil {
		b = appendString(b, *v.tenant)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"error":`...)
	b = appendNullString(b, v.err, !broken)
	b = append(b, `,"broken_at":`...)
	b = appendNullString(b, v.brokenAt, !broken)
	b = append(b, `,"broken_sequence":`...)
	if broken {
		b = strconv.AppendInt(b, v.brokenSequence, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"broken_tenant_id":`...)
	b = appendNullString(b, v.brokenTenant, !broken)
	return append(b, '}')
}

// verify serves GET {prefix}/verify.
func (s *server) verify(w http.ResponseWriter, r *http.Request) {
	bound, rerr := s.authenticate(r)
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	vals, rerr := parseQuery(r.URL.RawQuery, "tenant_id", "level")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	level := capsule.Full
	if s.resolve != nil {
		level = capsule.Signatures
	}
	if name, ok := vals["level"]; ok {
		l, err := capsule.ParseLevel(name)
		if err != nil {
			writeError(w, http.StatusBadRequest, "level must be structural, full or signatures", "level")
			return
		}
		if l == capsule.Signatures && s.resolve == nil {
			writeError(w, http.StatusBadRequest, "level signatures is not available: this server has no key resolver", "level")
			return
		}
		level = l
	}
	var param *string
	if t, ok := vals["tenant_id"]; ok {
		if rerr := checkTenant(t); rerr != nil {
			writeRequestError(w, rerr)
			return
		}
		param = &t
	}
	tenant, rerr := restrict(bound, param)
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	release, ok := admit(w, s.verifying, "too many verifications in progress; retry later")
	if !ok {
		return
	}
	defer release()

	ctx := r.Context()
	if s.verifyTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.verifyTimeout)
		defer cancel()
	}
	var tenants []string
	if tenant != nil {
		tenants = []string{*tenant}
	} else {
		var err error
		tenants, err = s.store.Tenants(ctx)
		if err != nil {
			if !timedOut(ctx, r) {
				s.storageFailure(w, r, "verify", err)
				return
			}
			tenants = nil
		}
	}

	res := verifyResult{valid: true, complete: !timedOut(ctx, r), level: level, tenant: tenant}
	b := &budget{ctx: ctx, left: s.verifyLimit}
	opt := capsule.VerifyOptions{Resolve: s.resolve, PQPublicKey: s.pqKey}
	for _, t := range tenants {
		one, err := capsule.VerifyChain(ctx, b.limit(s.store.Scan(ctx, t, storage.ScanAll)), level, opt)
		res.verified += one.CapsulesVerified
		if err != nil {
			if timedOut(ctx, r) {
				// The timeout stopped a storage read: a partial result.
				res.complete = false
				break
			}
			s.storageFailure(w, r, "verify", err)
			return
		}
		if !one.Valid {
			res.valid = false
			res.err = one.Error
			res.brokenAt = one.BrokenAt
			res.brokenSequence = one.BrokenSequence
			res.brokenTenant = t
			break
		}
		if b.stopped.Load() {
			res.complete = false
			break
		}
		res.chains++
	}
	writeJSON(w, http.StatusOK, res.appendJSON(make([]byte, 0, 512)))
}

// timedOut reports whether the verify timeout (and not the client) ended
// ctx.
func timedOut(ctx context.Context, r *http.Request) bool {
	return ctx.Err() != nil && r.Context().Err() == nil
}

// budget stops the capsule streams of one verify request once the
// capsule limit is used up or the deadline has passed, and remembers that
// it did. The streams are read on VerifyChain's goroutine, hence atomics.
type budget struct {
	ctx     context.Context
	left    int64 // capsules still allowed; <= 0 at start means no limit
	used    atomic.Int64
	stopped atomic.Bool
}

// limit wraps one chain's stream. A stream that ends early ends cleanly,
// so VerifyChain reports the checked prefix.
func (b *budget) limit(seq iter.Seq2[protocol.Sealed, error]) iter.Seq2[protocol.Sealed, error] {
	return func(yield func(protocol.Sealed, error) bool) {
		for rec, err := range seq {
			if err != nil {
				yield(rec, err)
				return
			}
			if b.left > 0 && b.used.Load() >= b.left || b.ctx.Err() != nil {
				b.stopped.Store(true)
				return
			}
			b.used.Add(1)
			if !yield(rec, nil) {
				return
			}
		}
	}
}

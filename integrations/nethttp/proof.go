package nethttp

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/proof"
	"github.com/capsule-go/capsule/protocol"
)

// WithCheckpointSigner lets the proof route sign a checkpoint itself, with
// s under the chain's default origin (see [checkpoint.Origin]), when the
// store keeps none that includes the capsule asked for. Without it such a
// capsule's proof is 404 {"error":"no checkpoint includes this capsule
// yet"} until one is kept (by capsule witness or the library's witness
// option).
func WithCheckpointSigner(s checkpoint.MessageSigner) Option {
	return func(c *config) { c.cpSigner = s }
}

// errNoCheckpoint is the proof route's answer when no checkpoint includes
// the capsule.
const errNoCheckpoint = "no checkpoint includes this capsule yet"

// proofRoute serves GET {prefix}/{id}/proof: the capsule's C2SP
// tlog-proof, as text.
func (s *server) proofRoute(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.lookup(w, r, "proof")
	if !ok {
		return
	}
	ctx, cancel := s.queryContext(r)
	defer cancel()
	signed, err := s.checkpointFor(r, rec)
	switch {
	case err != nil:
		s.storageFailure(w, r, "proof checkpoint", err)
		return
	case signed == nil:
		writeError(w, http.StatusNotFound, errNoCheckpoint, "")
		return
	}
	p, err := proof.Build(ctx, s.store, rec.Tenant, rec, signed)
	if errors.Is(err, checkpoint.ErrForked) {
		// The kept checkpoint is of another history of this chain.
		s.log.ErrorContext(r.Context(), "nethttp: the kept checkpoint does not match the chain", "tenant", rec.Tenant, "err", err)
		writeError(w, http.StatusInternalServerError, "the kept checkpoint does not match the chain", "")
		return
	}
	if err != nil {
		s.storageFailure(w, r, "proof", err)
		return
	}
	body := p.Marshal()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// checkpointFor returns the signed checkpoint to prove rec against: the
// latest one the store keeps for rec's chain when it includes rec, else
// one signed now when the handler has a signer, else nil.
func (s *server) checkpointFor(r *http.Request, rec protocol.Sealed) ([]byte, error) {
	ctx, cancel := s.queryContext(r)
	defer cancel()
	if kept, err := proof.KeptCheckpoint(ctx, s.store, rec.Tenant, rec.Sequence); kept != nil || err != nil {
		return kept, err
	}
	if s.cpSigner == nil {
		return nil, nil
	}
	_, signed, err := checkpoint.Take(ctx, s.store, rec.Tenant, checkpoint.Origin(rec.Tenant), s.cpSigner)
	return signed, err
}

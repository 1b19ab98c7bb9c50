package capsule

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/capsule-go/capsule/checkpoint"
	"github.com/capsule-go/capsule/internal/cosign"
	"github.com/capsule-go/capsule/storage"
	"github.com/capsule-go/capsule/witness"
)

// DefaultWitnessInterval is how often, by default, the chains of a
// Capsules opened [WithWitness] have their checkpoint cosigned.
const DefaultWitnessInterval = time.Minute

// witnessTimeout bounds one chain's cosigning: taking the checkpoint and
// every witness's answer.
const witnessTimeout = 30 * time.Second

// witnessConfig is what the witnessing options set.
type witnessConfig struct {
	witnesses []witnessOption
	every     time.Duration
	origin    func(tenant string) string
	tick      <-chan time.Time // tests drive rounds with it instead of a ticker
	round     func()           // tests learn of each round's end with it
}

type witnessOption struct{ url, vkey string }

// WithWitness has the checkpoint of every chain this Capsules appends to
// cosigned by the C2SP tlog-witness at url (its submission prefix), whose
// cosignature/v1 verifier key is verifierKey, every interval (see
// [WithWitnessInterval]) while the chain grows, and keeps the latest
// cosigned checkpoint in the database, where "capsule prove" finds it.
// Give it once per witness. The checkpoints are signed with the sealing
// key under the origin [WithWitnessOrigin] names, which the witness's
// operator must have registered with that key ("capsule keys
// export-public --note ORIGIN").
//
// Witnessing runs beside the appends and never blocks or fails one: a
// witness that is down, slow or refuses is logged (once until it cosigns
// again) and counted in [Capsules.WitnessStats]. One that saw a different
// history of a chain (a fork) is logged as an error.
func WithWitness(url, verifierKey string) OpenOption {
	return func(c *config) {
		c.witness.witnesses = append(c.witness.witnesses, witnessOption{url, verifierKey})
	}
}

// WithWitnessInterval sets how often chains are cosigned (see
// [WithWitness]); the default is [DefaultWitnessInterval].
func WithWitnessInterval(d time.Duration) OpenOption {
	return func(c *config) { c.witness.every = d }
}

// WithWitnessOrigin sets the origin of each tenant's checkpoints that
// witnesses cosign (see [WithWitness]); the default is
// [checkpoint.Origin]. A witness tells logs apart by origin: on a witness
// that others use too, choose origins nobody else does, such as
// "example.com/audit/" + tenant.
func WithWitnessOrigin(origin func(tenant string) string) OpenOption {
	return func(c *config) { c.witness.origin = origin }
}

// WitnessStats are counters of the witnessing of a Capsules (see
// [WithWitness]) since it was opened.
type WitnessStats struct {
	Cosigned int64 // checkpoints cosigned by at least one witness and kept in the database
	Failures int64 // times a witness did not cosign a checkpoint: down, slow or refusing
	Forks    int64 // of those, times a witness saw a different history of a chain
}

// WitnessStats returns the witnessing counters; all zero without
// [WithWitness].
func (c *Capsules) WitnessStats() WitnessStats {
	w := c.witnessing
	if w == nil {
		return WitnessStats{}
	}
	return WitnessStats{Cosigned: w.cosigned.Load(), Failures: w.failures.Load(), Forks: w.forks.Load()}
}

// witnessing has the chains of a Capsules cosigned periodically.
type witnessing struct {
	c      *Capsules
	ws     []witness.Witness
	client witness.Client
	origin func(tenant string) string
	round  func()

	cosigned, failures, forks atomic.Int64

	// Owned by the loop:
	done    map[string]int64 // tenant: size every witness cosigned last
	failing map[string]int   // witness URL ("" for taking checkpoints): failures since the first logged

	cancel  context.CancelFunc
	stopped chan struct{}
}

// startWitnessing starts the witnessing loop of c when cfg names
// witnesses.
func (c *Capsules) startWitnessing(cfg witnessConfig) error {
	if len(cfg.witnesses) == 0 {
		return nil
	}
	if _, ok := c.Signer().(checkpoint.MessageSigner); !ok {
		return fmt.Errorf("capsule: witnessing needs a signer that signs messages (%T does not)", c.Signer())
	}
	if _, ok := c.store.(storage.TreeStore); !ok {
		return fmt.Errorf("capsule: witnessing needs a store that keeps Merkle trees and checkpoints (%T does not)", c.store)
	}
	w := &witnessing{c: c, origin: cfg.origin, round: cfg.round, done: map[string]int64{}, failing: map[string]int{}, stopped: make(chan struct{})}
	if w.origin == nil {
		w.origin = checkpoint.Origin
	}
	for _, o := range cfg.witnesses {
		v, err := witness.NewVerifier(o.vkey)
		if err != nil {
			return fmt.Errorf("capsule: witness %s: %w", o.url, err)
		}
		w.ws = append(w.ws, witness.Witness{URL: o.url, Keys: []note.Verifier{v}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	c.witnessing = w
	go w.loop(ctx, cfg.tick, cfg.every)
	return nil
}

// stop ends the loop, abandoning a round in progress; nil-safe.
func (w *witnessing) stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.stopped
}

// loop cosigns the chains at every tick, of tick or, when it is nil, of a
// ticker of period every.
func (w *witnessing) loop(ctx context.Context, tick <-chan time.Time, every time.Duration) {
	defer close(w.stopped)
	if tick == nil {
		if every <= 0 {
			every = DefaultWitnessInterval
		}
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			w.cosignAll(ctx)
			if w.round != nil {
				w.round()
			}
		}
	}
}

// cosignAll has each chain appended to and grown since its last
// cosigning cosigned.
func (w *witnessing) cosignAll(ctx context.Context) {
	c := w.c
	c.mu.Lock()
	tenants := make([]string, 0, len(c.chains))
	for t := range c.chains {
		tenants = append(tenants, t)
	}
	c.mu.Unlock()
	down := make(map[string]bool) // witnesses that did not answer this round
	for _, t := range tenants {
		if ctx.Err() != nil {
			return
		}
		w.cosignChain(ctx, t, down)
	}
}

// cosignChain has tenant's chain cosigned by the witnesses not in down,
// and adds to down those that do not answer: a black-holed witness costs
// a round one timeout, not one per chain.
func (w *witnessing) cosignChain(ctx context.Context, tenant string, down map[string]bool) {
	var ws []witness.Witness
	for _, x := range w.ws {
		if !down[x.URL] {
			ws = append(ws, x)
		}
	}
	if len(ws) == 0 {
		return
	}
	closing := ctx
	ctx, cancel := context.WithTimeout(ctx, witnessTimeout)
	defer cancel()
	h, err := w.c.store.Head(ctx, tenant)
	if err != nil {
		w.report("", tenant, err)
		return
	}
	if size := h.Sequence + 1; size == 0 || size == w.done[tenant] {
		return
	}
	log := cosign.Log{Store: w.c.store, Tenant: tenant, Origin: w.origin(tenant), Signer: w.c.Signer().(checkpoint.MessageSigner)}
	res, err := cosign.Round(ctx, &w.client, ws, log)
	if closing.Err() != nil {
		return // Close abandoned the round: nothing to report
	}
	if err != nil {
		w.report("", tenant, err)
		return
	}
	w.report("", tenant, nil)
	for i, err := range res.Errs {
		w.report(ws[i].URL, tenant, err)
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
			down[ws[i].URL] = true
		}
	}
	if res.Cosigners() == 0 {
		return
	}
	if err := cosign.Save(ctx, log, res.Cosigned); err != nil {
		w.report("", tenant, err)
		return
	}
	w.cosigned.Add(1)
	if res.Cosigners() == len(w.ws) {
		w.done[tenant] = res.Checkpoint.Size
	}
}

// report counts and logs the outcome of one witness's cosigning (url ""
// for taking and keeping the checkpoint): the first failure of a burst is
// logged, the others counted until it succeeds again.
func (w *witnessing) report(url, tenant string, err error) {
	log := w.c.log
	n, failing := w.failing[url]
	if err == nil {
		if failing {
			delete(w.failing, url)
			if url == "" {
				log.Info("capsule: witnessing takes checkpoints again", "failures", n)
			} else {
				log.Info("capsule: witness cosigns again", "witness", url, "failures", n)
			}
		}
		return
	}
	if url == "" {
		// Not a witness's failure: the store's, logged once a burst.
		w.failing[url] = n + 1
		if !failing {
			log.Warn("capsule: witnessing: checkpoint not taken or kept; further failures are not logged until one is", "tenant", tenant, "err", err)
		}
		return
	}
	w.failures.Add(1)
	var fork *witness.ForkError
	isFork := errors.As(err, &fork)
	if isFork {
		w.forks.Add(1)
	}
	w.failing[url] = n + 1
	if failing {
		return
	}
	if isFork {
		log.Error("capsule: a witness saw a different history of this chain: a fork; further failures are not logged until it cosigns again",
			"witness", url, "tenant", tenant, "err", err)
		return
	}
	log.Warn("capsule: witness did not cosign; further failures are not logged until it cosigns again", "witness", url, "tenant", tenant, "err", err)
}

package capsule

import (
	"context"
	"crypto/sha3"
	"encoding/hex"
	"fmt"
	"iter"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/capsule-go/capsule/keys"
	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
	"github.com/capsule-go/capsule/storage"
)

// Level is how deep verification goes.
type Level int

// The verification levels, each including the previous one.
const (
	// Structural checks sequence numbers and hash linkage.
	Structural Level = iota + 1
	// Full also recomputes every hash from the content.
	Full
	// Signatures also checks every Ed25519 signature, and every
	// signature_pq when the ML-DSA-65 public key is given
	// (VerifyOptions.PQPublicKey).
	Signatures
)

// String returns the level's name as the CLI and JSON write it.
func (l Level) String() string {
	switch l {
	case Structural:
		return "structural"
	case Full:
		return "full"
	case Signatures:
		return "signatures"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ParseLevel parses a level name.
func ParseLevel(s string) (Level, error) {
	for _, l := range []Level{Structural, Full, Signatures} {
		if l.String() == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown verification level %q (want structural, full or signatures)", s)
}

// Result is the outcome of verifying a chain.
type Result struct {
	Valid            bool   `json:"valid"`
	Level            string `json:"level"`
	CapsulesVerified int64  `json:"capsules_verified"`
	// Error says what is wrong with the first bad capsule (its sequence is
	// BrokenSequence); "" when valid.
	Error string `json:"error"`
	// BrokenAt is the id of the first bad capsule; "" when valid.
	BrokenAt string `json:"broken_at"`
	// BrokenSequence is the chain position of the first bad capsule, -1
	// when valid.
	BrokenSequence int64 `json:"broken_sequence"`
}

// VerifyOptions tune [VerifyChain].
type VerifyOptions struct {
	// Resolve finds signers' public keys; required at level Signatures.
	Resolve protocol.KeyResolver
	// PQPublicKey, when set, is the ML-DSA-65 public key that checks the
	// signature_pq of every capsule that has one, at level Signatures.
	PQPublicKey []byte
	// Workers is how many goroutines check hashes and signatures; 0 means
	// GOMAXPROCS.
	Workers int
	// Progress, when set, is called from the verifying goroutine after each
	// batch with the number of capsules checked so far.
	Progress func(done int64)
}

// verifyBatch is how many capsules are checked per parallel batch. Two
// batches are in memory at a time, so memory stays constant whatever the
// chain length.
const verifyBatch = 1024

// VerifyChain checks a chain streamed in sequence order, at level. It
// returns an error only when the stream itself fails (an I/O error); a bad
// chain is a Result with Valid false.
func VerifyChain(ctx context.Context, recs iter.Seq2[protocol.Sealed, error], level Level, opt VerifyOptions) (Result, error) {
	res := Result{Level: level.String(), BrokenSequence: -1}
	if level == Signatures && opt.Resolve == nil {
		return res, fmt.Errorf("capsule: verify signatures: no key resolver")
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	// A reader goroutine fills batches while the previous one is checked.
	type batch struct {
		recs []protocol.Sealed
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	readerDone := make(chan struct{})
	defer func() {
		cancel()
		<-readerDone // recs is not used after VerifyChain returns
	}()
	batches := make(chan batch, 1)
	free := make(chan []protocol.Sealed, 2)
	free <- make([]protocol.Sealed, 0, verifyBatch)
	free <- make([]protocol.Sealed, 0, verifyBatch)
	go func() {
		defer close(readerDone)
		defer close(batches)
		var buf []protocol.Sealed
		select {
		case buf = <-free:
		case <-ctx.Done():
			return
		}
		for rec, err := range recs {
			if err != nil {
				select {
				case batches <- batch{recs: buf, err: err}:
				case <-ctx.Done():
				}
				return
			}
			buf = append(buf, rec)
			if len(buf) == verifyBatch {
				select {
				case batches <- batch{recs: buf}:
				case <-ctx.Done():
					return
				}
				select {
				case buf = <-free:
					buf = buf[:0]
				case <-ctx.Done():
					return
				}
			}
		}
		if len(buf) > 0 {
			select {
			case batches <- batch{recs: buf}:
			case <-ctx.Done():
			}
		}
	}()

	errs := make([]error, verifyBatch)
	var prevHash string
	expect := int64(0)
	first := true
	for b := range batches {
		if level >= Full {
			checkParallel(b.recs, errs, level, &opt, workers)
		}
		for i := range b.recs {
			rec := &b.recs[i]
			if first {
				expect = rec.Sequence
				if rec.Sequence < 0 {
					return res.broken(rec, fmt.Sprintf("capsule %s has a negative sequence %d: no chain has a position below 0", rec.ID, rec.Sequence)), nil
				}
				if rec.Sequence != 0 {
					return res.broken(rec, fmt.Sprintf("chain starts at sequence %d, not 0 (genesis missing)", rec.Sequence)), nil
				}
				first = false
			}
			if msg := linkError(rec, expect, prevHash); msg != "" {
				return res.broken(rec, msg), nil
			}
			if level >= Full && errs[i] != nil {
				return res.broken(rec, errs[i].Error()), nil
			}
			prevHash = rec.Hash
			expect++
			res.CapsulesVerified++
		}
		if b.err != nil {
			return res, fmt.Errorf("capsule: read chain: %w", b.err)
		}
		if opt.Progress != nil {
			opt.Progress(res.CapsulesVerified)
		}
		free <- b.recs
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Valid = true
	return res, nil
}

func (r Result) broken(rec *protocol.Sealed, msg string) Result {
	r.Valid = false
	r.Error = msg
	r.BrokenAt = rec.ID
	r.BrokenSequence = rec.Sequence
	return r
}

// linkError checks rec's place in the chain: its sequence is expect and its
// previous_hash the hash of the capsule before it. The values are read from
// the hashed content, and the stored columns must agree with them.
func linkError(rec *protocol.Sealed, expect int64, prevHash string) string {
	if rec.Sequence != expect {
		if rec.Sequence > expect {
			return fmt.Sprintf("sequence gap: expected %d, found %d", expect, rec.Sequence)
		}
		return fmt.Sprintf("sequence out of order: expected %d, found %d", expect, rec.Sequence)
	}
	if rec.PreviousHash != prevHash {
		if prevHash == "" {
			return "genesis capsule has a previous_hash"
		}
		if rec.PreviousHash == "" {
			return "previous_hash is null after genesis"
		}
		return fmt.Sprintf("previous_hash %s does not match the hash of sequence %d (%s)", rec.PreviousHash, expect-1, prevHash)
	}
	return ""
}

// checkParallel recomputes hashes (and checks signatures at level
// Signatures) of recs on workers goroutines, writing each outcome to errs.
//
// Workers take capsules one at a time from a shared counter, so none sits
// idle while another still has a long run of work.
func checkParallel(recs []protocol.Sealed, errs []error, level Level, opt *VerifyOptions, workers int) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(workers, len(recs)) {
		wg.Go(func() {
			buf := bufPool.Get().(*[]byte)
			for {
				i := next.Add(1) - 1
				if i >= int64(len(recs)) {
					break
				}
				errs[i] = checkOne(buf, &recs[i], level, opt)
			}
			bufPool.Put(buf)
		})
	}
	wg.Wait()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// checkOne checks one capsule's content against its columns, its hash and,
// at level Signatures, its signature. buf is scratch space for the
// canonical content.
//
// The hash is recomputed over the content as stored (PROTOCOL.md rule 8),
// as the Python reference's verifier does: an integer confidence stays an
// integer, a timestamp without offset stays without one. The capsule rules
// of the sealer (decimal points on float fields, "+00:00") are not applied
// here, since applying them would reject what the reference seals and
// verifies, and accept nothing that the content as stored does not say.
func checkOne(buf *[]byte, rec *protocol.Sealed, level Level, opt *VerifyOptions) error {
	content, err := canonical.AppendCanonical((*buf)[:0], rec.Data)
	if err != nil {
		return fmt.Errorf("content: %w", err)
	}
	*buf = content
	if err := columnsAgree(rec, content); err != nil {
		return err
	}
	if rec.Hash == "" {
		return protocol.ErrMissingHash
	}
	sum := sha3.Sum256(content)
	var got [64]byte
	hex.Encode(got[:], sum[:])
	if string(got[:]) != rec.Hash {
		return fmt.Errorf("%w: stored %s, computed %s", protocol.ErrHashMismatch, rec.Hash, got[:])
	}
	if level >= Signatures {
		if err := protocol.CheckSignature(rec, opt.Resolve); err != nil {
			return err
		}
		if opt.PQPublicKey != nil {
			return protocol.CheckPQSignature(rec, func(hashHex, sigHex string) bool {
				return keys.VerifyPQ(opt.PQPublicKey, hashHex, sigHex)
			})
		}
	}
	return nil
}

// columnsAgree checks that the stored index columns say what the hashed
// content says, so that editing a column (a sequence, a previous_hash)
// cannot make a chain look whole. content is canonical JSON.
func columnsAgree(rec *protocol.Sealed, content []byte) error {
	var id, seq, prev, typ []byte
	err := canonical.Members(content, func(key, value []byte) bool {
		switch string(key) {
		case "id":
			id = value
		case "sequence":
			seq = value
		case "previous_hash":
			prev = value
		case "type":
			typ = value
		}
		return true
	})
	if err != nil {
		return err
	}
	if !jsonStringIs(id, rec.ID) {
		return fmt.Errorf("id column %q differs from content id %s", rec.ID, id)
	}
	if string(seq) != strconv.FormatInt(rec.Sequence, 10) {
		return fmt.Errorf("sequence column %d differs from content sequence %s", rec.Sequence, seq)
	}
	if rec.PreviousHash == "" && string(prev) != "null" || rec.PreviousHash != "" && !jsonStringIs(prev, rec.PreviousHash) {
		return fmt.Errorf("previous_hash column %q differs from content previous_hash %s", rec.PreviousHash, prev)
	}
	if !jsonStringIs(typ, rec.Type) {
		return fmt.Errorf("type column %q differs from content type %s", rec.Type, typ)
	}
	return nil
}

// jsonStringIs reports whether v is the JSON string literal of s, for
// strings that need no escaping (ids, hex, type names).
func jsonStringIs(v []byte, s string) bool {
	return len(v) == len(s)+2 && v[0] == '"' && v[len(v)-1] == '"' && string(v[1:len(v)-1]) == s
}

// Verify checks tenant's chain at level, streaming it from the store (rows
// at a negative sequence included, which break it).
func (c *Capsules) Verify(ctx context.Context, tenant string, level Level) (Result, error) {
	return VerifyChain(ctx, c.store.Scan(ctx, tenant, storage.ScanAll), level, VerifyOptions{Resolve: c.Resolver(), PQPublicKey: c.pqPublicKey})
}

package capsule

import (
	"crypto/ed25519"
	"time"

	"github.com/capsule-go/capsule/protocol"
	"github.com/capsule-go/capsule/protocol/canonical"
)

// Sealed is the sealed capsule, [protocol.Sealed], under the name this
// package has always given it: its canonical content and the seal, as
// stored. protocol.Sealed is its one name across the module; this one
// stays for the programs that use it. Package protocol holds its wire
// codec ([protocol.AppendSealed], [protocol.ParseSealed]) and its checks
// ([protocol.CheckHash], [protocol.CheckSignature]).
type Sealed = protocol.Sealed

// Signer signs capsule hashes. *keys.Signer implements it.
type Signer interface {
	// Sign returns the lowercase hex Ed25519 signature of the 64 ASCII
	// bytes of hashHex.
	Sign(hashHex string) string
	// Fingerprint is the value written to signed_by.
	Fingerprint() string
	// PublicKey is the key that verifies the signatures.
	PublicKey() ed25519.PublicKey
}

// PQSigner adds the optional ML-DSA-65 signature (signature_pq).
type PQSigner interface {
	SignPQ(hashHex string) string
}

// SealWith seals c as it stands (sequence and previous_hash included):
// canonical JSON, SHA3-256, Ed25519 over the hex hash. tenant names the
// chain the record belongs to. pq may be nil. Content that could not be
// sealed within protocol.MaxCapsuleBytes is refused with an error wrapping
// protocol.ErrTooLarge.
func SealWith(c *Capsule, tenant string, s Signer, pq PQSigner) (protocol.Sealed, error) {
	content, err := c.Canonical()
	if err != nil {
		return protocol.Sealed{}, err
	}
	if err := protocol.CheckContentSize(len(content)); err != nil {
		return protocol.Sealed{}, err
	}
	rec := c.record(tenant, content, protocol.Hash(content))
	rec.Signature = s.Sign(rec.Hash)
	if pq != nil {
		rec.SignaturePQ = pq.SignPQ(rec.Hash)
	}
	rec.SignedBy = s.Fingerprint()
	rec.SignedAt = string(canonical.AppendTimestamp(nil, time.Now()))
	return rec, nil
}

// record returns the storage record of c with its content and hash; the
// signature fields are left empty.
func (c *Capsule) record(tenant string, content []byte, hash string) protocol.Sealed {
	return protocol.Sealed{
		ID: c.ID, Type: string(c.Type), Domain: c.Domain, Tenant: tenant,
		Sequence: c.Sequence, PreviousHash: c.PreviousHash,
		SessionID: c.Context.SessionID, Data: content, Hash: hash,
	}
}

// signerOrKeyring returns a resolver that answers s's public key for s's
// own fingerprint and asks others otherwise.
func signerOrKeyring(s Signer, others protocol.KeyResolver) protocol.KeyResolver {
	name, pub := s.Fingerprint(), s.PublicKey()
	return func(signedBy string) (ed25519.PublicKey, error) {
		if signedBy != "" && signedBy == name {
			return pub, nil
		}
		return others(signedBy)
	}
}

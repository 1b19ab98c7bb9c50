package capsule

import "github.com/capsule-go/capsule/protocol"

// VerifySealed checks one sealed capsule on its own, at level: its content
// and columns agree, its hash is the SHA3-256 of its canonical content
// ([Full]), and its signature verifies ([Signatures], with opt.Resolve and
// opt.PQPublicKey). Chain linkage is not checked: it is for a capsule
// proven by other means, such as an inclusion proof.
func VerifySealed(rec *protocol.Sealed, level Level, opt VerifyOptions) error {
	var buf []byte
	return checkOne(&buf, rec, level, &opt)
}

package keys

import "crypto/ed25519"

// SignMessage returns the raw Ed25519 signature of msg, for signed
// documents other than capsule seals (checkpoints, signed notes).
func (s *Signer) SignMessage(msg []byte) []byte {
	return ed25519.Sign(s.priv, msg)
}

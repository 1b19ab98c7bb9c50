package nethttp

// SetLadderStep sets ladderStep for a test and returns the function that
// restores it.
func SetLadderStep(n int64) (restore func()) {
	old := ladderStep
	ladderStep = n
	return func() { ladderStep = old }
}

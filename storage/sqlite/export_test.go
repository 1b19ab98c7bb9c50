package sqlite

// WithoutTree makes s's appends write no tree, for the benchmarks of the
// external test package that measure what keeping it costs.
func WithoutTree(s *Store) { s.noTree = true }

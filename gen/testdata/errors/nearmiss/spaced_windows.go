package nearmiss

// Near misses in files the host build excludes are reported too.
//
// capsule:audit type=tool
func Windows(task string) string { return task }

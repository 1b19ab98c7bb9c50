// Package winonly is built on Windows only: generating on another system
// sees it only when it is named (./... leaves it out there).
package winonly

// Run is audited.
//
//capsule:audit type=tool
func Run(task string) string { return task }

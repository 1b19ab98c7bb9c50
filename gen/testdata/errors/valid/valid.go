// Package valid has no errors: its file is written even though other
// packages of the same run have errors.
package valid

//capsule:audit type=agent
func Run(task string) string { return task }

// Package nearmiss has comments that look like directives but are not:
// each is ignored with a warning, and the one real directive is generated.
package nearmiss

// capsule:audit type=tool
func Spaced(task string) string { return task }

// capsule: audit type=tool
func SpacedColon(task string) string { return task }

//capsule:audti type=tool
func Misspelled(task string) string { return task }

//capsule:generate type=tool
func OtherWord(task string) string { return task }

//capsule:audit,type=tool
func RunOn(task string) string { return task }

// A remark about the capsule: it is sealed.
//
// capsule: a sealed record, not a directive.
func Prose(task string) string { return task }

// Real is the one audited function.
//
//capsule:audit type=tool
func Real(task string) string {
	// capsule:direct
	return task
}

/*capsule:audit type=tool*/
func Block(task string) string { return task }

/*
capsule:audit type=tool
*/
func BlockLines(task string) string { return task }

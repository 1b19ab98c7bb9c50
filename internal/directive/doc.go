// Package directive reads the //capsule: comments of Go source: the
// //capsule:audit directive that capsulegen generates wrappers for, the
// //capsule:direct comment that lets capsulevet accept one direct call of
// an audited function, and the near misses of both that would otherwise be
// ignored without a word. capsulegen and capsulevet share it, so the two
// agree on what is annotated.
package directive

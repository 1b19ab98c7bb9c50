package plat

// #include <stdlib.h>
import "C"

// Abs calls C.
//
//capsule:audit type=tool
func Abs(n int) int { return int(C.abs(C.int(n))) }

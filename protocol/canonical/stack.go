package canonical

// stack is a LIFO of T whose first elements live inline, so that a stack
// held in a local variable needs no heap allocation for typical documents.
// It never stores a pointer to its inline array in one of its own fields,
// which would force the whole value onto the heap.
type stack[T any] struct {
	n      int
	inline [48]T
	heap   []T // all elements, once there are more than the inline array holds
}

func (s *stack[T]) len() int { return s.n }

func (s *stack[T]) push(v T) {
	switch {
	case s.heap != nil:
		s.heap = append(s.heap[:s.n], v)
	case s.n < len(s.inline):
		s.inline[s.n] = v
	default:
		s.heap = make([]T, s.n, 2*s.n)
		copy(s.heap, s.inline[:])
		s.heap = append(s.heap, v)
	}
	s.n++
}

// from returns the elements from index i to the top.
func (s *stack[T]) from(i int) []T {
	if s.heap != nil {
		return s.heap[i:s.n]
	}
	return s.inline[i:s.n]
}

// truncate pops the elements from index n on, clearing them so that the
// stack keeps nothing alive.
func (s *stack[T]) truncate(n int) {
	clear(s.from(n))
	s.n = n
}

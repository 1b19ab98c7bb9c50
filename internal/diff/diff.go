// Package diff computes line-based unified diffs.
//
// The edit script is a shortest one (Myers' O(ND) algorithm in its
// linear-space form), so the output is as small as `diff -u` would make it,
// although hunks may place equal-cost edits differently.
package diff

import (
	"bytes"
	"fmt"
	"strings"
)

// Context is the number of unchanged lines shown around each change.
const Context = 3

// Unified returns the unified diff that turns old into new, with the file
// names oldName and newName in its header and [Context] lines of context.
// It returns "" when old and new are equal. A last line without a newline
// is marked "\ No newline at end of file", as diff(1) does.
func Unified(oldName, newName string, old, new []byte) string {
	if bytes.Equal(old, new) {
		return ""
	}
	a, b := splitLines(old), splitLines(new)
	ops := script(a, b)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", oldName, newName)
	for _, h := range hunks(ops) {
		writeHunk(&sb, h, a, b)
	}
	return sb.String()
}

// splitLines splits s after each newline; the last line may lack one.
func splitLines(s []byte) []string {
	var lines []string
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, string(s))
			break
		}
		lines = append(lines, string(s[:i+1]))
		s = s[i+1:]
	}
	return lines
}

// opKind is the kind of one edit.
type opKind byte

const (
	opEqual  opKind = ' '
	opDelete opKind = '-'
	opInsert opKind = '+'
)

// op is one line of the edit script: a line of a (equal or delete) at
// index i, or a line of b (insert) at index j. Equal lines carry both.
type op struct {
	kind opKind
	i, j int
}

// script returns a shortest edit script from a to b, in order, with the
// deletions of a change before its insertions.
func script(a, b []string) []op {
	// Intern the lines so that comparisons are integer comparisons.
	ids := make(map[string]int, len(a)+len(b))
	intern := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	d := &differ{a: intern(a), b: intern(b)}
	d.deleted = make([]bool, len(a))
	d.inserted = make([]bool, len(b))
	n, m := len(a), len(b)
	size := n + m + 3
	d.vf = make([]int, 2*size+1)
	d.vb = make([]int, 2*size+1)
	d.compare(0, n, 0, m)

	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && d.deleted[i]:
			ops = append(ops, op{opDelete, i, j})
			i++
		case j < m && d.inserted[j]:
			ops = append(ops, op{opInsert, i, j})
			j++
		default:
			ops = append(ops, op{opEqual, i, j})
			i++
			j++
		}
	}
	return ops
}

// differ holds the state of one diff: the interned lines, the change marks
// and the two work vectors of the middle-snake search.
type differ struct {
	a, b              []int
	deleted, inserted []bool
	vf, vb            []int
}

// compare marks the lines of a[aLo:aHi] and b[bLo:bHi] that a shortest edit
// script deletes or inserts.
func (d *differ) compare(aLo, aHi, bLo, bHi int) {
	for aLo < aHi && bLo < bHi && d.a[aLo] == d.b[bLo] {
		aLo++
		bLo++
	}
	for aLo < aHi && bLo < bHi && d.a[aHi-1] == d.b[bHi-1] {
		aHi--
		bHi--
	}
	switch {
	case aLo == aHi:
		for j := bLo; j < bHi; j++ {
			d.inserted[j] = true
		}
	case bLo == bHi:
		for i := aLo; i < aHi; i++ {
			d.deleted[i] = true
		}
	default:
		x0, y0, x1, y1 := d.middleSnake(aLo, aHi, bLo, bHi)
		d.compare(aLo, x0, bLo, y0)
		d.compare(x1, aHi, y1, bHi)
	}
}

// middleSnake returns the start (x0, y0) and end (x1, y1) of the middle
// snake of a shortest edit path from (aLo, bLo) to (aHi, bHi), as absolute
// indices. Both ranges are non-empty and their first and last lines differ,
// so the snake never lies on the start or the end corner and both
// sub-problems are smaller than the whole.
func (d *differ) middleSnake(aLo, aHi, bLo, bHi int) (x0, y0, x1, y1 int) {
	n, m := aHi-aLo, bHi-bLo
	delta := n - m
	odd := delta%2 != 0
	maxD := (n + m + 1) / 2
	off := maxD + 1
	vf, vb := d.vf, d.vb
	vf[off+1] = 0
	vb[off+1] = 0
	for D := 0; D <= maxD; D++ {
		// Forward paths, in the coordinates of (aLo, bLo).
		for k := -D; k <= D; k += 2 {
			var x int
			if k == -D || (k != D && vf[off+k-1] < vf[off+k+1]) {
				x = vf[off+k+1]
			} else {
				x = vf[off+k-1] + 1
			}
			y := x - k
			sx, sy := x, y
			for x < n && y < m && d.a[aLo+x] == d.b[bLo+y] {
				x++
				y++
			}
			vf[off+k] = x
			if kb := delta - k; odd && kb >= -(D-1) && kb <= D-1 && x+vb[off+kb] >= n {
				return aLo + sx, bLo + sy, aLo + x, bLo + y
			}
		}
		// Backward paths, in reversed coordinates from (aHi, bHi).
		for k := -D; k <= D; k += 2 {
			var x int
			if k == -D || (k != D && vb[off+k-1] < vb[off+k+1]) {
				x = vb[off+k+1]
			} else {
				x = vb[off+k-1] + 1
			}
			y := x - k
			sx, sy := x, y
			for x < n && y < m && d.a[aHi-1-x] == d.b[bHi-1-y] {
				x++
				y++
			}
			vb[off+k] = x
			if kf := delta - k; !odd && kf >= -D && kf <= D && x+vf[off+kf] >= n {
				return aHi - x, bHi - y, aHi - sx, bHi - sy
			}
		}
	}
	// Unreachable: a path of at most n+m edits always exists and the two
	// searches meet by D = ceil((n+m)/2).
	panic("diff: middle snake not found")
}

// hunk is a run of ops: changes with up to Context equal lines around them.
type hunk []op

// hunks groups the ops into hunks: each change with up to Context equal
// lines on either side, merging changes separated by at most 2*Context
// equal lines, as diff(1) does.
func hunks(ops []op) []hunk {
	var out []hunk
	start, end := -1, -1 // the current hunk is ops[start:end]
	for i, o := range ops {
		if o.kind == opEqual {
			continue
		}
		lo := max(i-Context, 0)
		if start < 0 || lo > end {
			if start >= 0 {
				out = append(out, hunk(ops[start:end]))
			}
			start = lo
		}
		end = min(i+Context+1, len(ops))
	}
	if start >= 0 {
		out = append(out, hunk(ops[start:end]))
	}
	return out
}

// writeHunk writes one hunk with its "@@ -l,s +l,s @@" header.
func writeHunk(sb *strings.Builder, h hunk, a, b []string) {
	first := h[0]
	var na, nb int
	for _, o := range h {
		switch o.kind {
		case opEqual:
			na++
			nb++
		case opDelete:
			na++
		case opInsert:
			nb++
		}
	}
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", rangeString(first.i, na), rangeString(first.j, nb))
	for _, o := range h {
		var line string
		if o.kind == opInsert {
			line = b[o.j]
		} else {
			line = a[o.i]
		}
		sb.WriteByte(byte(o.kind))
		sb.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			sb.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// rangeString formats a hunk range the way diff(1) does: the first line
// (1-based) and the count, the count omitted when it is 1, and the line
// before the range when the range is empty.
func rangeString(start, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, count)
}

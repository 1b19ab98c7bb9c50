package gen

import (
	"fmt"
	"go/token"
	"go/types"
	"strconv"
	"strings"

	"github.com/capsule-go/capsule/internal/directive"
)

// resolveTrigger resolves an explicit trigger_from: a position or a path,
// or nothing for the empty value (trigger.request is "").
func (c *checker) resolveTrigger(w *wrapper, a directive.Arg) *access {
	if a.Value == "" {
		return nil
	}
	if a.Value != "" && strings.Trim(a.Value, "0123456789") == "" {
		n, err := strconv.Atoi(a.Value)
		skip := w.leading()
		count := len(w.params) - skip
		if err != nil || n >= count {
			what := "parameters"
			if count == 1 {
				what = "parameter"
			}
			after := ""
			if skip > 0 {
				after = " after its context"
			}
			c.errorf(a.KeyPos, "trigger_from: position %s is out of range: %s has %d %s%s", a.Value, w.name, count, what, after)
			return nil
		}
		return c.resolveParam(w, a, skip+n, true)
	}
	return c.resolve(w, a, a.Value, true)
}

// defaultTrigger is the trigger when the directive at pos has no
// trigger_from: the first parameter after a leading context, which must be
// string-like; none when there is no such parameter.
func (c *checker) defaultTrigger(w *wrapper, pos token.Pos) *access {
	i := w.leading()
	if i >= len(w.params) {
		return nil
	}
	v := w.params[i]
	t := v.Type()
	if w.sig.Variadic() && i == len(w.params)-1 {
		t = types.NewSlice(t.(*types.Slice).Elem()) // reported as written: ...T
	}
	ac := &access{root: i}
	if w.sig.Variadic() && i == len(w.params)-1 || !c.convert(ac, t, true) {
		desc := "parameter 0"
		if v.Name() != "" && v.Name() != "_" {
			desc = fmt.Sprintf("parameter %q", v.Name())
		}
		c.errorf(pos, "trigger_from: the default trigger, %s, has type %s, which is not string-like; name a string-like parameter or field with trigger_from, or write trigger_from=\"\" for no request",
			desc, c.typeString(v.Type()))
		return nil
	}
	return ac
}

// resolveParam resolves the parameter at index i (a trigger position).
func (c *checker) resolveParam(w *wrapper, a directive.Arg, i int, allowFloat bool) *access {
	v := w.params[i]
	ac := &access{root: i}
	if !c.convert(ac, v.Type(), allowFloat) {
		desc := fmt.Sprintf("parameter %d", i-w.leading())
		if v.Name() != "" && v.Name() != "_" {
			desc = fmt.Sprintf("parameter %q", v.Name())
		}
		c.notStringLike(a, desc, v.Type(), allowFloat)
		return nil
	}
	return ac
}

// resolve resolves a parameter name or a dotted path into a parameter (or
// the receiver) for the key a.
func (c *checker) resolve(w *wrapper, a directive.Arg, path string, allowFloat bool) *access {
	segs := strings.Split(path, ".")
	for _, s := range segs {
		if !token.IsIdentifier(s) || s == "_" {
			c.errorf(a.KeyPos, "%s: invalid parameter name or field path %q", a.Key, path)
			return nil
		}
	}
	ac, t := c.root(w, a, segs[0])
	if ac == nil {
		return nil
	}
	desc := path
	if len(segs) == 1 {
		desc = fmt.Sprintf("parameter %q", segs[0])
	}
	for i, seg := range segs[1:] {
		if t = c.selectField(ac, a, t, strings.Join(segs[:i+1], "."), seg); t == nil {
			return nil
		}
	}
	if !c.convert(ac, t, allowFloat) {
		c.notStringLike(a, desc, t, allowFloat)
		return nil
	}
	return ac
}

// root resolves the parameter (or receiver) named name, the start of a
// path, into an access and its type.
func (c *checker) root(w *wrapper, a directive.Arg, name string) (*access, types.Type) {
	for i, p := range w.params {
		if p.Name() == name {
			return &access{root: i}, p.Type()
		}
	}
	if recv := w.sig.Recv(); recv != nil && recv.Name() == name {
		return &access{root: -1}, recv.Type()
	}
	c.errorf(a.KeyPos, "%s: %s has no parameter named %q (%s)", a.Key, w.name, name, w.paramHint(name))
	return nil, nil
}

// paramHint lists the names a path may start with (the receiver's and
// the parameters'), and the one closest to name when one is close.
func (w *wrapper) paramHint(name string) string {
	var names []string
	for _, p := range w.params {
		if p.Name() != "" && p.Name() != "_" {
			names = append(names, p.Name())
		}
	}
	var hint string
	switch recv := w.sig.Recv(); {
	case recv != nil && recv.Name() != "" && recv.Name() != "_":
		hint = "its receiver " + recv.Name() + " and parameters: " + orNone(names)
		names = append(names, recv.Name())
	case len(names) == 0:
		return "it has no parameters"
	default:
		hint = "its parameters: " + strings.Join(names, ", ")
	}
	if near := directive.Nearest(name, names); near != "" {
		hint += "; did you mean " + near + "?"
	}
	return hint
}

// orNone joins names, or says there are none.
func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// selectField adds to ac the steps that select the field seg of a value
// of type t (the path sofar) and returns the field's type, or nil when it
// cannot be selected.
func (c *checker) selectField(ac *access, a directive.Arg, t types.Type, sofar, seg string) types.Type {
	t = ac.derefToOne(t)
	obj, index, _ := types.LookupFieldOrMethod(t, true, c.pkg.Types, seg)
	switch obj.(type) {
	case nil:
		if index != nil {
			c.errorf(a.KeyPos, "%s: %s.%s is ambiguous", a.Key, sofar, seg)
		} else {
			c.errorf(a.KeyPos, "%s: %s (type %s) has no field %s", a.Key, sofar, c.typeString(t), seg)
		}
		return nil
	case *types.Func:
		c.errorf(a.KeyPos, "%s: %s.%s is a method, not a field", a.Key, sofar, seg)
		return nil
	}
	// Walk the embedding chain explicitly so that every pointer on the way
	// gets a nil check.
	cur := t
	for j, idx := range index {
		if j > 0 {
			cur = ac.derefToOne(cur)
		}
		if p, ok := pointer(cur); ok {
			ac.steps = append(ac.steps, step{kind: stepNilCheck})
			cur = p.Elem()
		}
		st, ok := cur.Underlying().(*types.Struct)
		if !ok {
			c.errorf(a.KeyPos, "%s: %s (type %s) has no field %s", a.Key, sofar, c.typeString(cur), seg)
			return nil
		}
		f := st.Field(idx)
		last := j == len(index)-1
		if !last && !f.Exported() && f.Pkg() != c.pkg.Types {
			// An unexported embedded field of another package cannot be
			// named here; rely on promotion when it is not a pointer.
			if _, ptr := pointer(f.Type()); ptr {
				c.errorf(a.KeyPos, "%s: %s.%s is promoted through the unexported embedded pointer %s, which generated code cannot check for nil", a.Key, sofar, seg, f.Name())
				return nil
			}
			cur = f.Type()
			continue
		}
		ac.steps = append(ac.steps, step{kind: stepField, field: f.Name()})
		cur = f.Type()
	}
	return cur
}

// derefToOne adds nil checks and explicit dereferences until t is at most
// one pointer away from a non-pointer type, as a selector needs.
func (ac *access) derefToOne(t types.Type) types.Type {
	for {
		p, ok := pointer(t)
		if !ok {
			return t
		}
		if _, ok := pointer(p.Elem()); !ok {
			return t
		}
		ac.steps = append(ac.steps, step{kind: stepNilCheck}, step{kind: stepDeref})
		t = p.Elem()
	}
}

func (c *checker) notStringLike(a directive.Arg, desc string, t types.Type, allowFloat bool) {
	c.errorf(a.KeyPos, "%s: %s has type %s, which is not string-like (%s)", a.Key, desc, c.typeString(t), stringLike(allowFloat))
}

// stringLike describes the string-like types for messages.
func stringLike(allowFloat bool) string {
	if allowFloat {
		return "want strings, integers, floats, bools, fmt.Stringer, error, named types over them and pointers to them"
	}
	return "want strings, integers, bools, fmt.Stringer, error, named types over them and pointers to them"
}

package directive

import (
	"go/ast"
	"unicode"
	"unicode/utf8"
)

// Audit returns the first //capsule:audit directive of a declaration's doc
// comment, or nil.
func Audit(doc *ast.CommentGroup) *ast.Comment {
	if doc == nil {
		return nil
	}
	for _, c := range doc.List {
		if IsAudit(c.Text) {
			return c
		}
	}
	return nil
}

// WrapperName returns the name of the generated wrapper of the function or
// method name: Audited followed by the name, or audited followed by the
// capitalized name when the name is not exported.
func WrapperName(name string) string {
	if ast.IsExported(name) {
		return "Audited" + name
	}
	r, n := utf8.DecodeRuneInString(name)
	return "audited" + string(unicode.ToUpper(r)) + name[n:]
}

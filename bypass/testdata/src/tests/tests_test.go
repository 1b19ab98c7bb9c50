package tests

import (
	"testing"

	"app"
)

func TestSearch(t *testing.T) {
	if app.Search("q") != "q" { // want `call AuditedSearch instead: this call is not audited`
		t.Fail()
	}
}

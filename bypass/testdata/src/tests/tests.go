// Package tests has a test file that calls an audited function.
package tests

import "app"

// Use calls the wrapper.
func Use() string { return app.AuditedSearch("ok") }

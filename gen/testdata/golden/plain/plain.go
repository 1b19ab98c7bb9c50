// Package plain has the canonical case: a context, a tenant parameter and
// an error result.
package plain

import "context"

// RunAgent runs an agent for a site.
//
//capsule:audit type=agent tenant_from=siteID
func RunAgent(ctx context.Context, task string, siteID string) (string, error) {
	return task + "@" + siteID, nil
}

// Plan has a context and an error result but no tenant.
//
//capsule:audit type=workflow
func Plan(ctx context.Context, goal string) error {
	return nil
}

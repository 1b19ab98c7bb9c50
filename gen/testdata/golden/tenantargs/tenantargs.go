// Package tenantargs has tenant functions that take the audited function's
// own parameters, like the Python reference's (args, kwargs) callable.
package tenantargs

import "context"

// Request is a request with a site.
type Request struct{ Site string }

func siteOf(ctx context.Context, req *Request, n int) string {
	if req == nil {
		return ""
	}
	return req.Site
}

// Handle is audited with the tenant siteOf returns.
//
//capsule:audit type=agent tenant_func=siteOf trigger_from=n
func Handle(ctx context.Context, req *Request, n int) (string, error) { return req.Site, nil }

func firstTag(tags ...string) string {
	if len(tags) == 0 {
		return ""
	}
	return tags[0]
}

// Tag is variadic: the tenant function gets the tags as they came.
//
//capsule:audit type=tool tenant_func=firstTag trigger_from=""
func Tag(tags ...string) int { return len(tags) }

// Service is a service.
type Service struct{}

func userOf(user string) string { return "user-" + user }

// Serve is a method: the tenant function takes its parameters, not the
// receiver.
//
//capsule:audit type=tool tenant_func=userOf
func (s *Service) Serve(user string) string { return user }

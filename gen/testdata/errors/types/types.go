package types

import "context"

//capsule:audit type=agent
func Undefined(ctx context.Context, req Missing) (Unknown, error) { return nil, nil }

// Fine itself is fine, and errors elsewhere in the package do not matter.
//
//capsule:audit type=agent
func Fine(ctx context.Context) error { return AuditedNotYet(ctx) }

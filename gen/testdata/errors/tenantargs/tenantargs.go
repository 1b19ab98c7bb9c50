package tenantargs

import "context"

func tooFew(ctx context.Context, a string) string { return a }

func wrongType(a int) string { return "" }

func notVariadic(xs []string) string { return "" }

func generic[T any](x T) string { return "" }

func twoResults(a string, b int) (string, error) { return a, nil }

//capsule:audit type=tool tenant_func=tooFew trigger_from=a
func TooFew(ctx context.Context, a string, b int) {}

//capsule:audit type=tool tenant_func=wrongType
func WrongType(a string) {}

//capsule:audit type=tool tenant_func=notVariadic trigger_from=""
func NotVariadic(xs ...string) {}

//capsule:audit type=tool tenant_func=generic trigger_from=""
func Generic[T any](x T) {}

//capsule:audit type=tool tenant_func=twoResults
func TwoResults(a string, b int) {}

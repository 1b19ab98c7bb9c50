package keys

// A file the host build excludes (when generating on another system) is
// checked as well, in a configuration that includes it.
//
//capsule:audit type=agnet tenant_from=nope
func OnWindows(task string) string { return task }

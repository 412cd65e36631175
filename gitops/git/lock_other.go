//go:build !unix

package git

import "context"

// lockFile is a no-op where flock is unavailable: only callers within one
// process are serialised there (see docs/git.md).
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }

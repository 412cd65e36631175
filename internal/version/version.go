// Package version holds the build's version, set with -ldflags at release.
package version

// Version is gitover's release; the disk-protection hooks default to the
// image of the same version, so regenerating them is stable across runs of
// one release.
var Version = "v0.1.0"

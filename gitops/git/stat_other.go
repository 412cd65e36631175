//go:build !linux

package git

import (
	"io/fs"

	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// fillStat leaves the inode data empty where it is not portable; git then
// re-checks such entries by content, which is slower but correct.
func fillStat(*index.Entry, fs.FileInfo) {}

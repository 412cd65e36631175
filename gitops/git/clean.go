package git

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxDirtyPaths is how many paths a DirtyError names.
const maxDirtyPaths = 10

// DirtyError lists (some of) the uncommitted changes in a work tree.
type DirtyError struct {
	Root  string
	Paths []string // "path (why)", at most maxDirtyPaths
	More  bool     // there are more than Paths shows
}

func (e *DirtyError) Error() string {
	more := ""
	if e.More {
		more = ", ..."
	}
	return fmt.Sprintf("work tree %s is not clean (commit or stash first): %s%s", e.Root, strings.Join(e.Paths, ", "), more)
}

// Is makes errors.Is(err, ErrDirty) true.
func (e *DirtyError) Is(target error) bool { return target == ErrDirty }

// EnsureClean returns a *DirtyError naming up to ten paths when the work
// tree has changes: staged or unstaged modifications, deletions, conflicts,
// or untracked files that are not ignored.
//
// It is git's own algorithm rather than go-git's Worktree.Status (which
// hashes every file): the index is compared with HEAD by computing the
// index's tree hash in memory (one comparison when nothing is staged), and
// each tracked file is compared with its index entry by size, mtime and mode
// (the stat cache), hashing its content only when those differ or the entry
// is "racy" (modified in the same instant the index was written). Ignore
// rules come from .gitignore files, .git/info/exclude and core.excludesFile.
// Content filters (core.autocrlf, .gitattributes eol, LFS) are not applied,
// so a file whose stat changed is compared by its raw bytes.
func (l *Local) EnsureClean(ctx context.Context) error {
	var found []string
	more := false
	report := func(p, why string) bool {
		if len(found) == maxDirtyPaths {
			more = true
			return false
		}
		found = append(found, p+" ("+why+")")
		return true
	}
	if err := l.scanDirty(ctx, report); err != nil {
		return err
	}
	if len(found) == 0 {
		return nil
	}
	return &DirtyError{Root: l.root, Paths: found, More: more}
}

// scanDirty calls report for each change until it returns false.
func (l *Local) scanDirty(ctx context.Context, report func(path, why string) bool) error {
	_, head, err := l.headCommit()
	if err != nil {
		return err
	}
	idx, err := l.repo.Storer.Index()
	if err != nil {
		return fmt.Errorf("reading the index of %s: %w", l.root, err)
	}
	var indexTime int64
	if fi, err := os.Stat(filepath.Join(l.gitDir, "index")); err == nil {
		indexTime = fi.ModTime().UnixNano()
	}

	tracked := make(map[string]*index.Entry, len(idx.Entries))
	dirs := map[string]bool{}
	conflicts := map[string]bool{}
	for _, e := range idx.Entries {
		if e.Stage != 0 { // 0 is the merged stage (go-git's index.Merged constant is 1)
			if !conflicts[e.Name] {
				conflicts[e.Name] = true
				if !report(e.Name, "conflict") {
					return nil
				}
			}
			continue
		}
		tracked[e.Name] = e
		for d := filepath.ToSlash(filepath.Dir(e.Name)); d != "."; d = filepath.ToSlash(filepath.Dir(d)) {
			if dirs[d] {
				break
			}
			dirs[d] = true
		}
	}

	// Index against HEAD.
	if stop, err := l.stagedChanges(head, idx, tracked, report); err != nil || stop {
		return err
	}

	// Work tree against the index, and untracked files.
	w := &walker{
		ctx: ctx, root: l.root, tracked: tracked, dirs: dirs, indexTime: indexTime,
		seen: make(map[string]bool, len(tracked)), report: report,
	}
	w.patterns = append(w.patterns, readIgnoreFile(filepath.Join(l.commonDir, "info", "exclude"), nil)...)
	if ps, err := gitignore.LoadGlobalPatterns(osfs.New("/")); err == nil {
		w.patterns = append(ps, w.patterns...)
	}
	if err := w.walk("", nil); err != nil {
		if errors.Is(err, errStop) {
			return nil
		}
		return err
	}
	names := make([]string, 0)
	for name, e := range tracked {
		if !w.seen[name] && !e.SkipWorktree {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if !report(n, "deleted") {
			return nil
		}
	}
	return nil
}

// stagedChanges reports index entries that differ from HEAD's tree.
func (l *Local) stagedChanges(head *object.Commit, idx *index.Index, tracked map[string]*index.Entry, report func(string, string) bool) (stop bool, err error) {
	for _, e := range idx.Entries {
		if e.IntentToAdd && !report(e.Name, "staged") {
			return true, nil
		}
	}
	if indexTreeHash(tracked) == head.TreeHash {
		return false, nil
	}
	tree, err := head.Tree()
	if err != nil {
		return false, fmt.Errorf("reading HEAD's tree in %s: %w", l.root, err)
	}
	inHead := map[string]bool{}
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	var changed []string
	for {
		name, entry, err := walker.Next()
		if err != nil {
			break
		}
		if entry.Mode == filemode.Dir {
			continue
		}
		inHead[name] = true
		if e, ok := tracked[name]; !ok || e.Hash != entry.Hash || e.Mode != entry.Mode {
			changed = append(changed, name)
		}
	}
	for name := range tracked {
		if !inHead[name] {
			changed = append(changed, name)
		}
	}
	sort.Strings(changed)
	for _, name := range changed {
		if !report(name, "staged") {
			return true, nil
		}
	}
	return false, nil
}

// indexTreeHash computes the root tree hash `git write-tree` would produce
// for the given stage-0 entries, without writing anything.
func indexTreeHash(entries map[string]*index.Entry) plumbing.Hash {
	type node struct {
		entries []object.TreeEntry
		dirs    map[string]*node
	}
	newNode := func() *node { return &node{dirs: map[string]*node{}} }
	root := newNode()
	for name, e := range entries {
		if e.IntentToAdd {
			continue
		}
		parts := strings.Split(name, "/")
		n := root
		for _, d := range parts[:len(parts)-1] {
			if n.dirs[d] == nil {
				n.dirs[d] = newNode()
			}
			n = n.dirs[d]
		}
		n.entries = append(n.entries, object.TreeEntry{Name: parts[len(parts)-1], Mode: e.Mode, Hash: e.Hash})
	}
	var hash func(n *node) plumbing.Hash
	var buf bytes.Buffer
	hash = func(n *node) plumbing.Hash {
		for name, d := range n.dirs {
			n.entries = append(n.entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: hash(d)})
		}
		sort.Sort(object.TreeEntrySorter(n.entries))
		buf.Reset()
		for _, e := range n.entries {
			fmt.Fprintf(&buf, "%o %s", e.Mode, e.Name)
			buf.WriteByte(0)
			buf.Write(e.Hash[:])
		}
		return plumbing.ComputeHash(plumbing.TreeObject, buf.Bytes())
	}
	return hash(root)
}

var errStop = errors.New("stop")

// walker compares the work tree with the index.
type walker struct {
	ctx       context.Context
	root      string
	tracked   map[string]*index.Entry
	dirs      map[string]bool
	indexTime int64
	seen      map[string]bool
	patterns  []gitignore.Pattern
	report    func(path, why string) bool
}

func (w *walker) emit(p, why string) error {
	if !w.report(p, why) {
		return errStop
	}
	return nil
}

func (w *walker) ignored(parts []string, isDir bool) bool {
	return gitignore.NewMatcher(w.patterns).Match(parts, isDir)
}

// walk visits directory rel (slash path, "" for the root); domain is rel split.
func (w *walker) walk(rel string, domain []string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	abs := filepath.Join(w.root, filepath.FromSlash(rel))
	entries, err := os.ReadDir(abs)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", abs, err)
	}
	saved := len(w.patterns)
	defer func() { w.patterns = w.patterns[:saved] }()
	w.patterns = append(w.patterns, readIgnoreFile(filepath.Join(abs, ".gitignore"), domain)...)

	for _, de := range entries {
		name := de.Name()
		if rel == "" && name == ".git" {
			continue
		}
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		parts := append(append(make([]string, 0, len(domain)+1), domain...), name)
		e, isTracked := w.tracked[p]
		if isTracked {
			w.seen[p] = true
		}
		if de.IsDir() {
			switch {
			case isTracked && e.Mode == filemode.Submodule:
				continue // a checked-out submodule: not looked into
			case isTracked:
				if err := w.emit(p, "modified"); err != nil { // tracked file became a directory
					return err
				}
				continue
			case w.dirs[p]:
				if err := w.walk(p, parts); err != nil {
					return err
				}
			case !w.ignored(parts, true):
				if has, err := w.hasUntracked(p, parts); err != nil {
					return err
				} else if has {
					if err := w.emit(p+"/", "untracked"); err != nil {
						return err
					}
				}
			}
			continue
		}
		if !isTracked {
			if !w.ignored(parts, false) {
				if err := w.emit(p, "untracked"); err != nil {
					return err
				}
			}
			continue
		}
		changed, err := w.changed(p, e, de)
		if err != nil {
			return err
		}
		if changed {
			if err := w.emit(p, "modified"); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasUntracked reports whether an untracked directory holds any file that is
// not ignored (git does not show empty or fully ignored directories).
func (w *walker) hasUntracked(rel string, domain []string) (bool, error) {
	abs := filepath.Join(w.root, filepath.FromSlash(rel))
	if _, err := os.Lstat(filepath.Join(abs, ".git")); err == nil {
		return true, nil // a nested repository
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return false, fmt.Errorf("reading directory %s: %w", abs, err)
	}
	saved := len(w.patterns)
	defer func() { w.patterns = w.patterns[:saved] }()
	w.patterns = append(w.patterns, readIgnoreFile(filepath.Join(abs, ".gitignore"), domain)...)
	for _, de := range entries {
		parts := append(append(make([]string, 0, len(domain)+1), domain...), de.Name())
		if w.ignored(parts, de.IsDir()) {
			continue
		}
		if !de.IsDir() {
			return true, nil
		}
		if has, err := w.hasUntracked(rel+"/"+de.Name(), parts); err != nil || has {
			return has, err
		}
	}
	return false, nil
}

// changed compares a tracked file with its index entry: stat data first,
// content only when the stat data cannot decide.
func (w *walker) changed(p string, e *index.Entry, de fs.DirEntry) (bool, error) {
	if e.SkipWorktree {
		return false, nil
	}
	if e.IntentToAdd {
		return true, nil
	}
	fi, err := de.Info()
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", p, err)
	}
	isLink := fi.Mode()&fs.ModeSymlink != 0
	switch {
	case e.Mode == filemode.Symlink && !isLink, e.Mode != filemode.Symlink && isLink:
		return true, nil
	case !fi.Mode().IsRegular() && !isLink:
		return true, nil
	case !isLink && (e.Mode == filemode.Executable) != (fi.Mode().Perm()&0o111 != 0):
		return true, nil
	}
	mtime := fi.ModTime()
	racy := w.indexTime != 0 && mtime.UnixNano() >= w.indexTime
	if !racy && uint32(fi.Size()) == e.Size && mtime.Equal(e.ModifiedAt) {
		return false, nil
	}
	abs := filepath.Join(w.root, filepath.FromSlash(p))
	var content []byte
	if isLink {
		target, err := os.Readlink(abs)
		if err != nil {
			return false, fmt.Errorf("reading link %s: %w", p, err)
		}
		content = []byte(target)
	} else if content, err = os.ReadFile(abs); err != nil {
		return false, fmt.Errorf("reading %s: %w", p, err)
	}
	return plumbing.ComputeHash(plumbing.BlobObject, content) != e.Hash, nil
}

// readIgnoreFile parses a gitignore-format file; a missing file has no patterns.
func readIgnoreFile(path string, domain []string) []gitignore.Pattern {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var ps []gitignore.Pattern
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimRight(s.Text(), "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	return ps
}

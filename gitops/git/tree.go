package git

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// checkPaths validates the keys of a file set: non-empty, clean, relative
// slash paths that stay inside the repository and never touch .git.
func checkPaths(files map[string][]byte) ([]string, error) {
	if len(files) == 0 {
		return nil, errors.New("no files to commit")
	}
	paths := make([]string, 0, len(files))
	for p, content := range files {
		if err := checkPath(p); err != nil {
			return nil, err
		}
		if content == nil {
			return nil, fmt.Errorf("%s: deleting files is not supported", p)
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths, nil
}

// checkPath validates one repository-relative path.
func checkPath(p string) error {
	if p == "." || !fs.ValidPath(p) || strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("invalid repository path %q: want a clean relative slash path inside the repository", p)
	}
	for _, part := range strings.Split(p, "/") {
		if strings.EqualFold(part, ".git") {
			return fmt.Errorf("invalid repository path %q: gitover never writes inside .git", p)
		}
	}
	return nil
}

// treeWriter writes blobs and trees into a store, remembering which objects
// it added (so a failed local commit can remove them again) and every
// object the new commit has that its parent may lack (what a push sends).
type treeWriter struct {
	s        storer.EncodedObjectStorer
	written  []plumbing.Hash // not in the store before
	produced []plumbing.Hash // every object put: edited blobs, trees on edited paths, the commit
}

// put stores an object unless the store already has it.
func (w *treeWriter) put(o plumbing.EncodedObject) (plumbing.Hash, error) {
	h := o.Hash()
	w.produced = append(w.produced, h)
	if w.s.HasEncodedObject(h) == nil {
		return h, nil
	}
	if _, err := w.s.SetEncodedObject(o); err != nil {
		return h, fmt.Errorf("writing object %s: %w", h, err)
	}
	w.written = append(w.written, h)
	return h, nil
}

// blob stores content as a blob.
func (w *treeWriter) blob(content []byte) (plumbing.Hash, error) {
	o := w.s.NewEncodedObject()
	o.SetType(plumbing.BlobObject)
	o.SetSize(int64(len(content)))
	wr, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := wr.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := wr.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return w.put(o)
}

// editNode is one directory level of a file set.
type editNode struct {
	files map[string][]byte
	dirs  map[string]*editNode
}

func newEditNode() *editNode {
	return &editNode{files: map[string][]byte{}, dirs: map[string]*editNode{}}
}

// apply writes base (nil: empty tree) with files replaced or added and
// returns the new root tree's hash. Only the trees on the edited paths are
// rewritten; everything else is shared with base.
func (w *treeWriter) apply(base *object.Tree, files map[string][]byte) (plumbing.Hash, error) {
	root := newEditNode()
	for p, content := range files {
		parts := strings.Split(p, "/")
		n := root
		for _, d := range parts[:len(parts)-1] {
			if n.dirs[d] == nil {
				n.dirs[d] = newEditNode()
			}
			n = n.dirs[d]
		}
		n.files[parts[len(parts)-1]] = content
	}
	return w.applyNode(base, root, "")
}

func (w *treeWriter) applyNode(base *object.Tree, n *editNode, dir string) (plumbing.Hash, error) {
	entries := map[string]object.TreeEntry{}
	if base != nil {
		for _, e := range base.Entries {
			entries[e.Name] = e
		}
	}
	for name, content := range n.files {
		p := dir + name
		if _, isDir := n.dirs[name]; isDir {
			return plumbing.ZeroHash, fmt.Errorf("%s: is both a file and a directory in the change", p)
		}
		mode := filemode.Regular
		if e, ok := entries[name]; ok {
			switch e.Mode {
			case filemode.Regular, filemode.Deprecated:
			case filemode.Executable:
				mode = filemode.Executable
			case filemode.Dir:
				return plumbing.ZeroHash, fmt.Errorf("%s: is a directory in the repository", p)
			case filemode.Symlink:
				return plumbing.ZeroHash, fmt.Errorf("%s: is a symbolic link in the repository; gitover does not write through links", p)
			default:
				return plumbing.ZeroHash, fmt.Errorf("%s: is a submodule in the repository", p)
			}
		}
		h, err := w.blob(content)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("%s: %w", p, err)
		}
		entries[name] = object.TreeEntry{Name: name, Mode: mode, Hash: h}
	}
	for name, child := range n.dirs {
		p := dir + name
		var sub *object.Tree
		if e, ok := entries[name]; ok {
			if e.Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("%s: is a file in the repository, not a directory", p)
			}
			t, err := object.GetTree(w.s, e.Hash)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("reading tree %s: %w", p, err)
			}
			sub = t
		}
		h, err := w.applyNode(sub, child, p+"/")
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
	}
	t := &object.Tree{Entries: make([]object.TreeEntry, 0, len(entries))}
	for _, e := range entries {
		t.Entries = append(t.Entries, e)
	}
	sort.Sort(object.TreeEntrySorter(t.Entries))
	o := w.s.NewEncodedObject()
	if err := t.Encode(o); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encoding tree %q: %w", dir, err)
	}
	return w.put(o)
}

// commit stores a commit object.
func (w *treeWriter) commit(c *object.Commit) (plumbing.Hash, error) {
	o := w.s.NewEncodedObject()
	if err := c.Encode(o); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encoding commit: %w", err)
	}
	return w.put(o)
}

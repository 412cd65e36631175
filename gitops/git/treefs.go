package git

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// treeFS is a read-only fs.FS over a commit's tree, reading objects straight
// from the repository's object store: no checkout, no work tree. Symbolic
// links are reported with fs.ModeSymlink and read as their target path;
// submodules appear as empty directories.
type treeFS struct {
	mu   sync.Mutex // go-git trees cache lookups in unsynchronised maps
	s    storer.EncodedObjectStorer
	root *object.Tree
	when time.Time
}

var (
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
)

func newTreeFS(s storer.EncodedObjectStorer, c *object.Commit) (*treeFS, error) {
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("reading tree of %s: %w", c.Hash, err)
	}
	return &treeFS{s: s, root: t, when: c.Committer.When}, nil
}

// lookup finds name's tree entry; the root is a directory with an empty name.
func (f *treeFS) lookup(op, name string) (object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return object.TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return object.TreeEntry{Mode: filemode.Dir, Hash: f.root.Hash}, nil
	}
	e, err := f.root.FindEntry(name)
	if err != nil {
		if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
			return object.TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		return object.TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return *e, nil
}

func (f *treeFS) info(name string, e object.TreeEntry) (*treeInfo, error) {
	fi := &treeInfo{name: path.Base(name), when: f.when}
	switch e.Mode {
	case filemode.Dir, filemode.Submodule:
		fi.mode = fs.ModeDir | 0o755
		return fi, nil
	case filemode.Executable:
		fi.mode = 0o755
	case filemode.Symlink:
		fi.mode = fs.ModeSymlink | 0o777
	default:
		fi.mode = 0o644
	}
	// The size is read from the object store only when asked for: finding
	// it opens the pack, and callers such as kustomize stat thousands of
	// paths without ever looking at a size.
	fi.sizeOf = func() int64 {
		f.mu.Lock()
		defer f.mu.Unlock()
		sz, err := f.s.EncodedObjectSize(e.Hash)
		if err != nil {
			return 0
		}
		return sz
	}
	fi.hash = e.Hash
	return fi, nil
}

// BlobHash returns the Git object hash of a file without reading it; the
// render cache fingerprints inputs with it.
func (f *treeFS) BlobHash(name string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("stat", name)
	if err != nil || e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
		return "", false
	}
	return e.Hash.String(), true
}

// Stat implements fs.StatFS.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return f.info(name, e)
}

// ReadFile implements fs.ReadFileFS.
func (f *treeFS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("read", name)
	if err != nil {
		return nil, err
	}
	return f.readBlob(name, e)
}

func (f *treeFS) readBlob(name string, e object.TreeEntry) ([]byte, error) {
	if e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	b, err := object.GetBlob(f.s, e.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	r, err := b.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

// ReadDir implements fs.ReadDirFS; entries are sorted by name.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readDir(name)
}

func (f *treeFS) readDir(name string) ([]fs.DirEntry, error) {
	e, err := f.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if e.Mode == filemode.Submodule {
		return nil, nil
	}
	if e.Mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	t, err := object.GetTree(f.s, e.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, 0, len(t.Entries))
	for _, c := range t.Entries {
		fi, err := f.info(path.Join(name, c.Name), c)
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(fi))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// Open implements fs.FS. Files are read into memory when opened.
func (f *treeFS) Open(name string) (fs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	fi, err := f.info(name, e)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		entries, err := f.readDir(name)
		if err != nil {
			return nil, err
		}
		return &treeDir{info: fi, entries: entries}, nil
	}
	data, err := f.readBlob(name, e)
	if err != nil {
		return nil, err
	}
	return &treeFile{info: fi, r: bytes.NewReader(data)}, nil
}

// hash returns the blob hash at name, or false when there is no file there.
func (f *treeFS) hash(name string) (plumbing.Hash, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.lookup("stat", name)
	if err != nil || e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
		return plumbing.ZeroHash, false
	}
	return e.Hash, true
}

type treeInfo struct {
	name   string
	sizeOf func() int64 // nil for directories
	hash   plumbing.Hash
	mode   fs.FileMode
	when   time.Time
}

func (i *treeInfo) Name() string { return i.name }
func (i *treeInfo) Size() int64 {
	if i.sizeOf == nil {
		return 0
	}
	return i.sizeOf()
}
func (i *treeInfo) Mode() fs.FileMode  { return i.mode }
func (i *treeInfo) ModTime() time.Time { return i.when }
func (i *treeInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *treeInfo) Sys() any           { return nil }

type treeFile struct {
	info *treeInfo
	r    *bytes.Reader
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *treeFile) Seek(off int64, whence int) (int64, error) {
	return f.r.Seek(off, whence)
}
func (f *treeFile) ReadAt(p []byte, off int64) (int, error) { return f.r.ReadAt(p, off) }
func (f *treeFile) Close() error                            { return nil }

type treeDir struct {
	info    *treeInfo
	entries []fs.DirEntry
	off     int
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *treeDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}

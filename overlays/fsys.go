package overlays

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// WithChanges returns base with files replaced or added: the repository as
// it will be after a change. base is not modified.
func WithChanges(base fs.FS, files map[string][]byte) fs.FS {
	o := &overlayFS{base: base, files: files, added: map[string][]string{}}
	for p := range files {
		for dir, name := path.Dir(p), path.Base(p); ; dir, name = path.Dir(dir), path.Base(dir) {
			if !contains(o.added[dir], name) {
				o.added[dir] = append(o.added[dir], name)
			}
			if dir == "." {
				break
			}
		}
	}
	return o
}

// overlayFS is a read-only fs.FS of a base tree plus changed files.
type overlayFS struct {
	base  fs.FS
	files map[string][]byte
	added map[string][]string // directory -> entries that files add
}

func (o *overlayFS) Open(name string) (fs.File, error) {
	if b, ok := o.files[name]; ok {
		return &memFile{Reader: bytes.NewReader(b), info: memInfo{name: path.Base(name), size: int64(len(b))}}, nil
	}
	if _, virtual := o.added[name]; virtual {
		if _, err := fs.Stat(o.base, name); errors.Is(err, fs.ErrNotExist) {
			entries, err := o.ReadDir(name)
			if err != nil {
				return nil, err
			}
			return &memDir{info: memInfo{name: path.Base(name), dir: true}, entries: entries}, nil
		}
	}
	return o.base.Open(name)
}

// BlobHash gives the Git hash of a changed file from its new content, and
// asks the base tree for the rest when it can answer without reading.
func (o *overlayFS) BlobHash(name string) (string, bool) {
	if b, ok := o.files[name]; ok {
		return gitBlobHash(b), true
	}
	if bh, ok := o.base.(blobHasher); ok {
		return bh.BlobHash(name)
	}
	return "", false
}

func (o *overlayFS) ReadFile(name string) ([]byte, error) {
	if b, ok := o.files[name]; ok {
		return b, nil
	}
	return fs.ReadFile(o.base, name)
}

func (o *overlayFS) Stat(name string) (fs.FileInfo, error) {
	if b, ok := o.files[name]; ok {
		return memInfo{name: path.Base(name), size: int64(len(b))}, nil
	}
	fi, err := fs.Stat(o.base, name)
	if errors.Is(err, fs.ErrNotExist) {
		if _, virtual := o.added[name]; virtual {
			return memInfo{name: path.Base(name), dir: true}, nil
		}
	}
	return fi, err
}

func (o *overlayFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(o.base, name)
	extra, virtual := o.added[name]
	if err != nil && !(virtual && errors.Is(err, fs.ErrNotExist)) {
		return nil, err
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name()] = true
	}
	for _, n := range extra {
		if have[n] {
			continue
		}
		full := path.Join(name, n)
		if name == "." {
			full = n
		}
		fi, err := o.Stat(full)
		if err != nil {
			return nil, err
		}
		entries = append(entries, fs.FileInfoToDirEntry(fi))
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (m memInfo) Name() string       { return m.name }
func (m memInfo) Size() int64        { return m.size }
func (m memInfo) ModTime() time.Time { return time.Time{} }
func (m memInfo) IsDir() bool        { return m.dir }
func (m memInfo) Sys() any           { return nil }
func (m memInfo) Mode() fs.FileMode {
	if m.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

type memFile struct {
	*bytes.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

type memDir struct {
	info    memInfo
	entries []fs.DirEntry
}

func (d *memDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *memDir) Read([]byte) (int, error)   { return 0, io.EOF }
func (d *memDir) Close() error               { return nil }
func (d *memDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 || n >= len(d.entries) {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, nil
}

// errReadOnly is what kustomize gets if it ever tries to write.
var errReadOnly = errors.New("gitover renders overlays from a read-only tree")

// kustomizeFS adapts an fs.FS to kustomize's filesys.FileSystem, read-only,
// with the repository root mounted at "/". It records every path kustomize
// looks at, so that a render whose inputs did not change need not run again.
type kustomizeFS struct {
	src    fs.FS
	looked map[string]bool // files and directories stat'ed or read
	listed map[string]bool // directories listed (a new entry there matters)
}

var _ filesys.FileSystem = (*kustomizeFS)(nil)

func newKustomizeFS(src fs.FS) *kustomizeFS {
	return &kustomizeFS{src: src, looked: map[string]bool{}, listed: map[string]bool{}}
}

// rel maps a kustomize path (absolute or relative to "/") to an fs.FS name.
func rel(p string) string {
	p = filepath.ToSlash(p)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	r := strings.TrimPrefix(path.Clean(p), "/")
	if r == "" {
		return "."
	}
	return r
}

func (k *kustomizeFS) stat(p string) (fs.FileInfo, error) {
	r := rel(p)
	k.looked[r] = true
	return fs.Stat(k.src, r)
}

func (k *kustomizeFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (k *kustomizeFS) Mkdir(string) error                  { return errReadOnly }
func (k *kustomizeFS) MkdirAll(string) error               { return errReadOnly }
func (k *kustomizeFS) RemoveAll(string) error              { return errReadOnly }
func (k *kustomizeFS) WriteFile(string, []byte) error      { return errReadOnly }

func (k *kustomizeFS) Open(p string) (filesys.File, error) {
	r := rel(p)
	k.looked[r] = true
	f, err := k.src.Open(r)
	if err != nil {
		return nil, err
	}
	return readOnlyFile{f}, nil
}

func (k *kustomizeFS) IsDir(p string) bool {
	fi, err := k.stat(p)
	return err == nil && fi.IsDir()
}

func (k *kustomizeFS) Exists(p string) bool {
	_, err := k.stat(p)
	return err == nil
}

func (k *kustomizeFS) ReadDir(p string) ([]string, error) {
	r := rel(p)
	k.listed[r] = true
	entries, err := fs.ReadDir(k.src, r)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func (k *kustomizeFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	abs := "/" + rel(p)
	if abs == "/." {
		abs = "/"
	}
	if k.IsDir(abs) {
		return filesys.ConfirmedDir(abs), "", nil
	}
	dir, file := path.Split(abs)
	dir = path.Clean(dir)
	if !k.IsDir(dir) {
		return "", "", &os.PathError{Op: "stat", Path: dir, Err: fs.ErrNotExist}
	}
	return filesys.ConfirmedDir(dir), file, nil
}

func (k *kustomizeFS) Glob(pattern string) ([]string, error) {
	r := rel(pattern)
	k.listed[path.Dir(r)] = true
	matches, err := fs.Glob(k.src, r)
	if err != nil {
		return nil, err
	}
	for i, m := range matches {
		matches[i] = "/" + m
	}
	return matches, nil
}

func (k *kustomizeFS) ReadFile(p string) ([]byte, error) {
	r := rel(p)
	k.looked[r] = true
	return fs.ReadFile(k.src, r)
}

func (k *kustomizeFS) Walk(p string, walkFn filepath.WalkFunc) error {
	root := rel(p)
	return fs.WalkDir(k.src, root, func(name string, d fs.DirEntry, err error) error {
		k.looked[name] = true
		abs := "/" + name
		if name == "." {
			abs = "/"
		}
		if err != nil {
			return walkFn(abs, nil, err)
		}
		if d.IsDir() {
			k.listed[name] = true
		}
		fi, ierr := d.Info()
		if ierr != nil {
			return walkFn(abs, nil, ierr)
		}
		return walkFn(abs, fi, nil)
	})
}

// affectedBy reports whether a render that looked at k's paths could see
// a difference after the given files change.
func (k *kustomizeFS) affectedBy(changed []string) bool {
	for _, p := range changed {
		if k.looked[p] || k.listed[path.Dir(p)] {
			return true
		}
	}
	return false
}

// readOnlyFile is a filesys.File over an fs.File.
type readOnlyFile struct{ fs.File }

func (readOnlyFile) Write([]byte) (int, error) { return 0, errReadOnly }

package overlays

import (
	"crypto/sha1" //nolint:gosec // Git's object hash, used as a content fingerprint, not for security
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/gitover/gitover/internal/version"
)

// RenderCache remembers successful renders by the content of every input
// the render read. A hit is only taken when each of those files (and each
// directory listing) is byte-identical to what the cached render saw, so a
// cached answer is exactly what kustomize would answer again. Failed
// renders are never cached.
//
// Why: kustomize costs milliseconds per overlay (most of it re-reading its
// own built-in transformer configuration on every run), so validating a
// 1,000-application repository from scratch takes seconds. The controller
// keeps a cache warm while it watches the repository; the CLI keeps one per
// repository on disk, so `gitover plan` followed by `gitover failover`
// renders each overlay once.
type RenderCache interface {
	// Lookup returns the cached entries for an overlay directory.
	Lookup(dir string) []CachedRender
	// Store adds an entry for an overlay directory.
	Store(dir string, r CachedRender)
}

// CachedRender is the part of a render the engine needs again.
type CachedRender struct {
	Kind      string            `json:"kind"`
	Resources int               `json:"resources"`
	Hooks     []string          `json:"hooks,omitempty"`
	Inputs    map[string]string `json:"inputs"` // path -> fingerprint (see fingerprint)
}

// maxVariants bounds the entries kept per directory (e.g. before and after
// a change, and after the way back).
const maxVariants = 4

// blobHasher is implemented by trees that know a file's Git object hash
// without reading it (a tree read from Git's object store).
type blobHasher interface {
	BlobHash(name string) (string, bool)
}

// gitBlobHash is the Git object hash of content, so that a file read from
// disk and the same file in a Git tree fingerprint alike.
func gitBlobHash(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// fingerprint identifies what a render saw at p: a file's Git blob hash, a
// directory's sorted entry names, or absence.
func fingerprint(tree fs.FS, p string, listed bool) string {
	fi, err := fs.Stat(tree, p)
	switch {
	case err != nil:
		return "-"
	case fi.IsDir() && listed:
		entries, err := fs.ReadDir(tree, p)
		if err != nil {
			return "?"
		}
		h := sha256.New()
		for _, e := range entries {
			h.Write([]byte(e.Name()))
			h.Write([]byte{0})
		}
		return "l:" + hex.EncodeToString(h.Sum(nil))
	case fi.IsDir():
		return "d"
	}
	if bh, ok := tree.(blobHasher); ok {
		if h, ok := bh.BlobHash(p); ok {
			return "g:" + h
		}
	}
	b, err := fs.ReadFile(tree, p)
	if err != nil {
		return "?"
	}
	return "g:" + gitBlobHash(b)
}

// toCache records a successful kustomize render with its inputs.
func toCache(tree fs.FS, r *rendered) (CachedRender, bool) {
	if r.err != nil || r.inputs == nil {
		return CachedRender{}, false
	}
	c := CachedRender{Kind: r.kind, Resources: r.resources, Inputs: map[string]string{}}
	for p := range r.inputs.looked {
		c.Inputs[p] = fingerprint(tree, p, false)
	}
	for p := range r.inputs.listed {
		c.Inputs["ls:"+p] = fingerprint(tree, p, true)
	}
	for h := range r.hooks {
		c.Hooks = append(c.Hooks, h)
	}
	sort.Strings(c.Hooks)
	return c, true
}

// fromCache returns a cached render of dir whose inputs are unchanged in tree.
func fromCache(cache RenderCache, tree fs.FS, dir string) *rendered {
	for _, c := range cache.Lookup(dir) {
		if !inputsMatch(tree, c.Inputs) {
			continue
		}
		r := &rendered{dir: dir, kind: c.Kind, resources: c.Resources, hooks: map[string]bool{}, inputs: newKustomizeFS(tree), cached: true}
		for p := range c.Inputs {
			if strings.HasPrefix(p, "ls:") {
				r.inputs.listed[strings.TrimPrefix(p, "ls:")] = true
			} else {
				r.inputs.looked[p] = true
			}
		}
		for _, h := range c.Hooks {
			r.hooks[h] = true
		}
		return r
	}
	return nil
}

func inputsMatch(tree fs.FS, inputs map[string]string) bool {
	for p, want := range inputs {
		listed := strings.HasPrefix(p, "ls:")
		if fingerprint(tree, strings.TrimPrefix(p, "ls:"), listed) != want {
			return false
		}
	}
	return len(inputs) > 0
}

// MemoryRenderCache is a RenderCache in memory, safe for concurrent use.
type MemoryRenderCache struct {
	mu      sync.Mutex
	entries map[string][]CachedRender
}

// NewMemoryRenderCache returns an empty in-memory cache.
func NewMemoryRenderCache() *MemoryRenderCache {
	return &MemoryRenderCache{entries: map[string][]CachedRender{}}
}

// Lookup implements RenderCache.
func (m *MemoryRenderCache) Lookup(dir string) []CachedRender {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]CachedRender(nil), m.entries[dir]...)
}

// Store implements RenderCache, keeping the newest maxVariants entries.
func (m *MemoryRenderCache) Store(dir string, r CachedRender) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := append([]CachedRender{r}, m.entries[dir]...)
	if len(list) > maxVariants {
		list = list[:maxVariants]
	}
	m.entries[dir] = list
}

// Len is the number of directories cached.
func (m *MemoryRenderCache) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// fileCacheFormat is the on-disk document of a FileRenderCache.
type fileCacheFormat struct {
	Version string                    `json:"version"` // gitover's; kustomize is pinned by it
	Entries map[string][]CachedRender `json:"entries"`
}

// FileRenderCache is a MemoryRenderCache loaded from and saved to one JSON
// file per repository. A file written by another gitover version is
// ignored. Save replaces the file atomically.
type FileRenderCache struct {
	*MemoryRenderCache
	path string
}

// OpenFileRenderCache loads the cache for a repository key (its work-tree
// path or URL) from dir, or starts an empty one.
func OpenFileRenderCache(dir, repoKey string) *FileRenderCache {
	sum := sha256.Sum256([]byte(repoKey))
	c := &FileRenderCache{MemoryRenderCache: NewMemoryRenderCache(), path: filepath.Join(dir, hex.EncodeToString(sum[:12])+".json")}
	b, err := os.ReadFile(c.path)
	if err != nil {
		return c
	}
	var doc fileCacheFormat
	if json.Unmarshal(b, &doc) == nil && doc.Version == version.Version && doc.Entries != nil {
		c.entries = doc.Entries
	}
	return c
}

// Save writes the cache file.
func (c *FileRenderCache) Save() error {
	c.mu.Lock()
	b, err := json.Marshal(fileCacheFormat{Version: version.Version, Entries: c.entries})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".render-cache-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}

// DefaultRenderCacheDir is where the CLI keeps render caches.
func DefaultRenderCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "gitover", "renders")
	}
	return filepath.Join(os.TempDir(), "gitover-renders")
}

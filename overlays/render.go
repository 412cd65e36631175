package overlays

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

// Source kinds, as Argo CD tells them apart.
const (
	sourceKustomize = "kustomize"
	sourceHelm      = "helm"
	sourceDirectory = "directory"
)

// kustomizationNames are the file names kustomize recognises, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustomizationFile returns the kustomization file of dir, or "".
func kustomizationFile(tree fs.FS, dir string) string {
	for _, n := range kustomizationNames {
		p := path.Join(dir, n)
		if fi, err := fs.Stat(tree, p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// sourceKind tells how Argo CD would build dir: kustomize, Helm or plain directory.
func sourceKind(tree fs.FS, dir string) string {
	if kustomizationFile(tree, dir) != "" {
		return sourceKustomize
	}
	if fi, err := fs.Stat(tree, path.Join(dir, "Chart.yaml")); err == nil && !fi.IsDir() {
		return sourceHelm
	}
	return sourceDirectory
}

// rendered summarises one render: enough to check invariants, small enough
// to keep thousands of them.
type rendered struct {
	dir       string
	kind      string
	resources int
	hooks     map[string]bool // Argo CD hook phases of gitover's disk-protection Jobs
	inputs    *kustomizeFS    // what the render looked at (kustomize only)
	cached    bool            // answered by the RenderCache
	err       error
}

// renderDir builds dir the way Argo CD would and summarises the result.
func renderDir(tree fs.FS, dir string) *rendered {
	r := &rendered{dir: dir, kind: sourceKind(tree, dir), hooks: map[string]bool{}}
	switch r.kind {
	case sourceKustomize:
		r.inputs = newKustomizeFS(tree)
		opts := krusty.MakeDefaultOptions()
		opts.LoadRestrictions = types.LoadRestrictionsRootOnly
		m, err := krusty.MakeKustomizer(opts).Run(r.inputs, "/"+dir)
		if err != nil {
			r.err = err
			return r
		}
		for _, res := range m.Resources() {
			r.resources++
			noteHook(r, res.GetKind(), res.GetLabels(), res.GetAnnotations())
		}
	case sourceDirectory, sourceHelm:
		// Argo CD reads a plain directory's manifests; for a Helm chart we
		// can only check that gitover's own template parses.
		base := dir
		if r.kind == sourceHelm {
			base = path.Join(dir, "templates")
		}
		entries, err := fs.ReadDir(tree, base)
		if err != nil {
			r.err = err
			return r
		}
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				continue
			}
			if r.kind == sourceHelm && n != protectionFileName {
				continue
			}
			b, err := fs.ReadFile(tree, path.Join(base, n))
			if err != nil {
				r.err = err
				return r
			}
			nodes, err := kio.FromBytes(b)
			if err != nil {
				r.err = fmt.Errorf("%s: %w", path.Join(base, n), err)
				return r
			}
			for _, node := range nodes {
				r.resources++
				noteHook(r, node.GetKind(), node.GetLabels(), node.GetAnnotations())
			}
		}
	}
	return r
}

// noteHook records a gitover disk-protection hook Job found in a render.
func noteHook(r *rendered, kind string, labels, annotations map[string]string) {
	if kind != "Job" || labels[labelComponent] != componentDiskProtection {
		return
	}
	for _, phase := range strings.Split(annotations[argoHookAnnotation], ",") {
		r.hooks[strings.TrimSpace(phase)] = true
	}
}

// renderAll renders dirs concurrently (one worker per CPU) and returns the
// results in the same order, and the deprecation warnings kustomize printed.
// It stops early when ctx is cancelled.
func renderAll(ctx context.Context, tree fs.FS, dirs []string, cache RenderCache) (out []*rendered, warnings []string, err error) {
	warnings = captureKustomizeWarnings(func() { out, err = renderEach(ctx, tree, dirs, cache) })
	return out, warnings, err
}

// renderCached answers from cache when every input is unchanged, and
// otherwise renders and remembers a successful, local-only result.
func renderCached(tree fs.FS, dir string, cache RenderCache) *rendered {
	if cache == nil {
		return renderDir(tree, dir)
	}
	if r := fromCache(cache, tree, dir); r != nil {
		return r
	}
	r := renderDir(tree, dir)
	if r.err == nil && r.inputs != nil && localOnly(tree, r.inputs) {
		if c, ok := toCache(tree, r); ok {
			cache.Store(dir, c)
		}
	}
	return r
}

// localOnly reports whether a render read nothing but repository files: a
// path kustomize looked for and did not find, other than a kustomization
// file name it probes, may be a remote base whose content Git does not pin.
func localOnly(tree fs.FS, in *kustomizeFS) bool {
	for p := range in.looked {
		if _, err := fs.Stat(tree, p); err != nil && !contains(kustomizationNames, path.Base(p)) {
			return false
		}
	}
	return true
}

// renderEach runs renderCached over dirs on one worker per CPU.
func renderEach(ctx context.Context, tree fs.FS, dirs []string, cache RenderCache) ([]*rendered, error) {
	out := make([]*rendered, len(dirs))
	workers := runtime.GOMAXPROCS(0)
	if workers > len(dirs) {
		workers = len(dirs)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = renderCached(tree, dirs[i], cache)
			}
		}()
	}
	var err error
feed:
	for i := range dirs {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return out, err
}

// stderrMu serialises captureKustomizeWarnings.
var stderrMu sync.Mutex

// captureKustomizeWarnings runs fn with os.Stderr swapped for a pipe:
// kustomize prints "# Warning: 'bases' is deprecated..." there for every
// render of an old-style kustomization (internal/target/kusttarget.go).
// Those lines are collected, once each; every other line written to
// os.Stderr meanwhile is passed through unchanged.
func captureKustomizeWarnings(fn func()) []string {
	stderrMu.Lock()
	defer stderrMu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		fn()
		return nil
	}
	orig := os.Stderr
	done := make(chan []string, 1)
	go func() {
		seen := map[string]bool{}
		var warnings []string
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "# Warning: ") {
				fmt.Fprintln(orig, line)
				continue
			}
			if msg := strings.TrimPrefix(line, "# Warning: "); !seen[msg] {
				seen[msg] = true
				warnings = append(warnings, msg)
			}
		}
		_, _ = io.Copy(orig, r)
		done <- warnings
	}()
	os.Stderr = w
	defer func() {
		os.Stderr = orig
		_ = w.Close()
	}()
	fn()
	os.Stderr = orig
	_ = w.Close()
	warnings := <-done
	_ = r.Close()
	sort.Strings(warnings)
	return warnings
}

// renderError turns a failed render into a FileError naming the overlay.
func renderError(r *rendered, when string) error {
	msg := r.err.Error()
	var pe *fs.PathError
	if errors.As(r.err, &pe) && errors.Is(r.err, fs.ErrNotExist) {
		msg = fmt.Sprintf("%s does not exist", pe.Path)
	}
	what := "kustomize build failed"
	if r.kind != sourceKustomize {
		what = "manifests do not parse"
	}
	return fileErr(ErrRender, r.dir, 0, "", "%s %s: %s", what, when, msg)
}

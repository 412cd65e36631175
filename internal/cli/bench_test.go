package cli

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/internal/gitserver"
	"github.com/gitover/gitover/internal/monorepo"
	"github.com/gitover/gitover/overlays"
)

// BenchmarkRemoteFailover1000Apps measures what `gitover failover --repo
// URL` does for a 1,000-application monorepo served by a real smart-HTTP Git
// server, from warm caches (the Git clone and the render cache already hold
// the repository, as they do in the controller and after a first run): fetch,
// plan and validate the failover of every application, commit, push. The
// iterations alternate dr2 and dr1, so each one moves all 1,000 applications.
func BenchmarkRemoteFailover1000Apps(b *testing.B) {
	ctx := context.Background()
	work := b.TempDir()
	src := filepath.Join(work, "src")
	if _, err := monorepo.Write(src, monorepo.Options{Apps: 1000}); err != nil {
		b.Fatal(err)
	}
	files := map[string][]byte{}
	if err := fs.WalkDir(os.DirFS(src), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files[p], err = os.ReadFile(filepath.Join(src, p))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	root := filepath.Join(work, "srv")
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	bare, err := gitserver.InitBare(root, "mono.git", "main")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := gitserver.CommitFiles(ctx, bare, "main", files, "1,000 applications"); err != nil {
		b.Fatal(err)
	}
	srv, err := gitserver.Start(ctx, root, gitserver.Options{Username: "ops", Password: "pw"})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	pass := filepath.Join(work, "pw")
	if err := os.WriteFile(pass, []byte("pw"), 0o600); err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	s := Streams{Out: &out, Err: &out}
	ro := repoOptions{plans: []string{filepath.Join(src, monorepo.PlansDir)}, repo: srv.URL("mono.git"), output: "text", renderCache: filepath.Join(work, "renders")}
	rem := remoteOptions{cacheDir: filepath.Join(work, "git"), waitTimeout: 0}
	rem.git.Username, rem.git.PasswordFile = "ops", pass
	move := func(to string) {
		out.Reset()
		if err := runRemote(ctx, s, ro, commitOptions{}, rem, overlays.Request{Action: v1alpha1.ActionFailover, Target: to}); err != nil {
			b.Fatalf("failover to %s: %v\n%s", to, err, out.String())
		}
		if !strings.Contains(out.String(), "pushed to") {
			b.Fatalf("nothing pushed:\n%s", out.String())
		}
	}
	// Warm the clone and the render cache for both states, as a controller
	// watching the repository (or a first run) does.
	move("dr2")
	move("dr1")
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			move("dr2")
		} else {
			move("dr1")
		}
	}
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}

// cpuSeconds is this process's user+system CPU time; unlike wall time it
// does not grow when other processes share the cores. (The Git server's
// processes are children and not counted.)
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

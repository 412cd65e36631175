package overlays

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gitover/gitover/api/v1alpha1"
	"github.com/gitover/gitover/internal/planfile"
)

var update = flag.Bool("update", false, "rewrite the golden diffs in testdata/golden")

// fixtures are the sample repositories under testdata/repos with their plans.
var fixtures = []struct {
	name, repo, plan string
	sites            [2]string // active site, other site
}{
	{"seed004", "seed004", "seed004.yaml", [2]string{"dr1", "dr2"}},
	{"single", "single", "single.yaml", [2]string{"east", "west"}},
	{"demo-dual", "demo", "demo-dual.yaml", [2]string{"dr1", "dr2"}},
	{"demo-single", "demo", "demo-single.yaml", [2]string{"dr1", "dr2"}},
}

// loadFixture reads a fixture repository into memory.
func loadFixture(t *testing.T, repo string) fstest.MapFS {
	t.Helper()
	root := filepath.Join("..", "testdata", "repos", repo)
	m := fstest.MapFS{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = &fstest.MapFile{Data: b}
		return err
	}))
	return m
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./overlays -run Golden -update")
	assert.Equal(t, string(want), got, "golden %s differs; review, then run with -update", name)
}

func TestGoldenRewrites(t *testing.T) {
	ctx := context.Background()
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			plans, err := planfile.Load(filepath.Join("..", "testdata", "plans", fx.plan))
			require.NoError(t, err)
			repo := loadFixture(t, fx.repo)

			active, err := Inspect(repo, plans)
			require.NoError(t, err)
			for _, site := range active {
				require.Equal(t, fx.sites[0], site)
			}

			protect, err := Plan(ctx, repo, plans, Request{Action: v1alpha1.ActionProtect})
			require.NoError(t, err)
			golden(t, fx.name+".protect.diff", protect.Diff())
			protected := apply(t, repo, protect)
			again, err := Plan(ctx, protected, plans, Request{Action: v1alpha1.ActionProtect})
			require.NoError(t, err)
			assert.True(t, again.Empty(), "protecting twice changes nothing")

			fo, err := Plan(ctx, protected, plans, Request{Action: v1alpha1.ActionFailover, Target: fx.sites[1]})
			require.NoError(t, err)
			golden(t, fx.name+".failover.diff", fo.Diff())
			assert.False(t, hasWarning(fo, "had no up-to-date disk protection"), "protected beforehand")
			moved := apply(t, protected, fo)

			back, err := Plan(ctx, moved, plans, Request{Action: v1alpha1.ActionRelocate, Target: fx.sites[0]})
			require.NoError(t, err)
			restored := apply(t, moved, back)
			for p, f := range protected {
				assert.Equal(t, string(f.Data), string(restored[p].Data), "%s is byte-identical after failover and relocation", p)
			}
		})
	}
}

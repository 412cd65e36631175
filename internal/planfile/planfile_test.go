package planfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const good = `apiVersion: gitover.io/v1alpha1
kind: DRPlan
metadata: {name: NAME, namespace: ns}
spec:
  clusters:
    labelKey: cluster-role
    inactiveValue: invalid
    sites: [{name: dr1, labelValue: primary}, {name: dr2, labelValue: secondary}]
  placements:
  - {file: hub/p.yaml, name: p}
`

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "plans")
	require.NoError(t, os.Mkdir(sub, 0o755))
	a := write(t, dir, "a.yaml", "# leading comment\n---\n"+replace(good, "a")+"---\n"+replace(good, "b"))
	write(t, sub, "c.yaml", replace(good, "c"))
	write(t, sub, "README.md", "not a plan")

	plans, err := Load(a, sub)
	require.NoError(t, err)
	var names []string
	for _, p := range plans {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"a", "b", "c"}, names)
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct {
		content string
		want    []string
	}{
		"unknown field":   {replace(good, "a") + "  colour: blue\n", []string{"document 1", `not a valid DRPlan: unknown field "colour"`}},
		"wrong kind":      {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", []string{"want apiVersion gitover.io/v1alpha1, kind DRPlan"}},
		"invalid plan":    {replace(good, "a")[:len(replace(good, "a"))-len("  - {file: hub/p.yaml, name: p}\n")] + "  - {file: /abs.yaml, name: p}\n", []string{"must be a relative"}},
		"not yaml":        {"a: [", []string{"not valid YAML"}},
		"empty":           {"# nothing\n", []string{"no DRPlan in the file"}},
		"duplicate names": {replace(good, "a") + "---\n" + replace(good, "a"), []string{"DRPlan a is also defined in"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := write(t, dir, "plan.yaml", tc.content)
			_, err := Load(p)
			require.Error(t, err)
			assert.Contains(t, err.Error(), p)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := Load(filepath.Join(dir, "missing.yaml"))
	assert.ErrorContains(t, err, "missing.yaml")
	_, err = Load()
	assert.ErrorContains(t, err, "--plan")
}

func replace(s, name string) string {
	out := []byte{}
	for i := 0; i < len(s); i++ {
		if i+4 <= len(s) && s[i:i+4] == "NAME" {
			out = append(out, name...)
			i += 3
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}

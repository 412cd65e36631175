package overlays

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// firstValue returns the value node of key in the first document's root.
func firstValue(t *testing.T, f *yamlFile, key string) *yaml.Node {
	t.Helper()
	root := f.docs[0].Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key {
			return root.Content[i+1]
		}
	}
	t.Fatalf("no key %s", key)
	return nil
}

func TestSetScalarKeepsEverythingElse(t *testing.T) {
	cases := []struct {
		name, src, key, value, want string
	}{
		{"plain", "a: primary # keep\nb: 1\n", "a", "invalid", "a: invalid # keep\nb: 1\n"},
		{"double quoted", "a: \"primary\"\n", "a", "sec\"ond", "a: \"sec\\\"ond\"\n"},
		{"single quoted", "a: 'primary'\n", "a", "it's", "a: 'it''s'\n"},
		{"plain value that must be quoted", "a: primary\n", "a", "yes", "a: \"yes\"\n"},
		{"plain value that looks like a number", "a: primary\n", "a", "1.5", "a: \"1.5\"\n"},
		{"tagged", "a: !!str primary\n", "a", "invalid", "a: !!str invalid\n"},
		{"non-ASCII before the value", "é: primary\n", "é", "invalid", "é: invalid\n"},
		{"no trailing newline", "a: primary", "a", "invalid", "a: invalid"},
		{"CRLF", "a: primary\r\nb: x\r\n", "a", "invalid", "a: invalid\r\nb: x\r\n"},
		{"flow mapping", "a: {k: primary}\n", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseYAMLFile("f.yaml", []byte(tc.src))
			require.NoError(t, err)
			if tc.key == "" {
				// flow mapping: edit the nested value
				m := firstValue(t, f, "a")
				require.NoError(t, f.setScalar(m.Content[1], "invalid", true))
				out, err := f.result()
				require.NoError(t, err)
				assert.Equal(t, "a: {k: invalid}\n", string(out))
				return
			}
			require.NoError(t, f.setScalar(firstValue(t, f, tc.key), tc.value, false))
			out, err := f.result()
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(out))
		})
	}
}

func TestSetScalarRefusesWhatItCannotSpliceSafely(t *testing.T) {
	for name, src := range map[string]string{
		"block literal": "a: |\n  primary\n",
		"folded plain":  "a: primary\n  more\n",
	} {
		t.Run(name, func(t *testing.T) {
			f, err := parseYAMLFile("f.yaml", []byte(src))
			require.NoError(t, err)
			err = f.setScalar(firstValue(t, f, "a"), "invalid", false)
			require.ErrorIs(t, err, ErrUnsupported)
			assert.Contains(t, err.Error(), "f.yaml:1")
		})
	}
}

func TestAppendKeepsListStyle(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"compact block", "resources:\n- a.yaml\n- b.yaml # last\nnamespace: x\n", "resources:\n- a.yaml\n- b.yaml # last\n- new.yaml\nnamespace: x\n"},
		{"indented block", "resources:\n  -   a.yaml\n", "resources:\n  -   a.yaml\n  -   new.yaml\n"},
		{"block at end of file without newline", "resources:\n- a.yaml", "resources:\n- a.yaml\n- new.yaml"},
		{"flow", "resources: [a.yaml, \"b.yaml\"]\n", "resources: [a.yaml, \"b.yaml\", new.yaml]\n"},
		{"empty flow", "resources: [ ]\n", "resources: [new.yaml]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseYAMLFile("k.yaml", []byte(tc.src))
			require.NoError(t, err)
			require.NoError(t, f.appendScalar(firstValue(t, f, "resources"), "new.yaml"))
			out, err := f.result()
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(out))
		})
	}
}

func TestAddListKeyFollowsTheFilesIndentation(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"compact":  {"bases:\n- ../base\n", "bases:\n- ../base\nresources:\n- new.yaml\n"},
		"indented": {"bases:\n  - ../base\n", "bases:\n  - ../base\nresources:\n  - new.yaml\n"},
		"no lists": {"namespace: x", "namespace: x\nresources:\n- new.yaml\n"},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := parseYAMLFile("k.yaml", []byte(tc.src))
			require.NoError(t, err)
			require.NoError(t, f.addListKey(f.docs[0].Content[0], "resources", "new.yaml"))
			out, err := f.result()
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(out))
		})
	}
}

func TestResultCatchesABrokenSplice(t *testing.T) {
	f, err := parseYAMLFile("f.yaml", []byte("a: primary\n"))
	require.NoError(t, err)
	n := firstValue(t, f, "a")
	require.NoError(t, f.setScalar(n, "invalid", false))
	n.Value = "something else" // the tree and the bytes now disagree
	_, err = f.result()
	require.ErrorIs(t, err, ErrInternal)
}

func TestFieldPath(t *testing.T) {
	steps, err := parseFieldPath("spec.endpoints[dnsName=shop.example.com].targets[0]")
	require.NoError(t, err)
	assert.Equal(t, "spec.endpoints[dnsName=shop.example.com].targets[0]", formatSteps(steps))
	for _, bad := range []string{"", "spec..x", "a[", "a[-1]", "a[x]", "a[=v]"} {
		_, err := parseFieldPath(bad)
		assert.Error(t, err, bad)
	}
	f, err := parseYAMLFile("d.yaml", []byte("spec:\n  endpoints:\n  - dnsName: a\n    targets: [1.1.1.1]\n  - dnsName: b\n    targets: [2.2.2.2]\n"))
	require.NoError(t, err)
	steps, _ = parseFieldPath("spec.endpoints[dnsName=b].targets[0]")
	v, err := lookupField(f.docs[0].Content[0], steps)
	require.NoError(t, err)
	assert.Equal(t, "2.2.2.2", v.node.Value)
	assert.True(t, v.inFlow)
	steps, _ = parseFieldPath("spec.endpoints[dnsName=c].targets[0]")
	_, err = lookupField(f.docs[0].Content[0], steps)
	assert.ErrorContains(t, err, "no element matches")
}

package forge

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBranchName(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name   string
		plans  []string
		action string
		target string
		base   string
		want   string
	}{
		{"one plan", []string{"shop"}, "Failover", "dr2", sha, "gitover/shop/failover-dr2-0123456789ab"},
		{"relocate", []string{"shop"}, "Relocate", "dr1", sha, "gitover/shop/relocate-dr1-0123456789ab"},
		{"upper-case SHA", []string{"shop"}, "Failover", "dr2", strings.ToUpper(sha), "gitover/shop/failover-dr2-0123456789ab"},
		{"short base kept whole", []string{"shop"}, "Failover", "dr2", "abc123", "gitover/shop/failover-dr2-abc123"},
		{"no base", []string{"shop"}, "Protect", "dr1", "", "gitover/shop/protect-dr1"},
		{"several plans hash", []string{"shop", "db"}, "Failover", "dr2", sha, "gitover/plans-" + shortHash("db\nshop", 10) + "/failover-dr2-0123456789ab"},
		{"duplicates collapse to one", []string{"shop", "shop"}, "Failover", "dr2", sha, "gitover/shop/failover-dr2-0123456789ab"},
		{"dots in a plan name stay", []string{"shop.v2"}, "Failover", "dr2", sha, "gitover/shop.v2/failover-dr2-0123456789ab"},
		{"site with spaces and colons", []string{"shop"}, "Failover", "DR 2: east", sha,
			"gitover/shop/failover-dr-2-east-" + shortHash("DR 2: east", 6) + "-0123456789ab"},
		{"hostile characters", []string{"..evil~^:?*[\\"}, "Failover", "x@{y}", sha,
			"gitover/evil-" + shortHash("..evil~^:?*[\\", 6) + "/failover-x-y-" + shortHash("x@{y}", 6) + "-0123456789ab"},
		{".lock suffix", []string{"shop.lock"}, "Failover", "dr2", sha, "gitover/shop-" + shortHash("shop.lock", 6) + "/failover-dr2-0123456789ab"},
		{"no plan", nil, "Failover", "dr2", sha, "gitover/none/failover-dr2-0123456789ab"},
		{"long target cut", []string{"shop"}, "Failover", strings.Repeat("a", 80), sha,
			"gitover/shop/failover-" + strings.Repeat("a", 48) + "-" + shortHash(strings.Repeat("a", 80), 6) + "-0123456789ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BranchName(tt.plans, tt.action, tt.target, tt.base)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, got, BranchName(tt.plans, tt.action, tt.target, tt.base), "deterministic")
			assertValidRef(t, got)
		})
	}
}

func TestBranchNameOrderAndDistinctness(t *testing.T) {
	const sha = "0123456789ab"
	assert.Equal(t, BranchName([]string{"a", "b", "c"}, "Failover", "dr2", sha), BranchName([]string{"c", "a", "b"}, "Failover", "dr2", sha))
	seen := map[string]string{}
	for _, in := range [][]string{{"a", "b"}, {"a", "c"}, {"ab"}, {"a b"}, {"a_b"}, {"a-b"}} {
		got := BranchName(in, "Failover", "dr2", sha)
		key := strings.Join(in, ",")
		for k, v := range seen {
			assert.NotEqual(t, v, got, "%q and %q share a branch", k, key)
		}
		seen[key] = got
	}
	assert.NotEqual(t, BranchName([]string{"shop"}, "Failover", "dr2", "aaaaaaaaaaaa"), BranchName([]string{"shop"}, "Failover", "dr2", "bbbbbbbbbbbb"))
	assert.NotEqual(t, BranchName([]string{"shop"}, "Failover", "dr2", sha), BranchName([]string{"shop"}, "Relocate", "dr2", sha))
}

// assertValidRef checks git's own rules (git check-ref-format --branch)
// when git is installed, and the main ones by hand in any case.
func assertValidRef(t *testing.T, name string) {
	t.Helper()
	for _, bad := range []string{"..", "@{", "//", "\\", " ", "~", "^", ":", "?", "*", "["} {
		assert.NotContains(t, name, bad)
	}
	for _, part := range strings.Split(name, "/") {
		assert.NotEmpty(t, part)
		assert.False(t, strings.HasPrefix(part, "."), part)
		assert.False(t, strings.HasSuffix(part, ".lock"), part)
	}
	assert.False(t, strings.HasSuffix(name, "."))
	assert.Less(t, len(name), 255)
	if git, err := exec.LookPath("git"); err == nil {
		out, err := exec.Command(git, "check-ref-format", "--branch", name).CombinedOutput()
		assert.NoError(t, err, "git check-ref-format --branch %q: %s", name, out)
	}
}

package git

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTrailers(t *testing.T) {
	plan := [2]string{TrailerPlan, "shop"}
	target := [2]string{TrailerTarget, "dr2"}
	tests := []struct {
		name string
		msg  string
		kv   [][2]string
		want string
	}{
		{"subject only", "Fail over shop", [][2]string{plan, target},
			"Fail over shop\n\nGitover-Plan: shop\nGitover-Target: dr2\n"},
		{"subject and body", "Fail over shop\n\nBecause dr1 is down.\n\n", [][2]string{plan},
			"Fail over shop\n\nBecause dr1 is down.\n\nGitover-Plan: shop\n"},
		{"joins an existing trailer block", "Subject\n\nSigned-off-by: A <a@b>", [][2]string{plan},
			"Subject\n\nSigned-off-by: A <a@b>\nGitover-Plan: shop\n"},
		{"a subject that looks like a trailer is not a block", "Fix: thing", [][2]string{plan},
			"Fix: thing\n\nGitover-Plan: shop\n"},
		{"values are single-line", "S", [][2]string{{TrailerPlan, "a\nb  c"}},
			"S\n\nGitover-Plan: a b c\n"},
		{"keys are sanitised", "S", [][2]string{{"Gitover Plan:", "x"}},
			"S\n\nGitoverPlan: x\n"},
		{"no trailers", "S\n", nil, "S\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Trailers(tc.msg, tc.kv...))
		})
	}
}

func TestParseTrailers(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		want    map[string][]string
		gitover bool
	}{
		{"ours", "Fail over\n\nbody\n\nGitover-Plan: shop\nGitover-Action: Failover\nGitover-Target: dr2\n",
			map[string][]string{"Gitover-Plan": {"shop"}, "Gitover-Action": {"Failover"}, "Gitover-Target": {"dr2"}}, true},
		{"keys are canonicalised, repeats kept", "S\n\ngitover-plan: a\nGITOVER-PLAN: b\n",
			map[string][]string{"Gitover-Plan": {"a", "b"}}, true},
		{"continuation lines", "S\n\nGitover-Plan: a\n  continued\n",
			map[string][]string{"Gitover-Plan": {"a continued"}}, true},
		{"subject only", "Gitover-Plan: shop\n", nil, false},
		{"not the last paragraph", "S\n\nGitover-Plan: shop\n\nplain text\n", nil, false},
		{"foreign trailers", "S\n\nSigned-off-by: A <a@b>\n",
			map[string][]string{"Signed-Off-By": {"A <a@b>"}}, false},
		{"mixed block with ours", "S\n\nGitover-Plan: shop\nsome note\nGitover-Target: dr2\n",
			map[string][]string{"Gitover-Plan": {"shop"}, "Gitover-Target": {"dr2"}}, true},
		{"prose with a colon", "S\n\nNote: this is prose\nand more prose\n", nil, false},
		{"CRLF", "S\r\n\r\nGitover-Plan: shop\r\n", map[string][]string{"Gitover-Plan": {"shop"}}, true},
		{"empty", "", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseTrailers(tc.msg)
			if tc.want == nil {
				assert.Empty(t, got)
			} else {
				assert.Equal(t, tc.want, got)
			}
			assert.Equal(t, tc.gitover, IsGitoverMessage(tc.msg))
		})
	}
	// Round trip.
	msg := Trailers("Fail over shop to dr2\n\nPlan shop.", [2]string{TrailerPlan, "shop"}, [2]string{TrailerAction, "Failover"})
	assert.Equal(t, map[string][]string{"Gitover-Plan": {"shop"}, "Gitover-Action": {"Failover"}}, ParseTrailers(msg))
}

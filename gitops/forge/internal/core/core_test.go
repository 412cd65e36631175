package core

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfterFromHeader(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	epoch := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{"Retry-After seconds", map[string]string{"Retry-After": "30"}, 30 * time.Second, true},
		{"Retry-After HTTP date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second, true},
		{"Retry-After wins over reset", map[string]string{"Retry-After": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(time.Hour)}, 5 * time.Second, true},
		{"GitHub primary reset", map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(10 * time.Minute)}, 10 * time.Minute, true},
		{"GitHub reset ignored while requests remain", map[string]string{"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": epoch(10 * time.Minute)}, 0, false},
		{"GitLab RateLimit-Reset", map[string]string{"RateLimit-Reset": epoch(45 * time.Second)}, 45 * time.Second, true},
		{"reset in the past", map[string]string{"RateLimit-Reset": epoch(-time.Minute)}, 0, true},
		{"garbage", map[string]string{"Retry-After": "soon", "RateLimit-Reset": "later"}, 0, false},
		{"nothing", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			got, ok := RetryAfterFromHeader(h, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestPick(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	st := func(n int, s State, h int) Status {
		return Status{Number: n, State: s, UpdatedAt: t0.Add(time.Duration(h) * time.Hour)}
	}
	tests := []struct {
		name string
		in   []Status
		want int
	}{
		{"none", nil, 0},
		{"open beats newer finished", []Status{st(1, StateOpen, 0), st(2, StateMerged, 5), st(3, StateClosed, 6)}, 1},
		{"newest open of several", []Status{st(1, StateOpen, 0), st(2, StateOpen, 1)}, 2},
		{"most recently updated finished", []Status{st(1, StateMerged, 3), st(2, StateClosed, 1)}, 1},
		{"tie broken by number", []Status{st(1, StateClosed, 1), st(2, StateClosed, 1)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Pick(tt.in)
			if tt.want == 0 {
				assert.Nil(t, got)
				return
			}
			assert.Equal(t, tt.want, got.Number)
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		p    Proposal
		want string
	}{
		{Proposal{Base: "main", Head: "gitover/x", Title: "t"}, ""},
		{Proposal{Head: "gitover/x", Title: "t"}, "base branch"},
		{Proposal{Base: "main", Title: "t"}, "head branch"},
		{Proposal{Base: "main", Head: "x"}, "title"},
		{Proposal{Base: "main", Head: "main", Title: "t"}, "both"},
	}
	for _, tt := range tests {
		err := Validate(tt.p)
		if tt.want == "" {
			assert.NoError(t, err)
			continue
		}
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorContains(t, err, tt.want)
	}
}

func TestRateLimitErrorMessage(t *testing.T) {
	err := &RateLimitError{Forge: "GitLab", RetryAfter: 1500 * time.Millisecond, Message: "Retry later"}
	assert.Equal(t, "GitLab rate limit exceeded; retry after 2s (Retry later)", err.Error())
	rl, ok := AsRateLimit(wrapErr(err))
	assert.True(t, ok)
	assert.Same(t, err, rl)
}

type wrapped struct{ err error }

func (w wrapped) Error() string { return "doing: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func wrapErr(err error) error { return wrapped{err} }

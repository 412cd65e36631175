package controllers

import (
	"sync"
	"time"

	"github.com/gitover/gitover/gitops/forge"
)

// forgeGate remembers, per forge repository, until when a rate limit
// forbids calling the API, so that neither polling nor webhook-triggered
// reconciles call before the forge allows it. After a restart the first
// call may be refused again, which re-arms the gate.
type forgeGate struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// newForgeGate returns an open gate.
func newForgeGate() *forgeGate { return &forgeGate{until: map[string]time.Time{}} }

// wait returns how long calls to key must still wait (0: go ahead).
func (g *forgeGate) wait(key string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d := g.until[key].Sub(now); d > 0 {
		return d
	}
	delete(g.until, key)
	return 0
}

// limited closes the gate of key when err is a rate-limit answer and
// returns how long to wait (ok false when err is something else).
func (g *forgeGate) limited(key string, err error, now time.Time) (time.Duration, bool) {
	rl, ok := forge.AsRateLimit(err)
	if !ok {
		return 0, false
	}
	d := rl.RetryAfter
	if d <= 0 {
		d = time.Second
	}
	g.mu.Lock()
	if t := now.Add(d); t.After(g.until[key]) {
		g.until[key] = t
	}
	g.mu.Unlock()
	return d, true
}

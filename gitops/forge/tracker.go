package forge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// TrackerOptions tune a Tracker.
type TrackerOptions struct {
	// PollInterval is how often a request is read when no webhook arrives;
	// default 30s.
	PollInterval time.Duration
	// Jitter spreads polls by ±Jitter×PollInterval so that many waiters do
	// not call the forge in step; default 0.1, at most 0.5.
	Jitter float64
	Log    logr.Logger
}

// Tracker waits for requests to be merged or closed. Webhooks come first:
// the receiver calls Notify or NotifyHead and the waiting request is read
// at once. Polling is the fallback. A rate-limited answer postpones the
// next read until the forge allows it (bounded by the context), whatever
// arrives in between. The forge's answer is the truth: a notification only
// triggers a read, so a forged or stale webhook cannot end a wait.
//
// One Tracker serves one Provider (one repository); request numbers are
// only unique within a repository.
type Tracker struct {
	provider Provider
	opts     TrackerOptions

	mu      sync.Mutex
	waiters map[*waiter]struct{}
}

type waiter struct {
	number int
	head   string
	wake   chan struct{} // buffered(1): notifications coalesce, none is lost
}

// NewTracker returns a Tracker reading requests through p.
func NewTracker(p Provider, opts TrackerOptions) *Tracker {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 30 * time.Second
	}
	switch {
	case opts.Jitter == 0:
		opts.Jitter = 0.1
	case opts.Jitter < 0:
		opts.Jitter = 0
	case opts.Jitter > 0.5:
		opts.Jitter = 0.5
	}
	return &Tracker{provider: p, opts: opts, waiters: map[*waiter]struct{}{}}
}

// Notify asks for an immediate read of request number (a webhook said it
// changed). It never blocks.
func (t *Tracker) Notify(number int) {
	t.notify(func(w *waiter) bool { return w.number == number })
}

// NotifyHead asks for an immediate read of the request whose head branch
// is head. It never blocks.
func (t *Tracker) NotifyHead(head string) {
	t.notify(func(w *waiter) bool { return w.head != "" && w.head == head })
}

func (t *Tracker) notify(match func(*waiter) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for w := range t.waiters {
		if match(w) {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Wait returns once the request described by st (as Ensure returned it) is
// merged or closed, with its final Status: State merged and MergeCommit
// set, or State closed. It returns st itself if that is already final. It
// stops with an error when ctx ends, when a rate limit lasts beyond ctx's
// deadline, or when the forge answers that the token or request is not
// valid (ErrUnauthorized, ErrForbidden, ErrNotFound); other failures are
// logged and retried at the poll interval.
func (t *Tracker) Wait(ctx context.Context, st Status) (Status, error) {
	if st.State.Final() {
		return st, nil
	}
	if st.Number <= 0 {
		return Status{}, fmt.Errorf("waiting for a request: no request number: %w", ErrInvalid)
	}
	w := &waiter{number: st.Number, head: st.Head, wake: make(chan struct{}, 1)}
	t.mu.Lock()
	t.waiters[w] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.waiters, w)
		t.mu.Unlock()
	}()

	log := t.opts.Log.WithValues("forge", t.provider.Name(), "number", st.Number, "head", st.Head)
	for {
		// This read answers every notification received so far; one that
		// arrives while it is in flight triggers another.
		select {
		case <-w.wake:
		default:
		}
		cur, err := t.provider.Get(ctx, st.Number)
		var delay time.Duration
		switch {
		case err == nil:
			if cur.State.Final() {
				log.Info("request finished", "state", cur.State, "mergeCommit", cur.MergeCommit)
				return cur, nil
			}
			if w.head == "" && cur.Head != "" {
				t.mu.Lock()
				w.head = cur.Head
				t.mu.Unlock()
			}
			delay = t.jittered()
		case ctx.Err() != nil:
			return Status{}, fmt.Errorf("waiting for request %d: %w", st.Number, ctx.Err())
		case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrForbidden), errors.Is(err, ErrNotFound):
			return Status{}, fmt.Errorf("waiting for request %d: %w", st.Number, err)
		default:
			if rl, ok := AsRateLimit(err); ok {
				if dl, has := ctx.Deadline(); has && time.Until(dl) < rl.RetryAfter {
					return Status{}, fmt.Errorf("waiting for request %d: rate limited beyond the deadline: %w", st.Number, err)
				}
				log.Info("rate limited; waiting before the next read", "retryAfter", rl.RetryAfter)
				// Nothing may call the forge before the limit resets, so
				// notifications only shorten the wait afterwards.
				if err := sleep(ctx, rl.RetryAfter); err != nil {
					return Status{}, fmt.Errorf("waiting for request %d: %w", st.Number, err)
				}
				continue
			}
			log.Error(err, "reading the request failed; will retry")
			delay = t.jittered()
		}

		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return Status{}, fmt.Errorf("waiting for request %d: %w", st.Number, ctx.Err())
		case <-w.wake:
			timer.Stop()
			log.V(1).Info("notified; reading the request now")
		case <-timer.C:
		}
	}
}

// jittered is the poll interval spread by ±Jitter.
func (t *Tracker) jittered() time.Duration {
	d := t.opts.PollInterval
	if t.opts.Jitter <= 0 {
		return d
	}
	spread := float64(d) * t.opts.Jitter
	return d + time.Duration((rand.Float64()*2-1)*spread)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

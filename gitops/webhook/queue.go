package webhook

import (
	"context"
	"errors"
)

// ErrQueueFull is returned by a Queue that cannot take an event now. The
// Handler answers 503 so that the sender may deliver again, and does not
// remember the delivery id.
var ErrQueueFull = errors.New("webhook queue is full")

// DefaultQueueSize is the capacity NewChanQueue uses for a size below 1.
const DefaultQueueSize = 256

// Queue receives verified events. The controller consumes it.
//
// Enqueue is called from the HTTP handler and must not block on slow work:
// it either takes the event at once or returns an error (ErrQueueFull when
// there is no room, or ctx's error).
type Queue interface {
	Enqueue(ctx context.Context, ev Event) error
}

// ChanQueue is a bounded, non-blocking Queue backed by a channel.
type ChanQueue struct {
	ch chan Event
}

var _ Queue = (*ChanQueue)(nil)

// NewChanQueue returns a queue holding at most size events
// (DefaultQueueSize when size < 1).
func NewChanQueue(size int) *ChanQueue {
	if size < 1 {
		size = DefaultQueueSize
	}
	return &ChanQueue{ch: make(chan Event, size)}
}

// Enqueue adds ev without blocking; it returns ErrQueueFull when the queue
// is full and ctx's error when ctx is already done.
func (q *ChanQueue) Enqueue(ctx context.Context, ev Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case q.ch <- ev:
		return nil
	default:
		return ErrQueueFull
	}
}

// C returns the channel the consumer reads events from.
func (q *ChanQueue) C() <-chan Event { return q.ch }

// Len returns the number of events waiting.
func (q *ChanQueue) Len() int { return len(q.ch) }

// Cap returns the queue's capacity.
func (q *ChanQueue) Cap() int { return cap(q.ch) }

package webhook

import (
	"container/list"
	"sync"
	"time"
)

// dedup remembers recently delivered ids in a bounded cache with a TTL. An id
// is first reserved (while its event is being enqueued), then either
// committed (remembered until it expires or is evicted) or released (when the
// enqueue failed, so that a redelivery is processed). Eviction removes the
// oldest entries first; memory is bounded by size.
type dedup struct {
	mu   sync.Mutex
	size int
	ttl  time.Duration
	now  func() time.Time
	ll   *list.List // front: most recent
	m    map[string]*list.Element
}

type dedupEntry struct {
	key     string
	at      time.Time
	pending bool
}

// newDedup returns a cache of at most size ids, each kept for ttl.
func newDedup(size int, ttl time.Duration, now func() time.Time) *dedup {
	return &dedup{size: size, ttl: ttl, now: now, ll: list.New(), m: make(map[string]*list.Element, size)}
}

// reserve returns true when key was not seen within the TTL and is not being
// enqueued by another request; the key is then held as pending.
func (d *dedup) reserve(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.expire(now)
	if el, ok := d.m[key]; ok {
		e := el.Value.(*dedupEntry)
		if e.pending || now.Sub(e.at) < d.ttl {
			return false
		}
		d.remove(el)
	}
	d.m[key] = d.ll.PushFront(&dedupEntry{key: key, at: now, pending: true})
	for d.ll.Len() > d.size {
		d.remove(d.ll.Back())
	}
	return true
}

// commit marks a reserved key as delivered.
func (d *dedup) commit(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if el, ok := d.m[key]; ok {
		e := el.Value.(*dedupEntry)
		e.pending, e.at = false, now
		d.ll.MoveToFront(el)
		return
	}
	// Evicted while pending: remember it anyway.
	d.m[key] = d.ll.PushFront(&dedupEntry{key: key, at: now})
	for d.ll.Len() > d.size {
		d.remove(d.ll.Back())
	}
}

// release forgets a reserved key whose event could not be enqueued.
func (d *dedup) release(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.m[key]; ok && el.Value.(*dedupEntry).pending {
		d.remove(el)
	}
}

// len returns the number of ids held.
func (d *dedup) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ll.Len()
}

// expire drops entries older than the TTL from the back of the list.
func (d *dedup) expire(now time.Time) {
	for el := d.ll.Back(); el != nil; el = d.ll.Back() {
		e := el.Value.(*dedupEntry)
		if now.Sub(e.at) < d.ttl {
			return
		}
		d.remove(el)
	}
}

// remove deletes el from the list and the map.
func (d *dedup) remove(el *list.Element) {
	d.ll.Remove(el)
	delete(d.m, el.Value.(*dedupEntry).key)
}

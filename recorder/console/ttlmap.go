package console

import (
	"sync"
	"time"
)

// maxEntries bounds a ttlMap: past it the entry that expires first goes,
// so that a flood of logins cannot grow memory without bound.
const maxEntries = 10000

// ttlMap holds values under random keys until they expire. It is safe
// for concurrent use.
type ttlMap[V any] struct {
	clock func() time.Time
	mu    sync.Mutex
	m     map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLMap[V any](clock func() time.Time) *ttlMap[V] {
	return &ttlMap[V]{clock: clock, m: map[string]ttlEntry[V]{}}
}

// put keeps v under key for ttl.
func (t *ttlMap[V]) put(key string, v V, ttl time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock()
	var first string
	for k, e := range t.m {
		if !now.Before(e.expires) {
			delete(t.m, k)
		} else if first == "" || e.expires.Before(t.m[first].expires) {
			first = k
		}
	}
	if len(t.m) >= maxEntries {
		delete(t.m, first)
	}
	t.m[key] = ttlEntry[V]{v, now.Add(ttl)}
}

// get returns the value of key, unless it is missing or expired.
func (t *ttlMap[V]) get(key string) (V, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.getLocked(key)
}

// take is get, and removes the key: a value used once.
func (t *ttlMap[V]) take(key string) (V, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.getLocked(key)
	delete(t.m, key)
	return v, ok
}

func (t *ttlMap[V]) getLocked(key string) (V, bool) {
	e, ok := t.m[key]
	if ok && !t.clock().Before(e.expires) {
		delete(t.m, key)
		var zero V
		return zero, false
	}
	return e.v, ok
}

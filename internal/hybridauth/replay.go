package hybridauth

import (
	"container/heap"
	"crypto/sha256"
	"sync"
	"time"
)

// ReplayCache remembers accepted headers until they expire, in bounded memory. When it is full
// and nothing has expired, the entry closest to expiry is dropped first: under a flood, protection
// degrades for the oldest headers instead of memory growing or requests being refused.
type ReplayCache struct {
	mu      sync.Mutex
	max     int
	expiry  map[[sha256.Size]byte]int64 // digest → unix nanos
	byTime  expiryHeap
	evicted uint64
}

// NewReplayCache returns a cache holding at most size entries (at least 1).
func NewReplayCache(size int) *ReplayCache {
	return &ReplayCache{max: max(1, size), expiry: make(map[[sha256.Size]byte]int64)}
}

// Seen reports whether digest was recorded and has not expired at now; if not, it records it
// until "until".
func (c *ReplayCache) Seen(digest [sha256.Size]byte, until, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := now.UnixNano()
	if exp, ok := c.expiry[digest]; ok && exp > n {
		return true
	}
	c.expire(n)
	for len(c.expiry) >= c.max {
		e := heap.Pop(&c.byTime).(entry)
		if c.expiry[e.digest] == e.until {
			delete(c.expiry, e.digest)
			c.evicted++
		}
	}
	u := until.UnixNano()
	c.expiry[digest] = u
	heap.Push(&c.byTime, entry{digest: digest, until: u})
	return false
}

// expire drops entries that expired at or before n.
func (c *ReplayCache) expire(n int64) {
	for len(c.byTime) > 0 && c.byTime[0].until <= n {
		e := heap.Pop(&c.byTime).(entry)
		if exp, ok := c.expiry[e.digest]; ok && exp == e.until {
			delete(c.expiry, e.digest)
		}
	}
}

// Len is the number of remembered headers.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expiry)
}

// Evicted counts unexpired entries dropped because the cache was full.
func (c *ReplayCache) Evicted() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evicted
}

type entry struct {
	digest [sha256.Size]byte
	until  int64
}

type expiryHeap []entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

package archive

import (
	"container/list"
	"sync"
)

// frameCache keeps the most recently used decoded frames. Goroutines that
// want a frame being decoded wait for that decode instead of repeating it.
type frameCache struct {
	mu    sync.Mutex // guards all fields
	max   int
	lru   list.List // of *cacheEntry, most recent first
	byIdx map[int]*list.Element
}

type cacheEntry struct {
	idx   int
	ready chan struct{} // closed when data and err are set
	data  []byte
	err   error
}

func newFrameCache(max int) *frameCache {
	return &frameCache{max: max, byIdx: map[int]*list.Element{}}
}

// get returns frame i, calling load if it is not cached. The result is
// shared and must not be modified.
func (c *frameCache) get(i int, load func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if el, ok := c.byIdx[i]; ok {
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		e := el.Value.(*cacheEntry)
		<-e.ready
		return e.data, e.err
	}
	if c.max <= 0 {
		c.mu.Unlock()
		return load()
	}
	e := &cacheEntry{idx: i, ready: make(chan struct{})}
	c.byIdx[i] = c.lru.PushFront(e)
	c.trim()
	c.mu.Unlock()

	e.data, e.err = load()
	close(e.ready)
	if e.err != nil {
		// Forget failures, so that a later read tries again.
		c.mu.Lock()
		if el, ok := c.byIdx[i]; ok && el.Value == e {
			c.lru.Remove(el)
			delete(c.byIdx, i)
		}
		c.mu.Unlock()
	}
	return e.data, e.err
}

func (c *frameCache) setMax(n int) {
	c.mu.Lock()
	c.max = n
	c.trim()
	c.mu.Unlock()
}

// trim evicts the least recently used frames; c.mu must be held.
func (c *frameCache) trim() {
	for c.lru.Len() > max(c.max, 0) {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.byIdx, el.Value.(*cacheEntry).idx)
	}
}

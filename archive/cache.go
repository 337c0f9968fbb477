package archive

import (
	"container/list"
	"sync"
)

// frameCache keeps the most recently used decoded frames, of one Reader or
// of several sharing it (FrameCache). Goroutines that want a frame being
// decoded wait for that decode instead of repeating it.
type frameCache struct {
	mu    sync.Mutex // guards all fields
	max   int
	lru   list.List // of *cacheEntry, most recent first
	byIdx map[frameKey]*list.Element
}

// frameKey names frame idx of the Reader r.
type frameKey struct {
	r   *Reader
	idx int
}

type cacheEntry struct {
	idx   frameKey
	ready chan struct{} // closed when data and err are set
	data  []byte
	err   error
}

func newFrameCache(max int) *frameCache {
	return &frameCache{max: max, byIdx: map[frameKey]*list.Element{}}
}

// FrameCache is a frame cache that several Readers share (UseCache), so
// that the decoded frames kept stay within one bound however many
// archives are open.
type FrameCache struct{ c *frameCache }

// NewFrameCache returns a cache of up to frames decoded frames (each up to
// MaxFrameSize bytes, DefaultFrameSize usually).
func NewFrameCache(frames int) *FrameCache { return &FrameCache{newFrameCache(frames)} }

// forget drops the frames of r, when r is closed.
func (c *frameCache) forget(r *Reader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.byIdx {
		if k.r == r {
			c.lru.Remove(el)
			delete(c.byIdx, k)
		}
	}
}

// get returns frame i, calling load if it is not cached. The result is
// shared and must not be modified.
func (c *frameCache) get(i frameKey, load func() ([]byte, error)) ([]byte, error) {
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

package archive

import (
	"container/list"
	"sync"
)

// frameCache keeps the most recently used decoded frames, of one Reader or
// of several sharing it (FrameCache). Goroutines that want a frame being
// decoded wait for that decode instead of repeating it. A frame's buffer
// is used again for another frame once it was evicted and every reader
// released it: a restore decodes a thousand frames of 2 MiB, and
// allocating each anew cost a tenth of its CPU in clearing memory and
// collecting garbage.
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
	// guarded by the cache's mu
	refs    int  // readers between get and release, the loader included
	evicted bool // out of the cache: its buffer is free once refs is 0
}

// frameBuffers holds the buffers of frames no longer cached nor read.
var frameBuffers sync.Pool // of *[]byte

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
			c.evict(el)
		}
	}
}

// get returns frame i, calling load with a buffer to decode it into if it
// is not cached. The result is shared and must not be modified; the
// caller calls release when it is done with it.
func (c *frameCache) get(i frameKey, load func(buf []byte) ([]byte, error)) (data []byte, release func(), err error) {
	c.mu.Lock()
	if el, ok := c.byIdx[i]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		e.refs++
		c.mu.Unlock()
		<-e.ready
		return e.data, func() { c.release(e) }, e.err
	}
	e := &cacheEntry{idx: i, ready: make(chan struct{}), refs: 1}
	if c.max > 0 {
		c.byIdx[i] = c.lru.PushFront(e)
		c.trim()
	} else {
		e.evicted = true // never cached: free once read
	}
	c.mu.Unlock()

	var buf []byte
	if b, ok := frameBuffers.Get().(*[]byte); ok {
		buf = *b
	}
	e.data, e.err = load(buf[:0])
	close(e.ready)
	if e.err != nil {
		// Forget failures, so that a later read tries again.
		c.mu.Lock()
		if el, ok := c.byIdx[i]; ok && el.Value == e {
			c.evict(el)
		}
		c.mu.Unlock()
	}
	return e.data, func() { c.release(e) }, e.err
}

// release ends a reader's use of e.
func (c *frameCache) release(e *cacheEntry) {
	c.mu.Lock()
	e.refs--
	c.free(e)
	c.mu.Unlock()
}

// evict takes a frame out of the cache; c.mu must be held.
func (c *frameCache) evict(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.byIdx, e.idx)
	e.evicted = true
	c.free(e)
}

// free gives the buffer of an evicted frame that no one reads to the next
// frame decoded; c.mu must be held.
func (c *frameCache) free(e *cacheEntry) {
	if !e.evicted || e.refs > 0 || e.data == nil {
		return
	}
	b := e.data[:0]
	e.data = nil
	frameBuffers.Put(&b)
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
		c.evict(c.lru.Back())
	}
}

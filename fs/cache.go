package fs

import (
	"container/list"
	"log"
	"sync"

	"github.com/mailvault/mailvault/archive"
)

var logf = log.Printf

// blobCache keeps the bytes of recently read messages, up to a byte limit,
// so that the many small reads the kernel makes of one file decode it once.
type blobCache struct {
	mu    sync.Mutex // guards all below
	limit int64
	size  int64
	order *list.List // of *cached, most recent first
	byKey map[archive.Hash]*list.Element
}

type cached struct {
	h    archive.Hash
	data []byte
}

func newBlobCache(limit int64) *blobCache {
	return &blobCache{limit: limit, order: list.New(), byKey: map[archive.Hash]*list.Element{}}
}

func (c *blobCache) get(h archive.Hash) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[h]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cached).data, true
}

// contains reports whether a blob is cached, without counting as a use.
func (c *blobCache) contains(h archive.Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.byKey[h]
	return ok
}

// put adds a blob, evicting the least recent ones; a blob larger than the
// limit is kept alone, so that a huge message read in pieces decodes once.
func (c *blobCache) put(h archive.Hash, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[h]; ok {
		return
	}
	c.byKey[h] = c.order.PushFront(&cached{h: h, data: data})
	c.size += int64(len(data))
	for c.size > c.limit && c.order.Len() > 1 {
		el := c.order.Back()
		v := el.Value.(*cached)
		c.order.Remove(el)
		delete(c.byKey, v.h)
		c.size -= int64(len(v.data))
	}
}

// Stats is what the mount holds in memory.
type Stats struct {
	CacheBytes, CacheLimit int64
	CacheMessages          int
	// Stored is how many messages were stored into the kernel's cache
	// ahead of their reader (push.go).
	Stored int64
}

// Stats returns the message cache's use.
func (fsys *FS) Stats() Stats {
	c := fsys.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{CacheBytes: c.size, CacheLimit: c.limit, CacheMessages: c.order.Len(), Stored: fsys.ahead.stored.Load()}
}

package fs

import (
	"container/list"
	"log"
	"sync"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
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

// listing is what the directories of one folder show: its messages,
// their entries in cur/ and new/, and its control files. Each part is
// loaded once, by the first directory that wants it or ahead of them all
// (FS.prefetch), and never changes.
type listing struct {
	t     tree
	ft    *folderTree // the folder's node
	where string      // the folder in log lines
	walk  []*listing  // the user's folders in the order a walk meets them
	at    int         // this one's place in walk

	once sync.Once
	msgs []index.Message
	err  error

	entriesOnce sync.Once
	cur, new    []entry

	controlsOnce sync.Once
	ctl          []entry
}

func (l *listing) get() ([]index.Message, error) {
	l.once.Do(func() { l.msgs, l.err = l.t.fsys.src.Messages(l.ft.folder.Listing) })
	return l.msgs, l.err
}

// messages returns the entries of cur/, new/ or tmp/ (always empty).
func (l *listing) messages(sub string) ([]entry, error) {
	if sub == "tmp" {
		return nil, nil
	}
	if _, err := l.get(); err != nil {
		return nil, err
	}
	l.entriesOnce.Do(func() { l.cur, l.new = l.messageEntries("cur"), l.messageEntries("new") })
	if sub == "new" {
		return l.new, nil
	}
	return l.cur, nil
}

func (l *listing) controls() []entry {
	l.controlsOnce.Do(func() { l.ctl = l.controlEntries() })
	return l.ctl
}

// dirRef names the cur/ or new/ directory of a listing.
type dirRef struct {
	l   *listing
	sub string
}

// after returns the message directories a walk meets after l's sub: its
// new/ after its cur/, then those of the folders after it.
func (l *listing) after(sub string) []dirRef {
	var out []dirRef
	if sub == "cur" {
		out = append(out, dirRef{l, "new"})
	}
	for _, n := range l.walk[l.at+1:] {
		out = append(out, dirRef{n, "cur"}, dirRef{n, "new"})
	}
	return out
}

// load loads all of it.
func (l *listing) load() {
	l.controls()
	l.messages("cur")
}

// prefetchQueue bounds the listings waiting to be loaded ahead; past it
// they load when listed.
const prefetchQueue = 4096

// prefetch loads listings ahead in the background, in order, on one core
// (the other serves the requests); a listing wanted first is loaded by
// its request and the prefetch finds it done.
func (fsys *FS) prefetch(ls []*listing) {
	fsys.prefetchOnce.Do(func() {
		fsys.prefetchQ = make(chan *listing, prefetchQueue)
		go func() {
			for l := range fsys.prefetchQ {
				l.load()
			}
		}()
	})
	for _, l := range ls {
		select {
		case fsys.prefetchQ <- l:
		default:
			return
		}
	}
}

// Stats is what the mount holds in memory.
type Stats struct {
	CacheBytes, CacheLimit int64
	CacheMessages          int
}

// Stats returns the message cache's use.
func (fsys *FS) Stats() Stats {
	c := fsys.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{CacheBytes: c.size, CacheLimit: c.limit, CacheMessages: c.order.Len()}
}

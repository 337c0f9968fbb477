package fs

import (
	"container/list"
	"sync"

	"github.com/mailvault/mailvault/index"
)

// listing is what the directories of one folder show: its messages,
// their entries in cur/ and new/, and its control files. All of it is
// loaded at once, by the first directory that wants it or ahead of them
// all (FS.prefetch), and kept while the mount's budget for listings
// allows (listingCache); a listing dropped is loaded again when wanted.
type listing struct {
	t     tree
	ft    *folderTree // the folder's node
	where string      // the folder in log lines
	walk  []*listing  // the user's folders in the order a walk meets them
	at    int         // this one's place in walk
	kept  *listingCache

	mu     sync.Mutex // guards state and wanted; held while loading
	state  *listed    // nil until loaded, and after it was dropped
	wanted bool       // by a reader: the prefetch has come too late

	// guarded by kept.mu
	el    *list.Element // in kept.lru, or nil
	cost  int64
	ahead bool // loaded by the prefetch, not wanted since
}

// listed is a loaded listing; it never changes.
type listed struct {
	msgs     []index.Message
	err      error
	cur, new []entry
	ctl      []entry
}

// listedBytesPerMessage is what a listing holds in memory per message: its
// index record, its entry and its place in the read-ahead sequence,
// measured with a heap profile of a mount after a walk.
const listedBytesPerMessage = 512

func (s *listed) cost() int64 {
	n := int64(len(s.msgs)+1) * listedBytesPerMessage
	for _, c := range s.ctl {
		n += int64(len(c.data))
	}
	return n
}

// get returns the listing, loading it if it is not loaded; ahead says the
// prefetch wants it, not a reader, and then it is nil if a reader came
// first: the walk has passed it.
func (l *listing) get(ahead bool) *listed {
	l.mu.Lock()
	if ahead && l.wanted {
		l.mu.Unlock()
		return nil
	}
	l.wanted = l.wanted || !ahead
	s := l.state
	if s == nil {
		s = l.read()
		l.state = s
	}
	l.mu.Unlock()
	if l.kept != nil {
		l.kept.use(l, s, ahead)
	}
	return s
}

// read reads the listing from the index.
func (l *listing) read() *listed {
	s := &listed{}
	s.msgs, s.err = l.t.fsys.src.Messages(l.ft.folder.Listing)
	if s.err == nil {
		s.cur, s.new = l.messageEntries(s.msgs, "cur"), l.messageEntries(s.msgs, "new")
	}
	s.ctl = l.controlEntries(s.msgs, s.err)
	return s
}

// messages returns the entries of cur/, new/ or tmp/ (always empty).
func (l *listing) messages(sub string) ([]entry, error) {
	if sub == "tmp" {
		return nil, nil
	}
	s := l.get(false)
	if s.err != nil {
		return nil, s.err
	}
	if sub == "new" {
		return s.new, nil
	}
	return s.cur, nil
}

func (l *listing) controls() []entry { return l.get(false).ctl }

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

// listingBytes is the mount's budget for listings, about 64 000 messages'
// worth: a walk of a store of any size holds the listings around it, not
// all it has passed.
const listingBytes = 32 << 20

// listingCache keeps the listings used last within a byte budget, and
// holds the prefetch back so that what it loads ahead stays within half
// of it until the walk that wants it comes.
type listingCache struct {
	mu    sync.Mutex // guards all below and the listings' el, cost, ahead
	room  sync.Cond  // signalled when ahead shrinks
	limit int64
	size  int64
	ahead int64     // the cost of the listings loaded ahead and not wanted yet
	lru   list.List // of *listing, most recent first
}

func newListingCache(limit int64) *listingCache {
	c := &listingCache{limit: limit}
	c.room.L = &c.mu
	return c
}

// use counts a use of l, whose state is s, and drops the listings used
// least recently while the budget is exceeded; l itself stays.
func (c *listingCache) use(l *listing, s *listed, ahead bool) {
	c.mu.Lock()
	if l.el == nil {
		l.el, l.cost = c.lru.PushFront(l), s.cost()
		c.size += l.cost
		if ahead {
			l.ahead = true
			c.ahead += l.cost
		}
	} else {
		c.lru.MoveToFront(l.el)
	}
	if !ahead && l.ahead {
		c.wanted(l)
	}
	var drop []*listing
	for c.size > c.limit && c.lru.Len() > 1 {
		v := c.lru.Remove(c.lru.Back()).(*listing)
		v.el = nil
		c.size -= v.cost
		if v.ahead {
			c.wanted(v) // too late: it goes unread
		}
		drop = append(drop, v)
	}
	c.mu.Unlock()
	for _, v := range drop {
		c.drop(v)
	}
}

// wanted takes l out of what was loaded ahead.
func (c *listingCache) wanted(l *listing) {
	l.ahead = false
	c.ahead -= l.cost
	c.room.Broadcast()
}

// drop forgets the state of a listing taken out of the cache, unless it
// was used and came back in meanwhile. Its entries live on in the nodes
// the kernel still holds.
func (c *listingCache) drop(l *listing) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.el == nil {
		l.state = nil
	}
}

// waitRoom waits until the prefetch may load another listing.
func (c *listingCache) waitRoom() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.ahead >= c.limit/2 {
		c.room.Wait()
	}
}

// prefetchQueue bounds the work waiting to be done ahead; past it
// listings load when listed.
const prefetchQueue = 4096

// prefetchJob is one piece of work of the prefetch: a listing to load, or
// the top of a user's tree.
type prefetchJob struct {
	l   *listing
	top *userTop
}

// prefetch loads listings ahead in the background, in order, on one core
// (the other serves the requests); a listing wanted first is loaded by
// its request and the prefetch finds it done.
func (fsys *FS) prefetch(ls []*listing) {
	for _, l := range ls {
		if !fsys.queueAhead(prefetchJob{l: l}) {
			return
		}
	}
}

// prefetchTop loads the top of a user's tree ahead, after the listings
// queued before it, and then queues the user's listings.
func (fsys *FS) prefetchTop(ut *userTop) { fsys.queueAhead(prefetchJob{top: ut}) }

// queueAhead queues work for the prefetch, and reports false when the
// queue is full.
func (fsys *FS) queueAhead(a prefetchJob) bool {
	fsys.prefetchOnce.Do(func() {
		fsys.prefetchQ = make(chan prefetchJob, prefetchQueue)
		go func() {
			for a := range fsys.prefetchQ {
				if a.top != nil {
					a.top.loadAhead()
					continue
				}
				fsys.listings.waitRoom()
				a.l.get(true)
			}
		}()
	})
	select {
	case fsys.prefetchQ <- a:
		return true
	default:
		return false
	}
}

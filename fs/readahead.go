package fs

import (
	"sort"
	"sync"
	"sync/atomic"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/mailvault/mailvault/archive"
)

// batchSource is a Source that reads many blobs at once, decoding each
// frame they lie in once (repo.Repo). fn is called once for every index.
type batchSource interface {
	ReadBlobs(hs []archive.Hash, fn func(i int, data []byte, err error))
}

// Read-ahead windows: the first batch of a directory read in order, and
// the largest, which the cache bounds further (newReadAhead).
const (
	firstWindow = 1 << 20
	maxWindow   = 16 << 20
)

// readAhead reads the next messages of a directory into the blob cache
// while one is read, when the directory is read in listing order (tar,
// rsync, a mail client opening a folder): read one by one, the messages
// of a folder decode the same frames many times over, while a batch
// decodes each once (batchSource).
//
// Read-ahead only fills the cache. A message it could not read is left
// out, and the reader reads it itself, so an error is reported (and
// logged) as before.
type readAhead struct {
	src   batchSource // nil: no read-ahead
	cache *blobCache
	limit int64 // bytes of the batches in flight, at most
	max   int64 // the largest batch

	mu       sync.Mutex // guards inflight and bytes
	inflight map[archive.Hash]chan struct{}
	bytes    int64

	batches sync.WaitGroup // the batches in flight
	stored  atomic.Int64   // messages stored into the kernel's cache
}

func newReadAhead(src Source, cache *blobCache) *readAhead {
	ra := &readAhead{cache: cache, inflight: map[archive.Hash]chan struct{}{}}
	if b, ok := src.(batchSource); ok {
		ra.src = b
	}
	// Half the cache may be on its way in; a batch is a quarter of it, so
	// that what one brings stays cached until it is read.
	ra.limit = cache.limit / 2
	ra.max = min(maxWindow, cache.limit/4)
	return ra
}

// sequence is the messages of one cur/ or new/ directory in listing
// order, and how far they have been read ahead.
type sequence struct {
	dir    string // the directory in log lines
	hashes []archive.Hash
	cum    []int64 // cum[i] is the size of the messages before i

	// The directory's place in its user's tree (nil in tests): its
	// listing, and "cur" or "new".
	l   *listing
	sub string

	mu     sync.Mutex    // guards the fields below
	last   int           // the position read last
	next   int           // the first position not read ahead
	window int64         // the size of the next batch
	onward bool          // the directories after it are being read ahead
	nodes  []*gofs.Inode // of the entries the kernel was told of (nil: none)
	pushed bool          // a pusher runs or ran (push.go)
}

// newSequence makes the sequence of the message entries of directory
// dir, in listing (name) order, and points each entry at its place in it.
func newSequence(entries []entry, dir string) *sequence {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	s := &sequence{dir: dir, hashes: make([]archive.Hash, len(entries)), cum: make([]int64, len(entries)+1), last: -1}
	for i := range entries {
		s.hashes[i] = *entries[i].blob
		s.cum[i+1] = s.cum[i] + entries[i].size
		entries[i].seq, entries[i].pos = s, i
	}
	return s
}

// wait waits for the batch that is reading h, if one is.
func (ra *readAhead) wait(h archive.Hash) {
	ra.mu.Lock()
	done := ra.inflight[h]
	ra.mu.Unlock()
	if done != nil {
		<-done
	}
}

// advance notes that position pos of s is being read, and starts the next
// batch when reading goes on in order and what was read ahead runs low.
func (ra *readAhead) advance(s *sequence, pos int) {
	if ra.src == nil || s == nil || ra.max <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Forward within what was read ahead counts as in order: the kernel
	// asks nothing for a file whose pages it has (a hard link read before).
	inOrder := pos >= s.last && pos <= max(s.next, s.last+1)
	s.last = pos
	if !inOrder {
		// A mail client picking messages: read only what it asks for.
		s.window, s.next = 0, pos+1
		return
	}
	s.next = max(s.next, pos+1)
	if s.window == 0 {
		s.window = min(firstWindow, ra.max)
	}
	if s.l != nil && pos > 0 && !s.onward {
		// A walk of the user's tree: read on across its directories,
		// and put this one's messages into the kernel's cache.
		s.onward = true
		ra.startPush(s, pos+1)
		hs, size, end := ra.pick(s, s.next, ra.limit)
		s.next, s.window = end, ra.max
		rest := s.cum[len(s.hashes)] - s.cum[pos+1]
		ra.batches.Add(1)
		go func() {
			defer ra.batches.Done()
			ra.onward(s, hs, size, ra.limit-rest)
		}()
		return
	}
	if s.cum[s.next]-s.cum[pos+1] >= s.window/2 || s.next >= len(s.hashes) {
		return
	}
	hs, size, end := ra.pick(s, s.next, s.window)
	s.next = end
	if len(hs) == 0 {
		return
	}
	// The next starts when the reader comes within half a window of this
	// one's end, so a few at most are in flight; ra.limit bounds them.
	s.window = min(4*s.window, ra.max)
	ra.batches.Add(1)
	go func() {
		defer ra.batches.Done()
		ra.read(hs, size)
	}()
}

// pick chooses the messages of s from position from on, up to window
// bytes and within the bytes in flight, that are neither cached nor being
// read, and marks them as being read. end is the position after the last
// one looked at.
func (ra *readAhead) pick(s *sequence, from int, window int64) (hs []archive.Hash, size int64, end int) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	room := min(window, ra.limit-ra.bytes)
	end = from
	for ; end < len(s.hashes); end++ {
		h, n := s.hashes[end], s.cum[end+1]-s.cum[end]
		if size+n > room {
			if n > window {
				continue // too large to read ahead: read when asked for
			}
			break
		}
		if ra.inflight[h] != nil || ra.cache.contains(h) {
			continue
		}
		ra.inflight[h] = make(chan struct{})
		hs = append(hs, h)
		size += n
	}
	ra.bytes += size
	return hs, size, end
}

// onward reads hs, the rest of s, and the messages of the directories
// that a walk of the user's tree (tar, rsync) meets after s, up to
// horizon bytes beyond s, in one batch. A user's messages lie in the same
// frames whatever their folder (single copy, and one run writes them
// together), so read folder by folder in batches of their own, those
// frames decode again for each, and more when the frames cached cannot
// hold them all; one batch decodes each once. What was read ahead
// already counts towards horizon, so that, whichever directory starts the
// next batch, the cache holds what the reader comes to.
func (ra *readAhead) onward(s *sequence, hs []archive.Hash, size, horizon int64) {
	all := &sequence{cum: []int64{0}}
	for _, d := range s.l.after(s.sub) {
		if all.cum[len(all.cum)-1] >= horizon {
			break
		}
		entries, err := d.l.messages(d.sub)
		if err != nil {
			break // its reader reports it
		}
		for _, e := range entries {
			all.hashes = append(all.hashes, *e.blob)
			all.cum = append(all.cum, all.cum[len(all.cum)-1]+e.size)
		}
	}
	more, n, _ := ra.pick(all, 0, max(horizon-size, 0))
	if hs, size = append(hs, more...), size+n; len(hs) > 0 {
		ra.read(hs, size)
	}
}

// read reads a batch into the cache; it runs in a goroutine of its own.
func (ra *readAhead) read(hs []archive.Hash, size int64) {
	ra.src.ReadBlobs(hs, func(i int, data []byte, err error) {
		if err == nil {
			ra.cache.put(hs[i], data)
		}
		ra.mu.Lock()
		done := ra.inflight[hs[i]]
		delete(ra.inflight, hs[i])
		ra.mu.Unlock()
		close(done)
	})
	ra.mu.Lock()
	ra.bytes -= size
	ra.mu.Unlock()
}

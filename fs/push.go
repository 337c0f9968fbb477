package fs

import (
	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// A walk that reads every file (tar, rsync) costs the reader a READ and a
// GETATTR per message even when the message is in the mount's cache: a
// FUSE round trip each, the cost of a walk of small files. Once a
// directory is read in order, its messages are instead stored into the
// kernel's page cache as the read-ahead brings them (FUSE_NOTIFY_STORE):
// the reader then finds them there and asks the mount nothing, and the
// kernel, which reads nothing, does not drop the atime either. Only the
// entries the kernel was told of (looked up, or listed with attributes)
// can be stored; the others are read as before.

// maxPush is the largest message stored into the kernel's cache: a larger
// one is read in READs of 1 MiB, whose round trips cost little beside it.
const maxPush = 1 << 20

// setNode notes the inode the kernel was given for the entry at pos.
func (s *sequence) setNode(pos int, n *gofs.Inode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodes == nil {
		s.nodes = make([]*gofs.Inode, len(s.hashes))
	}
	s.nodes[pos] = n
}

func (s *sequence) node(pos int) *gofs.Inode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodes == nil {
		return nil
	}
	return s.nodes[pos]
}

// startPush starts, once for s, storing its messages from position from on
// into the kernel's cache, in order, each when the read-ahead has it. It
// goes on as a reader would, moving the read-ahead along, and stops at the
// first message not read ahead (too large, or unreadable: its reader
// reads it and is told why). s.mu is held.
func (ra *readAhead) startPush(s *sequence, from int) {
	if s.pushed || s.nodes == nil {
		return
	}
	s.pushed = true
	ra.batches.Add(1)
	go func() {
		defer ra.batches.Done()
		for p := from; p < len(s.hashes); p++ {
			n := s.node(p)
			if n == nil {
				continue
			}
			ra.followed(s, p)
			h := s.hashes[p]
			data, ok := ra.cache.get(h)
			if !ok {
				ra.fetch(s, p)
				if data, ok = ra.cache.get(h); !ok {
					return
				}
			}
			if size := s.cum[p+1] - s.cum[p]; int64(len(data)) != size || size > maxPush {
				continue // its reader reads it (and logs why it differs)
			}
			if n.WriteCache(0, data) == 0 { // fails only for a node the kernel forgot
				ra.stored.Add(1)
			}
		}
	}()
}

// followed is advance for a position the pusher reached, unless the reader
// is past it already.
func (ra *readAhead) followed(s *sequence, pos int) {
	s.mu.Lock()
	behind := pos <= s.last
	s.mu.Unlock()
	if !behind {
		ra.advance(s, pos)
	}
}

// fetch waits for the message at pos to be read ahead, reading a batch
// from it on if no batch has it.
func (ra *readAhead) fetch(s *sequence, pos int) {
	h := s.hashes[pos]
	ra.wait(h)
	if ra.cache.contains(h) {
		return
	}
	s.mu.Lock()
	hs, size, end := ra.pick(s, pos, ra.max)
	s.next = max(s.next, end)
	s.mu.Unlock()
	if len(hs) > 0 {
		ra.read(hs, size)
	}
}

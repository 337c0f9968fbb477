package fs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// blobSource is a Source of blobs only, that counts how they are read.
type blobSource struct {
	Source
	blobs map[archive.Hash][]byte
	bad   map[archive.Hash]bool // reads of these fail

	mu              sync.Mutex
	single, batched int // blobs read by ReadBlob and by ReadBlobs
	batches         int
}

var errDamaged = errors.New("frame 3 at offset 1234: checksum mismatch")

func (s *blobSource) ReadBlob(h archive.Hash) ([]byte, error) {
	s.mu.Lock()
	s.single++
	s.mu.Unlock()
	return s.read(h)
}

func (s *blobSource) read(h archive.Hash) ([]byte, error) {
	if s.bad[h] {
		return nil, errDamaged
	}
	b, ok := s.blobs[h]
	if !ok {
		return nil, index.ErrNotFound
	}
	return bytes.Clone(b), nil
}

func (s *blobSource) ReadBlobs(hs []archive.Hash, fn func(int, []byte, error)) {
	s.mu.Lock()
	s.batches++
	s.batched += len(hs)
	s.mu.Unlock()
	for i, h := range hs {
		b, err := s.read(h)
		fn(i, b, err)
	}
}

// folder makes a source of n messages of up to max bytes and the entries
// of their directory, in listing order.
func folder(n, max int) (*blobSource, []entry) {
	src := &blobSource{blobs: map[archive.Hash][]byte{}, bad: map[archive.Hash]bool{}}
	rng := rand.New(rand.NewPCG(5, 6))
	var entries []entry
	for i := range n {
		b := fmt.Appendf(nil, "message %d\n%s", i, bytes.Repeat([]byte{'x'}, rng.IntN(max)))
		h := archive.Hash(sha256.Sum256(b))
		src.blobs[h] = b
		entries = append(entries, entry{name: fmt.Sprintf("%05d.M1P1.host:2,S", i), size: int64(len(b)), blob: &h})
	}
	newSequence(entries, "u/INBOX/cur")
	return src, entries
}

func TestReadAheadInListingOrder(t *testing.T) {
	src, entries := folder(500, 20000)
	fsys := New(src, 1<<20)
	for i := range entries {
		got, err := fsys.blob(&entries[i])
		if err != nil || !bytes.Equal(got, src.blobs[*entries[i].blob]) {
			t.Fatalf("message %d: %v", i, err)
		}
		// The kernel reads a file in pieces: each asks again.
		if _, err := fsys.blob(&entries[i]); err != nil {
			t.Fatal(err)
		}
	}
	fsys.ahead.batches.Wait()
	if src.batched < len(entries)*3/4 || src.single > len(entries)/4 {
		t.Errorf("%d messages read ahead in %d batches, %d read one by one", src.batched, src.batches, src.single)
	}
	if src.batched+src.single > len(entries)+len(entries)/10 {
		t.Errorf("%d reads for %d messages", src.batched+src.single, len(entries))
	}
	checkIdle(t, fsys)
}

func TestReadAheadLeavesRandomReadsAlone(t *testing.T) {
	src, entries := folder(200, 2000)
	fsys := New(src, 1<<20)
	for _, i := range rand.New(rand.NewPCG(7, 8)).Perm(len(entries))[:50] {
		if i == 0 || i == 1 {
			continue // the start of a listing read in order
		}
		got, err := fsys.blob(&entries[i])
		if err != nil || !bytes.Equal(got, src.blobs[*entries[i].blob]) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	fsys.ahead.batches.Wait()
	if src.batched > 0 {
		t.Errorf("%d messages read ahead for a reader picking at random", src.batched)
	}
	checkIdle(t, fsys)
}

// A message read-ahead cannot read is read when asked for, so the reader
// gets the error itself (and Read logs it); the others are not affected.
func TestReadAheadLeavesErrorsToTheReader(t *testing.T) {
	src, entries := folder(300, 5000)
	for i := 10; i < len(entries); i += 37 {
		src.bad[*entries[i].blob] = true
	}
	fsys := New(src, 1<<20)
	for i := range entries {
		got, err := fsys.blob(&entries[i])
		if src.bad[*entries[i].blob] {
			if !errors.Is(err, errDamaged) {
				t.Errorf("damaged message %d: %v", i, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, src.blobs[*entries[i].blob]) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	fsys.ahead.batches.Wait()
	if src.batched == 0 {
		t.Error("nothing read ahead")
	}
	checkIdle(t, fsys)
}

// Read-ahead keeps within the cache: however many directories are read at
// once, the batches in flight stay within their share, and the cache
// within its limit.
func TestReadAheadStaysWithinTheCache(t *testing.T) {
	const limit = 256 << 10
	fsys := New(nil, limit)
	var dirs [][]entry
	src := &blobSource{blobs: map[archive.Hash][]byte{}}
	for range 8 {
		s, entries := folder(300, 3000)
		for h, b := range s.blobs {
			src.blobs[h] = b
		}
		dirs = append(dirs, entries)
	}
	fsys.src = src
	fsys.ahead = newReadAhead(src, fsys.cache)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var peak int64
	for _, entries := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range entries {
				got, err := fsys.blob(&entries[i])
				if err != nil || !bytes.Equal(got, src.blobs[*entries[i].blob]) {
					t.Errorf("message %d: %v", i, err)
					return
				}
				fsys.ahead.mu.Lock()
				mu.Lock()
				peak = max(peak, fsys.ahead.bytes)
				mu.Unlock()
				fsys.ahead.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fsys.ahead.batches.Wait()
	if peak > fsys.ahead.limit {
		t.Errorf("%d bytes read ahead at once, limit %d", peak, fsys.ahead.limit)
	}
	if st := fsys.Stats(); st.CacheBytes > limit {
		t.Errorf("cache holds %d bytes, limit %d", st.CacheBytes, limit)
	}
	if src.batched == 0 {
		t.Error("nothing read ahead")
	}
	checkIdle(t, fsys)
}

func checkIdle(t *testing.T, fsys *FS) {
	t.Helper()
	fsys.ahead.mu.Lock()
	defer fsys.ahead.mu.Unlock()
	if len(fsys.ahead.inflight) != 0 || fsys.ahead.bytes != 0 {
		t.Errorf("after the batches: %d blobs in flight, %d bytes", len(fsys.ahead.inflight), fsys.ahead.bytes)
	}
}

// walk makes a user's tree of folders of n messages each, as the mount
// makes it: listings in walk order, each with its cur/ sequence.
func walk(folders, n, max int) (*blobSource, [][]entry) {
	src := &blobSource{blobs: map[archive.Hash][]byte{}}
	rng := rand.New(rand.NewPCG(9, 10))
	var ls []*listing
	var dirs [][]entry
	for f := range folders {
		var entries []entry
		for i := range n {
			b := fmt.Appendf(nil, "folder %d message %d\n%s", f, i, bytes.Repeat([]byte{'x'}, rng.IntN(max)))
			h := archive.Hash(sha256.Sum256(b))
			src.blobs[h] = b
			entries = append(entries, entry{name: fmt.Sprintf("%05d.M1P1.host:2,S", i), size: int64(len(b)), blob: &h})
		}
		l := &listing{where: fmt.Sprintf("u/F%d", f), state: &listed{cur: entries}}
		s := newSequence(entries, l.where+"/cur")
		s.l, s.sub = l, "cur"
		ls = append(ls, l)
		dirs = append(dirs, entries)
	}
	for i, l := range ls {
		l.walk, l.at = ls, i
	}
	return src, dirs
}

// A walk of a user's tree (tar) is read ahead across its folders, in few
// batches rather than some for each folder, so that the frames the
// user's messages share decode once; and with a cache smaller than the
// tree, read-ahead stays within it and still serves the reader.
func TestReadAheadAcrossFolders(t *testing.T) {
	for _, tc := range []struct {
		cache       int64
		maxBatches  int
		folders, sz int
	}{
		{cache: 8 << 20, maxBatches: 3, folders: 8, sz: 4000},
		{cache: 256 << 10, maxBatches: 1 << 30, folders: 8, sz: 3000},
	} {
		t.Run(fmt.Sprint(tc.cache), func(t *testing.T) {
			src, dirs := walk(tc.folders, 100, tc.sz)
			fsys := New(src, tc.cache)
			total := 0
			for _, entries := range dirs {
				for i := range entries {
					got, err := fsys.blob(&entries[i])
					if err != nil || !bytes.Equal(got, src.blobs[*entries[i].blob]) {
						t.Fatalf("%s message %d: %v", entries[i].seq.l.where, i, err)
					}
					if st := fsys.Stats(); st.CacheBytes > tc.cache {
						t.Fatalf("cache holds %d bytes, limit %d", st.CacheBytes, tc.cache)
					}
				}
				total += len(entries)
			}
			fsys.ahead.batches.Wait()
			if src.batches > tc.maxBatches || src.single > total/4 {
				t.Errorf("%d messages: %d read ahead in %d batches, %d read one by one", total, src.batched, src.batches, src.single)
			}
			if src.batched+src.single > total+total/10 {
				t.Errorf("%d reads for %d messages", src.batched+src.single, total)
			}
			checkIdle(t, fsys)
		})
	}
}

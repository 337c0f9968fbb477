package archive

import (
	"bytes"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestConcurrentReads(t *testing.T) {
	c := makeContent(13, 4, 40)
	b, _ := writeArchive(t, c, WriterOptions{FrameSize: 16 << 10})
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	r.SetCacheFrames(4) // small, so that goroutines evict each other's frames
	blobs := r.Trailer().Blobs
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for range 100 {
				e := blobs[rng.IntN(len(blobs))]
				var data []byte
				var err error
				if rng.IntN(4) == 0 {
					data, err = io.ReadAll(r.BlobReader(e.Hash, e.Loc))
				} else {
					data, err = r.ReadBlob(e.Hash, e.Loc)
				}
				if err == nil && !bytes.Equal(data, c.blobs[e.Hash]) {
					t.Errorf("blob %x differs", e.Hash[:8])
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestFrameCache(t *testing.T) {
	c := newFrameCache(2)
	loads := 0
	load := func() ([]byte, error) { loads++; return []byte{1}, nil }
	for _, i := range []int{0, 1, 0, 2, 0} {
		if _, err := c.get(frameKey{nil, i}, load); err != nil {
			t.Fatal(err)
		}
	}
	// 0 and 1 load once each, 2 evicts 1, and 0 stays as the most recent.
	if loads != 3 {
		t.Errorf("%d loads, want 3", loads)
	}
	if _, ok := c.byIdx[frameKey{nil, 1}]; ok || c.lru.Len() != 2 {
		t.Errorf("frame 1 should have been evicted; %d cached", c.lru.Len())
	}
}

// TestSharedFrameCache: Readers sharing a FrameCache keep their frames
// apart and within the one bound, and a Reader forgotten leaves nothing.
func TestSharedFrameCache(t *testing.T) {
	c := NewFrameCache(3)
	a, b := &Reader{}, &Reader{}
	a.UseCache(c)
	b.UseCache(c)
	loads := 0
	for _, k := range []frameKey{{a, 0}, {b, 0}, {a, 0}, {b, 1}, {a, 1}} {
		if _, err := c.c.get(k, func() ([]byte, error) { loads++; return []byte{byte(k.idx)}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	// a0, b0, b1, a1 load; a0 again is cached; a1 evicts b0, the least recent.
	if loads != 4 || c.c.lru.Len() != 3 {
		t.Errorf("%d loads, %d cached; want 4 and 3", loads, c.c.lru.Len())
	}
	if _, ok := c.c.byIdx[frameKey{b, 0}]; ok {
		t.Error("b's frame 0 should have been evicted")
	}
	a.Forget()
	if c.c.lru.Len() != 1 {
		t.Errorf("after a.Forget, %d frames cached, want b's one", c.c.lru.Len())
	}
}

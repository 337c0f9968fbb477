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
	load := func([]byte) ([]byte, error) { loads++; return []byte{1}, nil }
	for _, i := range []int{0, 1, 0, 2, 0} {
		_, release, err := c.get(frameKey{nil, i}, load)
		if err != nil {
			t.Fatal(err)
		}
		release()
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
		_, release, err := c.c.get(k, func([]byte) ([]byte, error) { loads++; return []byte{byte(k.idx)}, nil })
		if err != nil {
			t.Fatal(err)
		}
		release()
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

// A frame's buffer goes to the frames decoded after it only once it is
// out of the cache and no reader holds it: a reader's bytes never change
// under it.
func TestFrameBufferReuse(t *testing.T) {
	c := newFrameCache(1)
	fill := func(v byte) func([]byte) ([]byte, error) {
		return func(buf []byte) ([]byte, error) {
			for range 4096 {
				buf = append(buf, v)
			}
			return buf, nil
		}
	}
	held, releaseHeld, err := c.get(frameKey{nil, 0}, fill(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 100; i++ {
		// Each evicts the one before, the held frame first.
		_, release, err := c.get(frameKey{nil, i}, fill(byte(i)))
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	for i, b := range held {
		if b != 0 {
			t.Fatalf("byte %d of a frame held by a reader changed to %d", i, b)
		}
	}
	releaseHeld()
	reused := false
	for i := 100; i < 200 && !reused; i++ {
		data, release, _ := c.get(frameKey{nil, i}, func(buf []byte) ([]byte, error) {
			if cap(buf) > 0 {
				reused = true
			}
			return fill(1)(buf)
		})
		if len(data) != 4096 {
			t.Fatalf("frame %d: %d bytes", i, len(data))
		}
		release()
	}
	if !reused {
		t.Log("no buffer was reused (sync.Pool may drop them, under the race detector often)")
	}
}

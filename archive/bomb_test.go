package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

// rawFrame returns a zstd frame of raw blocks holding n bytes, with no
// declared size: as large compressed as decoded, the most a frame can make
// a reader buffer before it decodes anything.
func rawFrame(n int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, zstdMagic)
	b = append(b, 0x04, 0x50) // no content size, checksum, 4 MiB window
	const block = 128 << 10
	for n > 0 {
		size := min(n, block)
		n -= size
		h := uint32(size) << 3 // raw
		if n == 0 {
			h |= 1
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16))
		b = append(b, make([]byte, size)...)
	}
	return append(b, 0, 0, 0, 0)
}

// headerOnly returns the header frame of a valid archive.
func headerOnly(t *testing.T) []byte {
	_, b := smallArchive(t)
	n := binary.LittleEndian.Uint32(b[4:])
	return b[:8+n]
}

// TestStreamTrailerBound: a stream whose first frame is huge would be a
// trailer as large as the tables of what came before, which is nothing: the
// reader refuses it once it is larger than a data frame can be (4 MiB),
// whatever the frame claims.
func TestStreamTrailerBound(t *testing.T) {
	header := headerOnly(t)
	decoder() // its buffers are made once, not per frame
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"raw frame of 64 MiB", rawFrame(64 << 20)},
		{"bomb of 1 GiB", bombFrame(1<<30, false)},
		{"bomb declaring 1 GiB", bombFrame(1<<30, true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := append(header, tc.frame...)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, _, _, err := readStream(bytes.NewReader(b))
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("stream: %v, want ErrCorrupt", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 32<<20 { // a data frame of 4 MiB may be buffered, in growing slices
				t.Errorf("allocated %d MiB", n>>20)
			}
			t.Logf("%v", err)
		})
	}
}

// TestTrailerCompressesLittle backs the trailer limit: a real trailer
// shrinks by far less than 32 times, so the limit never refuses one.
func TestTrailerCompressesLittle(t *testing.T) {
	for _, c := range []*content{makeContent(3, 40, 20), makeContent(4, 400, 1), makeContent(5, 1, 800)} {
		b, _ := writeArchive(t, c, WriterOptions{})
		ft, err := parseFooter(b[len(b)-FooterSize:], 0)
		if err != nil {
			t.Fatal(err)
		}
		ratio := float64(ft.dlen) / float64(ft.clen)
		t.Logf("%d folders, %d blobs: trailer %d bytes, %d compressed (%.2f)", len(c.folders), len(c.blobs), ft.dlen, ft.clen, ratio)
		if ratio > 8 {
			t.Errorf("trailer compresses %.1f times", ratio)
		}
	}
}

package archive

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// benchBlobs are 16 MiB of mail-like messages of 1 to 40 KB.
func benchBlobs() (hashes []Hash, blobs [][]byte, total int64) {
	c := &content{blobs: map[Hash][]byte{}}
	rng := rand.New(rand.NewPCG(16, 3))
	for i := 0; total < 16<<20; i++ {
		m := c.blob(message(rng, i, 1000+rng.IntN(40000)), i, 0)
		hashes = append(hashes, m.Blob)
		blobs = append(blobs, c.blobs[m.Blob])
		total += m.Size
	}
	return hashes, blobs, total
}

func BenchmarkWrite(b *testing.B) {
	hashes, blobs, total := benchBlobs()
	b.SetBytes(total)
	var written int64
	for b.Loop() {
		w, err := NewWriter(io.Discard, testHeader(), WriterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for i, h := range hashes {
			if _, err := w.AddBlob(h, blobs[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		written = w.Stats().BytesWritten
	}
	b.ReportMetric(float64(total)/float64(written), "ratio")
}

func BenchmarkReadBlob(b *testing.B) {
	hashes, blobs, total := benchBlobs()
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, testHeader(), WriterOptions{})
	for i, h := range hashes {
		w.AddBlob(h, blobs[i])
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	r, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		b.Fatal(err)
	}
	entries := r.Trailer().Blobs
	// Read the archive's blobs in order, as a restore or a tar of the mount
	// would; the cache makes each frame decode once per pass.
	b.SetBytes(total)
	for b.Loop() {
		for _, e := range entries {
			if _, err := r.ReadBlob(e.Hash, e.Loc); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkStream(b *testing.B) {
	hashes, blobs, total := benchBlobs()
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, testHeader(), WriterOptions{})
	for i, h := range hashes {
		w.AddBlob(h, blobs[i])
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	for b.Loop() {
		if _, _, _, err := readStream(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}

package archive

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/v1-sample.mva from the current writer")

const v1Sample = "testdata/v1-sample.mva"

// sampleContent is what testdata/v1-sample.mva holds. It must never
// change: the file is the frozen sample of format v1.
func sampleContent() *content {
	c := makeContent(1001, 3, 4)
	c.folders[1].Files = append(c.folders[1].Files, File{Name: "subscriptions", Mode: 0o644, Mtime: 1, Data: []byte("INBOX\nSent\n")})
	return c
}

// TestV1Sample reads the frozen v1 archive: every later build must.
func TestV1Sample(t *testing.T) {
	c := sampleContent()
	if *update {
		b, _ := writeArchive(t, c, WriterOptions{FrameSize: 8 << 10})
		if err := os.WriteFile(v1Sample, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(v1Sample)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Trailer().Frames) < 3 {
		t.Errorf("sample has %d frames; it should have several", len(r.Trailer().Frames))
	}
	checkReader(t, r, c)
	checkStream(t, bytes.NewReader(b), c)
}

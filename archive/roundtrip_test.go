package archive

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestRoundTrip(t *testing.T) {
	c := makeContent(1, 6, 25)
	b, st := writeArchive(t, c, WriterOptions{})
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	checkReader(t, r, c)
	checkStream(t, bytes.NewReader(b), c)

	// Every folder shares a blob: the writer stores it once.
	var blobBytes int64
	for _, d := range c.blobs {
		blobBytes += int64(len(d))
	}
	if st.Blobs != len(c.blobs) || st.BlobBytes != blobBytes || st.Folders != len(c.folders) ||
		st.BytesWritten != int64(len(b)) || st.Frames != len(r.Trailer().Frames) {
		t.Errorf("stats %+v; want %d blobs of %d bytes, %d folders, %d bytes, %d frames",
			st, len(c.blobs), blobBytes, len(c.folders), len(b), len(r.Trailer().Frames))
	}
	for h, d := range c.blobs {
		if Hash(sha256.Sum256(d)) != h {
			t.Fatal("test content: hash mismatch")
		}
	}
}

func TestRoundTripPipe(t *testing.T) {
	c := makeContent(2, 4, 30)
	pr, pw := io.Pipe()
	var copyBuf bytes.Buffer
	errc := make(chan error, 1)
	go func() {
		w, err := NewWriter(pw, c.header, WriterOptions{FrameSize: 8 << 10})
		if err == nil {
			err = c.write(w)
		}
		pw.CloseWithError(err)
		errc <- err
	}()
	checkStream(t, io.TeeReader(pr, &copyBuf), c)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	b := copyBuf.Bytes()
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	checkReader(t, r, c)
}

func TestDuplicateBlobs(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, testHeader(), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("same message")
	h := Hash(sha256.Sum256(data))
	for i, want := range []bool{true, false, false} {
		added, err := w.AddBlob(h, data)
		if err != nil || added != want {
			t.Fatalf("AddBlob #%d = %v, %v; want %v", i, added, err, want)
		}
		if !w.HasBlob(h) {
			t.Fatal("HasBlob false after AddBlob")
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Blobs != 1 || st.BlobBytes != int64(len(data)) {
		t.Errorf("stats %+v, want 1 blob", st)
	}
	r, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Trailer().Blobs); n != 1 {
		t.Errorf("trailer has %d blobs, want 1", n)
	}
}

func TestEmptyArchive(t *testing.T) {
	c := &content{header: testHeader(), blobs: map[Hash][]byte{}}
	b, _ := writeArchive(t, c, WriterOptions{})
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	checkReader(t, r, c)
	checkStream(t, bytes.NewReader(b), c)
}

func TestSmallFrames(t *testing.T) {
	// Blobs span many frames; the cache is off to decode each every time.
	c := makeContent(3, 3, 12)
	b, st := writeArchive(t, c, WriterOptions{FrameSize: 1000, Level: zstd.SpeedBetterCompression})
	if st.Frames < 50 {
		t.Fatalf("only %d frames", st.Frames)
	}
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Trailer().Frames[:len(r.Trailer().Frames)-1] {
		if f.Len != 1000 {
			t.Fatalf("frame of %d bytes, want 1000", f.Len)
		}
	}
	r.SetCacheFrames(0)
	checkReader(t, r, c)
	checkStream(t, bytes.NewReader(b), c)
}

func TestLargeBlob(t *testing.T) {
	c := makeContent(4, 1, 3, MaxFrameSize+12345)
	b, _ := writeArchive(t, c, WriterOptions{})
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	checkReader(t, r, c)
	checkStream(t, bytes.NewReader(b), c)
}

func TestOpenFrames(t *testing.T) {
	c := makeContent(5, 2, 10)
	b, _ := writeArchive(t, c, WriterOptions{FrameSize: 4096})
	full, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	r := OpenFrames(bytes.NewReader(b), full.Trailer().Frames)
	for _, e := range full.Trailer().Blobs {
		data, err := r.ReadBlob(e.Hash, e.Loc)
		if err != nil || !bytes.Equal(data, c.blobs[e.Hash]) {
			t.Fatalf("ReadBlob: %v", err)
		}
	}
	for i, loc := range full.Trailer().Folders {
		f, err := r.ReadFolder(loc)
		if err != nil || f.Name != c.folders[i].Name {
			t.Fatalf("ReadFolder: %v", err)
		}
	}

	bad := append([]Frame(nil), full.Trailer().Frames...)
	bad[1].LogicalOffset++
	e := full.Trailer().Blobs[0]
	if _, err := OpenFrames(bytes.NewReader(b), bad).ReadBlob(e.Hash, e.Loc); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad frame table: err %v, want ErrCorrupt", err)
	}
}

func TestBadLocations(t *testing.T) {
	c := makeContent(6, 1, 5)
	b, _ := writeArchive(t, c, WriterOptions{})
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	e := r.Trailer().Blobs[0]
	for _, loc := range []Location{
		{-1, 10}, {0, -1}, {e.Loc.Offset, 1 << 40}, {1 << 62, 1 << 62}, {e.Loc.Offset + 1, e.Loc.Length},
	} {
		if _, err := r.ReadBlob(e.Hash, loc); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ReadBlob(%v): err %v, want ErrCorrupt", loc, err)
		}
		if _, err := io.ReadAll(r.BlobReader(e.Hash, loc)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("BlobReader(%v): err %v, want ErrCorrupt", loc, err)
		}
	}
	if _, err := r.ReadBlob(Hash{1}, e.Loc); !errors.Is(err, ErrCorrupt) {
		t.Errorf("wrong hash: err %v, want ErrCorrupt", err)
	}
}

// TestZstdCompatible checks what FORMAT.md promises: a plain zstd stream
// decoder skips the header and footer and prints the logical stream.
func TestZstdCompatible(t *testing.T) {
	c := makeContent(7, 3, 10)
	b, _ := writeArchive(t, c, WriterOptions{FrameSize: 16 << 10})
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := range r.Trailer().Frames {
		p, release, err := r.frame(i)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, p...)
		release()
	}
	d, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) <= len(want) || !bytes.Equal(got[:len(want)], want) || got[len(want)] != kindTrailer {
		t.Fatalf("zstd stream decode: %d bytes, want the %d data bytes then the trailer", len(got), len(want))
	}
}

func TestZstdSkipsSkippableFrames(t *testing.T) {
	enc, err := newEncoder(zstd.SpeedFastest)
	if err != nil {
		t.Fatal(err)
	}
	in := appendSkippable(nil, headerMagic, []byte("not data"))
	in = enc.EncodeAll([]byte("hello, "), in)
	in = appendSkippable(in, footerMagic, make([]byte, footerPayload))
	in = enc.EncodeAll([]byte("world"), in)
	in = appendSkippable(in, footerMagic, []byte{})
	d, err := zstd.NewReader(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := io.ReadAll(d)
	if err != nil || string(got) != "hello, world" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriterStickyError(t *testing.T) {
	c := makeContent(8, 3, 20)
	w, err := NewWriter(&failWriter{n: 20000}, c.header, WriterOptions{FrameSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.write(w); !errors.Is(err, errDiskFull) {
		t.Fatalf("write: %v, want disk full", err)
	}
	if _, err := w.AddBlob(Hash{9}, []byte("x")); !errors.Is(err, errDiskFull) {
		t.Errorf("AddBlob after failure: %v", err)
	}
	if err := w.AddFolder(&Folder{}); !errors.Is(err, errDiskFull) {
		t.Errorf("AddFolder after failure: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errDiskFull) {
		t.Errorf("Close after failure: %v", err)
	}

	// A writer that fails only at the footer.
	b, _ := writeArchive(t, c, WriterOptions{})
	w, _ = NewWriter(&failWriter{n: len(b) - 1}, c.header, WriterOptions{})
	if err := c.write(w); !errors.Is(err, errDiskFull) {
		t.Errorf("failing footer: %v", err)
	}
	if _, err := w.AddBlob(Hash{9}, nil); err == nil {
		t.Error("AddBlob after Close succeeded")
	}
}

func TestWriterOptions(t *testing.T) {
	for _, opt := range []WriterOptions{{FrameSize: -1}, {FrameSize: MaxFrameSize + 1}} {
		if _, err := NewWriter(io.Discard, testHeader(), opt); err == nil {
			t.Errorf("NewWriter(%+v) succeeded", opt)
		}
	}
	h := testHeader()
	h.Version = 2
	if _, err := NewWriter(io.Discard, h, WriterOptions{}); err == nil {
		t.Error("NewWriter with version 2 succeeded")
	}
}

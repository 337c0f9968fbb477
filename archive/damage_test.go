package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
)

// smallArchive is an archive small enough to damage at every byte: two
// folders, a short message each, one empty message, frames of 256 bytes.
func smallArchive(t testing.TB) (*content, []byte) {
	c := makeContent(10, 2, 0)
	for i, f := range c.folders {
		f.Messages = []Message{c.blob([]byte("Subject: hi\r\n\r\nsee you at ten, or at eleven "+f.Name), 1, i), c.blob(nil, 2, i)}
	}
	b, _ := writeArchive(t, c, WriterOptions{FrameSize: 256})
	return c, b
}

func blobsEqual(a, b map[Hash][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for h, d := range a {
		if e, ok := b[h]; !ok || !bytes.Equal(d, e) {
			return false
		}
	}
	return true
}

// readAll reads everything through Open; it returns the first error.
func readAll(b []byte) (*Reader, []*Folder, map[Hash][]byte, error) {
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, nil, err
	}
	folders, err := r.Folders()
	if err != nil {
		return r, nil, nil, err
	}
	blobs := map[Hash][]byte{}
	for _, e := range r.Trailer().Blobs {
		data, err := r.ReadBlob(e.Hash, e.Loc)
		if err != nil {
			return r, folders, blobs, err
		}
		blobs[e.Hash] = data
	}
	return r, folders, blobs, nil
}

func TestTruncated(t *testing.T) {
	_, b := smallArchive(t)
	for n := range len(b) {
		_, err := Open(bytes.NewReader(b[:n]), int64(n))
		want := ErrTruncated
		if n == 0 {
			want = ErrNotArchive
		}
		if !errors.Is(err, want) && !(n > 0 && errors.Is(err, ErrCorrupt)) {
			t.Fatalf("Open of %d of %d bytes: %v, want %v", n, len(b), err, want)
		}
		_, _, _, err = readStream(bytes.NewReader(b[:n]))
		if !errors.Is(err, want) && !(n > 0 && errors.Is(err, ErrCorrupt)) {
			t.Fatalf("stream of %d of %d bytes: %v, want %v", n, len(b), err, want)
		}
	}
}

// TestEveryByteFlipped damages each byte in turn: every reader must fail
// with one of the package's errors or give back exactly what was written.
func TestEveryByteFlipped(t *testing.T) {
	c, b := smallArchive(t)
	for i := range len(b) {
		d := bytes.Clone(b)
		d[i] ^= 0x41
		r, folders, blobs, err := readAll(d)
		if err != nil {
			if !isArchiveErr(err) {
				t.Fatalf("byte %d: Open: unexpected error %v", i, err)
			}
		} else if r.Header() != c.header || !reflect.DeepEqual(folders, c.folders) || !blobsEqual(blobs, c.blobs) {
			t.Fatalf("byte %d: damaged archive read without error and differs", i)
		}
		h, sf, sb, err := readStream(bytes.NewReader(d))
		if err != nil {
			if !isArchiveErr(err) {
				t.Fatalf("byte %d: stream: unexpected error %v", i, err)
			}
			continue
		}
		if h != c.header || !reflect.DeepEqual(sf, c.folders) || len(sb) != len(c.blobs) {
			t.Fatalf("byte %d: damaged stream read without error and differs", i)
		}
	}
}

func TestDamagedDataFrame(t *testing.T) {
	c := makeContent(11, 2, 10)
	b, _ := writeArchive(t, c, WriterOptions{})
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	f := r.Trailer().Frames[0]
	d := bytes.Clone(b)
	d[f.FileOffset+f.CompressedLen/2] ^= 1
	r, err = Open(bytes.NewReader(d), int64(len(d)))
	if err != nil {
		t.Fatal(err) // the trailer is intact
	}
	e := r.Trailer().Blobs[0]
	if _, err := r.ReadBlob(e.Hash, e.Loc); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadBlob from a damaged frame: %v, want ErrCorrupt", err)
	}
	if _, err := io.ReadAll(r.BlobReader(e.Hash, e.Loc)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("BlobReader from a damaged frame: %v, want ErrCorrupt", err)
	}
	if _, _, _, err := readStream(bytes.NewReader(d)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("stream with a damaged frame: %v, want ErrCorrupt", err)
	}
}

func TestDamagedEnds(t *testing.T) {
	_, b := smallArchive(t)
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	fr := r.Trailer().Frames
	trailerAt := fr[len(fr)-1].FileOffset + fr[len(fr)-1].CompressedLen
	for _, tc := range []struct {
		name string
		at   int64
		want error
	}{
		{"header magic", 0, ErrNotArchive},
		{"header id", 9, ErrNotArchive},
		{"header server name", fr[0].FileOffset - 15, ErrCorrupt},
		{"trailer", trailerAt + 10, ErrCorrupt},
		{"footer magic", int64(len(b)) - FooterSize, ErrTruncated},
		{"footer offset", int64(len(b)) - FooterSize + 17, ErrCorrupt},
		{"footer crc", int64(len(b)) - 1, ErrCorrupt},
	} {
		d := bytes.Clone(b)
		d[tc.at] ^= 0x20
		if _, err := Open(bytes.NewReader(d), int64(len(d))); !errors.Is(err, tc.want) {
			t.Errorf("%s: Open: %v, want %v", tc.name, err, tc.want)
		}
		if _, _, _, err := readStream(bytes.NewReader(d)); !isArchiveErr(err) {
			t.Errorf("%s: stream: %v", tc.name, err)
		}
	}
	// Bytes after the footer: Open finds no footer, the stream objects.
	d := append(bytes.Clone(b), 0)
	if _, err := Open(bytes.NewReader(d), int64(len(d))); !errors.Is(err, ErrTruncated) {
		t.Errorf("trailing byte: Open: %v", err)
	}
	if _, _, _, err := readStream(bytes.NewReader(d)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: stream: %v", err)
	}
}

func TestNotArchive(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("From alice@example.org Mon Nov  2 10:00:00 2026\n"), make([]byte, 1000)} {
		if _, err := Open(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrNotArchive) {
			t.Errorf("Open(%.10q): %v, want ErrNotArchive", b, err)
		}
		if _, err := NewStreamReader(bytes.NewReader(b)); !errors.Is(err, ErrNotArchive) {
			t.Errorf("NewStreamReader(%.10q): %v, want ErrNotArchive", b, err)
		}
	}
}

// bombFrame returns a zstd frame of RLE blocks that decodes to n bytes, in
// about n/32768 bytes. declare puts the size in the frame header.
func bombFrame(n int, declare bool) []byte {
	b := binary.LittleEndian.AppendUint32(nil, zstdMagic)
	if declare {
		b = append(b, 0xc0|0x04) // 8-byte content size, checksum, windowed
		b = append(b, 0x58)      // window 8 MiB... rejected only if the size is not
		b = binary.LittleEndian.AppendUint64(b, uint64(n))
	} else {
		b = append(b, 0x04, 0x50) // no content size, checksum, 4 MiB window
	}
	const block = 128 << 10
	for n > 0 {
		size := min(n, block)
		n -= size
		h := uint32(size)<<3 | 1<<1
		if n == 0 {
			h |= 1
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 'x')
	}
	return append(b, 0, 0, 0, 0) // a checksum that is never reached
}

// bombArchive puts frame into an archive whose tables claim it holds
// claim bytes.
func bombArchive(frame []byte, claim int64) []byte {
	var e enc
	e.fixed([]byte(headerID))
	h := testHeader()
	encodeHeader(&e, &h)
	b := appendSkippable(nil, headerMagic, e.b)
	t := Trailer{Header: h, Frames: []Frame{{FileOffset: int64(len(b)), CompressedLen: int64(len(frame)), Len: claim}},
		Blobs: []BlobEntry{{Hash: Hash{1}, Loc: Location{Offset: 33, Length: claim - 33}}}}
	b = append(b, frame...)
	var te enc
	encodeTrailer(&te, &t)
	rec := append([]byte{kindTrailer}, binary.AppendUvarint(nil, uint64(len(te.b)))...)
	rec = append(rec, te.b...)
	enc, _ := newEncoder(1)
	z := enc.EncodeAll(rec, nil)
	ft := footer{offset: int64(len(b)), clen: int64(len(z)), dlen: int64(len(rec))}
	return ft.appendTo(append(b, z...))
}

func TestZstdBomb(t *testing.T) {
	for _, tc := range []struct {
		name    string
		frame   []byte
		claim   int64
		declare bool
	}{
		{"undeclared", bombFrame(1<<30, false), 1 << 20, false},
		{"declared", bombFrame(1<<30, true), 1 << 20, true},
		{"declared as in the table", bombFrame(3<<20, true), 1 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bombArchive(tc.frame, tc.claim)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r, err := Open(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			e := r.Trailer().Blobs[0]
			if _, err := r.ReadBlob(e.Hash, e.Loc); !errors.Is(err, ErrCorrupt) {
				t.Errorf("ReadBlob: %v, want ErrCorrupt", err)
			}
			if _, _, _, err := readStream(bytes.NewReader(b)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("stream: %v, want ErrCorrupt", err)
			}
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
				t.Errorf("allocated %d MiB", n>>20)
			}
		})
	}
}

func TestTrailerBomb(t *testing.T) {
	_, b := smallArchive(t)
	// Point the footer at a trailer that claims to decompress to 1 GiB.
	ft, err := parseFooter(b[len(b)-FooterSize:], 0)
	if err != nil {
		t.Fatal(err)
	}
	ft.dlen = 1 << 30
	d := ft.appendTo(bytes.Clone(b[:len(b)-FooterSize]))
	if _, err := Open(bytes.NewReader(d), int64(len(d))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open: %v, want ErrCorrupt", err)
	}
}

func TestBadHeaderLength(t *testing.T) {
	_, b := smallArchive(t)
	for _, n := range []uint32{0, 7, maxHeader + 1, 1 << 31} {
		d := bytes.Clone(b)
		binary.LittleEndian.PutUint32(d[4:], n)
		if _, err := Open(bytes.NewReader(d), int64(len(d))); !errors.Is(err, ErrCorrupt) {
			t.Errorf("header length %d: Open: %v, want ErrCorrupt", n, err)
		}
		if _, err := NewStreamReader(bytes.NewReader(d)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("header length %d: stream: %v, want ErrCorrupt", n, err)
		}
	}
}

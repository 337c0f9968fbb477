package archive

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

// fuzzSeeds are small valid archives, so that mutations reach past the
// checksums often enough to matter.
func fuzzSeeds(f *testing.F) {
	_, b := smallArchive(f)
	f.Add(b)
	c := &content{header: testHeader(), blobs: map[Hash][]byte{}}
	empty, _ := writeArchive(f, c, WriterOptions{})
	f.Add(empty)
	c = makeContent(14, 1, 0)
	c.folders[0].Messages = []Message{c.blob([]byte("x"), 1, 0)}
	one, _ := writeArchive(f, c, WriterOptions{FrameSize: 16})
	f.Add(one)
	f.Add([]byte("MVLTARC1"))
}

func FuzzOpen(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, _, err := readAll(b)
		if err != nil && !isArchiveErr(err) {
			t.Fatalf("error of no known kind: %v", err)
		}
		if r == nil {
			return
		}
		for _, e := range r.Trailer().Blobs {
			if _, err := io.Copy(io.Discard, r.BlobReader(e.Hash, e.Loc)); err != nil && !isArchiveErr(err) {
				t.Fatalf("BlobReader: error of no known kind: %v", err)
			}
		}
	})
}

func FuzzStream(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, folders, blobs, err := readStream(bytes.NewReader(b))
		if err != nil {
			if !isArchiveErr(err) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		// What the stream accepts in full, Open must read the same.
		r, rf, rb, err := readAll(b)
		if err != nil {
			t.Fatalf("stream accepted what Open rejects: %v", err)
		}
		if r.Header() != h || len(rf) != len(folders) || len(rb) != len(blobs) || (len(rf) > 0 && !reflect.DeepEqual(rf, folders)) {
			t.Fatal("stream and Open disagree")
		}
		for _, sb := range blobs {
			if !bytes.Equal(rb[sb.Hash], sb.Data) {
				t.Fatalf("blob %x: stream and Open disagree", sb.Hash[:8])
			}
		}
	})
}

func FuzzFolderDecode(f *testing.F) {
	for _, fo := range makeContent(15, 4, 2).folders {
		var e enc
		encodeFolder(&e, fo)
		f.Add(e.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var first Folder
		d := dec{b: b, what: "fuzz"}
		decodeFolder(&d, &first)
		d.done()
		if d.err != nil {
			return
		}
		var e enc
		encodeFolder(&e, &first)
		if bytes.Equal(e.b, b) {
			return
		}
		// Only fields of a later version, which are dropped, may differ.
		var second Folder
		d = dec{b: e.b, what: "re-encoded"}
		decodeFolder(&d, &second)
		d.done()
		if d.err != nil || !reflect.DeepEqual(first, second) {
			t.Fatalf("re-encoding does not decode the same: %v", d.err)
		}
	})
}

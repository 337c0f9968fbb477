package archive

import (
	"bytes"
	"crypto/sha256"
	"os"
	"reflect"
	"testing"
)

// TestFolderSpool: with a spool, every folder record lies after the last
// blob, in frames of their own, and the archive reads as without one.
func TestFolderSpool(t *testing.T) {
	c := makeContent(3, 6, 25)
	dir := t.TempDir()
	b, _ := writeArchive(t, c, WriterOptions{FolderSpool: dir, FrameSize: 64 << 10})
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	checkReader(t, r, c)
	checkStream(t, bytes.NewReader(b), c)
	tr := r.Trailer()
	var blobEnd int64
	for _, bl := range tr.Blobs {
		blobEnd = max(blobEnd, bl.Loc.Offset+bl.Loc.Length)
	}
	first := tr.Folders[0].Offset
	if first <= blobEnd {
		t.Errorf("first folder at %d, before the end of the blobs at %d", first, blobEnd)
	}
	// The folders start a frame: reading them decompresses no blob frame.
	if f := tr.Frames[r.frameAt(first)]; f.LogicalOffset < blobEnd {
		t.Errorf("the frame of the first folder (from %d) holds blob bytes (to %d)", f.LogicalOffset, blobEnd)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the spool left %d files behind", len(entries))
	}
}

// TestCopies: with Copies, every AddBlob writes a record, and the
// archive still reads.
func TestCopies(t *testing.T) {
	c := makeContent(4, 4, 10) // every fifth message shares one blob
	b, st := writeArchive(t, c, WriterOptions{Copies: true})
	var adds int
	for _, f := range c.folders {
		adds += len(f.Messages)
	}
	if st.Blobs != adds {
		t.Errorf("%d blob records for %d messages", st.Blobs, adds)
	}
	_, folders, blobs, err := readStream(bytes.NewReader(b))
	if err != nil || len(blobs) != adds || len(folders) != len(c.folders) {
		t.Errorf("stream: %d blobs, %d folders, %v", len(blobs), len(folders), err)
	}
}

// TestPartsAndOrigin: messages stored in parts and folders carried over
// from an earlier snapshot round-trip through both readers.
func TestPartsAndOrigin(t *testing.T) {
	c := makeContent(5, 2, 4)
	data := append([]byte("Return-Path: <a@b>\nDelivered-To: c@d\n"), bytes.Repeat([]byte("Subject: x\n\nbody\n"), 100)...)
	h, pieces := Split(data)
	if len(pieces) != 2 {
		t.Fatalf("Split gave %d pieces", len(pieces))
	}
	m := c.blob(data, 9, 0)
	delete(c.blobs, m.Blob) // stored as its parts only
	m.Blob = h
	for _, p := range pieces {
		c.blobs[p.Hash] = p.Data
		m.Parts = append(m.Parts, p.Hash)
	}
	c.folders[0].Messages = append(c.folders[0].Messages, m)
	c.folders[1].Messages = nil
	c.folders[1].Origin, c.folders[1].OriginIndex = 1795000000000000000, 7
	kept := map[Hash][]byte{}
	for _, msg := range c.folders[0].Messages {
		for _, p := range msg.Blobs() {
			kept[p] = c.blobs[p]
		}
	}
	c.blobs = kept

	var buf bytes.Buffer
	w, err := NewWriter(&buf, c.header, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c.folders {
		for _, msg := range f.Messages {
			for _, p := range msg.Blobs() {
				w.AddBlob(p, c.blobs[p])
			}
		}
		w.AddFolder(f)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	checkReader(t, r, c)
	checkStream(t, bytes.NewReader(b), c)
	got, err := JoinParts(m.Parts, func(p Hash) ([]byte, error) {
		for _, e := range r.Trailer().Blobs {
			if e.Hash == p {
				return r.ReadBlob(p, e.Loc)
			}
		}
		t.Fatalf("part %x not in the archive", p[:4])
		return nil, nil
	})
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("joined parts differ from the message: %v", err)
	}
}

func TestSplit(t *testing.T) {
	rest := "From: a@example.org\nSubject: hello\n\n" + string(bytes.Repeat([]byte("body line\n"), 60))
	for _, c := range []struct {
		name, trace string
		split       bool
	}{
		{"no trace lines", "", false},
		{"LDA lines", "Return-Path: <a@example.org>\nDelivered-To: b@example.org\n", true},
		{"folded Received", "Received: from x\n\tby y for <b@example.org>; Mon, 1 Jan 2002\nDelivered-To: b@example.org\n", true},
		{"case and CRLF", "RETURN-PATH: <a@example.org>\r\ndelivered-to: b@example.org\r\n", true},
	} {
		data := []byte(c.trace + rest)
		h, pieces := Split(data)
		if !c.split {
			if len(pieces) != 1 || h != sha256.Sum256(data) {
				t.Errorf("%s: %d pieces", c.name, len(pieces))
			}
			continue
		}
		if len(pieces) != 2 || string(pieces[0].Data) != c.trace || string(pieces[1].Data) != rest {
			t.Errorf("%s: split into %q", c.name, pieces)
			continue
		}
		if h != PartsHash(pieces[0].Hash, pieces[1].Hash) {
			t.Errorf("%s: hash is not the parts hash", c.name)
		}
		if ids := Identities(data); !reflect.DeepEqual(ids, [][32]byte{h, sha256.Sum256(data)}) {
			t.Errorf("%s: identities %x", c.name, ids)
		}
	}
	// A short rest is not worth a blob; the same message always splits
	// the same way.
	short := []byte("Return-Path: <a@b>\n\nhi\n")
	if _, p := Split(short); len(p) != 1 {
		t.Errorf("short message split into %d", len(p))
	}
	// Copies to two recipients share the rest.
	_, a := Split([]byte("Delivered-To: a@x\n" + rest))
	_, b := Split([]byte("Delivered-To: b@x\n" + rest))
	if a[1].Hash != b[1].Hash || a[0].Hash == b[0].Hash {
		t.Error("copies to two recipients do not share their rest")
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte("Return-Path: <a@b>\nDelivered-To: c\n\tcont\nSubject: x\n\n" + string(bytes.Repeat([]byte("x"), 600))))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, pieces := Split(data)
		var joined []byte
		var hashes []Hash
		for _, p := range pieces {
			if Hash(sha256.Sum256(p.Data)) != p.Hash {
				t.Fatal("piece hash mismatch")
			}
			joined = append(joined, p.Data...)
			hashes = append(hashes, p.Hash)
		}
		if !bytes.Equal(joined, data) {
			t.Fatal("pieces do not join to the message")
		}
		if len(pieces) > 1 && h != PartsHash(hashes...) || len(pieces) == 1 && h != sha256.Sum256(data) {
			t.Fatal("message hash")
		}
	})
}

func TestApply(t *testing.T) {
	origin := &Folder{User: "a", Name: "INBOX",
		Files: []File{{Name: "dovecot-keywords", Data: []byte("0 old\n")}, {Name: "dovecot-uidlist", Data: []byte("3 V1 N3\n")}},
		Messages: []Message{
			{Subdir: "cur", Name: "1.host:2,", UID: 1}, {Subdir: "cur", Name: "2.host:2,", UID: 2}, {Subdir: "new", Name: "3.host", UID: 0},
		}}
	change := &Folder{User: "a", Name: "INBOX", Origin: 5, OriginIndex: 1,
		Files:   []File{{Name: "dovecot-uidlist", Data: []byte("3 V1 N4\n")}},
		Removed: []string{"cur/1.host:2,", "new/3.host"},
		Messages: []Message{
			{Subdir: "cur", Name: "1.host:2,S", UID: 1}, // a flag change: a rename
			{Subdir: "cur", Name: "3.host:2,", UID: 3},  // moved from new/ and numbered
		}}
	got := change.Apply(origin)
	var names []string
	for _, m := range got.Messages {
		names = append(names, m.Path())
	}
	want := []string{"cur/2.host:2,", "cur/1.host:2,S", "cur/3.host:2,"}
	if !reflect.DeepEqual(names, want) || got.Origin != 0 || got.Removed != nil {
		t.Errorf("Apply: %v (origin %d, removed %v), want %v", names, got.Origin, got.Removed, want)
	}
	if string(got.Files[0].Data) != "0 old\n" || string(got.Files[1].Data) != "3 V1 N4\n" {
		t.Errorf("files: %+v", got.Files)
	}
	if len(origin.Files) != 2 || string(origin.Files[1].Data) != "3 V1 N3\n" || len(origin.Messages) != 3 {
		t.Error("Apply changed the origin")
	}
	// Encoded and decoded, the change is the same.
	var e enc
	encodeFolder(&e, change)
	var back Folder
	d := dec{b: e.b, what: "test"}
	decodeFolder(&d, &back)
	if d.err != nil || !reflect.DeepEqual(&back, change) {
		t.Errorf("round trip: %+v, %v", back, d.err)
	}
}

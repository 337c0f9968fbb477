package archive

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// content is what a test writes into an archive: folders in order, and
// each folder's blobs added just before it.
type content struct {
	header  Header
	folders []*Folder
	blobs   map[Hash][]byte
}

var words = strings.Fields(`the of and to in is you that it he was for on are as with his they
	at be this have from or one had by word but not what all were we when your can said there
	use an each which she do how their if will up other about out many then them these so some
	her would make like him into time has look two more write go see number no way could people
	meeting invoice attached regards please find below thanks report quarterly budget review`)

// text returns n bytes of mail-like text.
func text(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		if rng.IntN(12) == 0 {
			b.WriteString(".\r\n")
		}
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

// message returns a mail message of about n bytes.
func message(rng *rand.Rand, i, n int) []byte {
	h := fmt.Sprintf("Return-Path: <u%d@example.org>\r\nMessage-ID: <%d.%d@example.org>\r\n"+
		"From: User %d <u%d@example.org>\r\nTo: alice@example.org\r\nSubject: %s\r\n"+
		"Date: Mon, 2 Nov 2026 10:%02d:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		i, i, rng.Uint32(), i%50, i%50, text(rng, 30), i%60)
	return append([]byte(h), text(rng, max(n-len(h), 0))...)
}

func testHeader() Header {
	return Header{Version: 1, ID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Created: 1795000000123456789, Server: "mail1", Group: "staff", Scope: "/",
		Snapshot: "2026-11-19T03:05:00Z", Flags: FlagFull}
}

// makeContent builds folders of messages of varied sizes; some messages
// share a blob, one is empty and one is binary. extra blobs of the given
// sizes go into the first folder.
func makeContent(seed uint64, folders, msgs int, extra ...int) *content {
	rng := rand.New(rand.NewPCG(seed, 1))
	c := &content{header: testHeader(), blobs: map[Hash][]byte{}}
	shared := message(rng, 0, 1500)
	for fi := range folders {
		f := &Folder{
			User: fmt.Sprintf("user%d@example.org", fi/2), Name: []string{"INBOX", "Archive/2002", "Sent", "Entwürfe"}[fi%4],
			Dir: []string{"", ".Archive.2002", ".Sent", ".Entw&APw-rfe"}[fi%4], UIDValidity: uint32(1700000000 + fi),
			NextUID: uint32(msgs + 1), GUID: fmt.Sprintf("%032x", fi), Mode: 0o700, OwnerUID: 1000, OwnerGID: 1000,
			CurMtime: 1795000000000000000 + int64(fi), NewMtime: -1, // before 1970, to cover signed values
		}
		if fi%2 == 0 {
			f.Keywords = []string{"$Forwarded", "Junk", "$label1"}
			f.Files = []File{
				{Name: "dovecot-uidlist", Mode: 0o600, Mtime: 1795000000000000001, Data: []byte("3 V1700000000 N3 Gabc\n1 :1.M1P1.host\n")},
				{Name: "maildirfolder", Mode: 0o600, Mtime: 1795000000000000002},
			}
		}
		for mi := range msgs {
			var data []byte
			switch {
			case mi%5 == 4:
				data = shared
			case mi == 1 && fi == 0:
				data = nil // an empty message file
			case mi == 2 && fi == 0:
				data = make([]byte, 3000)
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
			default:
				data = message(rng, fi*msgs+mi, 200+rng.IntN(20000))
			}
			f.Messages = append(f.Messages, c.blob(data, mi, fi))
		}
		if fi == 0 {
			for i, n := range extra {
				f.Messages = append(f.Messages, c.blob(text(rng, n), msgs+i, fi))
			}
		}
		c.folders = append(c.folders, f)
	}
	return c
}

func (c *content) blob(data []byte, uid, link int) Message {
	h := Hash(sha256.Sum256(data))
	c.blobs[h] = data
	return Message{Subdir: []string{"cur", "new"}[uid%2], Name: fmt.Sprintf("%d.M%dP1.host,S=%d:2,S", 1795000000+uid, uid, len(data)),
		Size: int64(len(data)), Mtime: 1795000000000000000 + int64(uid), Mode: 0o600, UID: uint32(uid + 1), Blob: h,
		Link: uint64(link)<<32 | uint64(uid) | 1<<63, Nlink: 1}
}

// write writes c: each folder's blobs, then the folder.
func (c *content) write(w *Writer) error {
	for _, f := range c.folders {
		for _, m := range f.Messages {
			if _, err := w.AddBlob(m.Blob, c.blobs[m.Blob]); err != nil {
				return err
			}
		}
		if err := w.AddFolder(f); err != nil {
			return err
		}
	}
	return w.Close()
}

func writeArchive(t testing.TB, c *content, opt WriterOptions) ([]byte, WriterStats) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, c.header, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.write(w); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.Stats()
}

// checkReader checks that r holds exactly c.
func checkReader(t *testing.T, r *Reader, c *content) {
	t.Helper()
	if r.Header() != c.header {
		t.Errorf("header = %+v, want %+v", r.Header(), c.header)
	}
	got, err := r.Folders()
	if err != nil {
		t.Fatal(err)
	}
	if (len(got) > 0 || len(c.folders) > 0) && !reflect.DeepEqual(got, c.folders) {
		t.Errorf("folders differ:\n got %+v\nwant %+v", got, c.folders)
	}
	tr := r.Trailer()
	if len(tr.Blobs) != len(c.blobs) {
		t.Errorf("trailer has %d blobs, want %d", len(tr.Blobs), len(c.blobs))
	}
	for _, b := range tr.Blobs {
		want, ok := c.blobs[b.Hash]
		if !ok {
			t.Fatalf("unexpected blob %x", b.Hash)
		}
		data, err := r.ReadBlob(b.Hash, b.Loc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, want) {
			t.Fatalf("blob %x differs", b.Hash[:8])
		}
		streamed, err := io.ReadAll(r.BlobReader(b.Hash, b.Loc))
		if err != nil || !bytes.Equal(streamed, want) {
			t.Fatalf("BlobReader %x: err %v, equal %v", b.Hash[:8], err, bytes.Equal(streamed, want))
		}
	}
}

// readStream reads every record of an archive stream.
func readStream(r io.Reader) (Header, []*Folder, []*BlobRecord, error) {
	s, err := NewStreamReader(r)
	if err != nil {
		return Header{}, nil, nil, err
	}
	var folders []*Folder
	var blobs []*BlobRecord
	for {
		rec, err := s.Next()
		if err == io.EOF {
			return s.Header(), folders, blobs, nil
		}
		if err != nil {
			return s.Header(), folders, blobs, err
		}
		if rec.Folder != nil {
			folders = append(folders, rec.Folder)
		} else {
			blobs = append(blobs, rec.Blob)
		}
	}
}

// checkStream checks that the stream holds exactly c, each blob once.
func checkStream(t *testing.T, r io.Reader, c *content) {
	t.Helper()
	h, folders, blobs, err := readStream(r)
	if err != nil {
		t.Fatal(err)
	}
	if h != c.header {
		t.Errorf("header = %+v, want %+v", h, c.header)
	}
	if !reflect.DeepEqual(folders, c.folders) {
		t.Errorf("folders differ")
	}
	seen := map[Hash]bool{}
	for _, b := range blobs {
		if seen[b.Hash] {
			t.Errorf("blob %x twice in the stream", b.Hash[:8])
		}
		seen[b.Hash] = true
		if !bytes.Equal(b.Data, c.blobs[b.Hash]) {
			t.Errorf("blob %x differs", b.Hash[:8])
		}
	}
	if len(seen) != len(c.blobs) {
		t.Errorf("stream has %d blobs, want %d", len(seen), len(c.blobs))
	}
}

// isArchiveErr reports whether err wraps one of the package's sentinels.
func isArchiveErr(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrNotArchive)
}

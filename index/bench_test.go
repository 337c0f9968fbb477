package index

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/mailvault/mailvault/archive"
)

// benchArchive is an archive of 20 users with 3 folders of 100 messages
// each, at snapshot time created; with origin not 0 every folder is told
// as a change of the snapshot of origin with one message added.
func benchArchive(b *testing.B, created, origin int64) (*archive.Reader, int64) {
	b.Helper()
	var buf bytes.Buffer
	h := archive.Header{Version: 1, Created: created, Server: "m1", Group: "g", Scope: "/", Snapshot: fmt.Sprint(created)}
	w, err := archive.NewWriter(&buf, h, archive.WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	msg := func(user, folder string, i int) archive.Message {
		data := []byte(fmt.Sprintf("message %d of %s/%s", i, user, folder))
		hash := archive.Hash(sha256.Sum256(data))
		if !w.HasBlob(hash) {
			if _, err := w.AddBlob(hash, data); err != nil {
				b.Fatal(err)
			}
		}
		return archive.Message{Subdir: "cur", Name: fmt.Sprintf("%d.M%dP1.host,S=%d:2,S", 1700000000+i, i, len(data)),
			Size: int64(len(data)), Mtime: 42, UID: uint32(i + 1), Blob: hash, Link: uint64(i + 1), Nlink: 1}
	}
	for u := range 20 {
		user := fmt.Sprintf("user%02d@example.org", u)
		for _, name := range []string{"INBOX", "Sent", "Trash"} {
			f := &archive.Folder{User: user, Name: name, UIDValidity: 7, NextUID: 101,
				Files: []archive.File{{Name: "dovecot-uidlist", Data: []byte("3 V7 N101\n")}}}
			if origin != 0 {
				f.Origin, f.Files = origin, nil
				f.Messages = []archive.Message{msg(user, name, 100)}
			} else {
				for i := range 100 {
					f.Messages = append(f.Messages, msg(user, name, i))
				}
			}
			if err := w.AddFolder(f); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	r, err := archive.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		b.Fatal(err)
	}
	return r, int64(buf.Len())
}

// BenchmarkIngest catalogs an archive of 6 000 messages into a new index.
func BenchmarkIngest(b *testing.B) {
	r, n := benchArchive(b, 100, 0)
	for b.Loop() {
		b.StopTimer()
		c, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := c.Ingest("a.mva", n, r); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkIngestChange catalogs an incremental archive whose 60 folders
// are told as the same change as in the last one: the common case of a
// run after a delivery.
func BenchmarkIngestChange(b *testing.B) {
	c, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r, n := benchArchive(b, 100, 0)
	if err := c.Ingest("a.mva", n, r); err != nil {
		b.Fatal(err)
	}
	t := int64(200)
	for b.Loop() {
		b.StopTimer()
		r, n := benchArchive(b, t, 100)
		b.StartTimer()
		if err := c.Ingest(fmt.Sprintf("c%d.mva", t), n, r); err != nil {
			b.Fatal(err)
		}
		t++
	}
}

// BenchmarkLookups lists a user's folders and one listing's messages, and
// looks up a blob, as a mount does for each directory it shows.
func BenchmarkLookups(b *testing.B) {
	c, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r, n := benchArchive(b, 100, 0)
	if err := c.Ingest("a.mva", n, r); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		fs, err := c.Folders("m1", "g", "user07@example.org", 100)
		if err != nil || len(fs) != 3 {
			b.Fatalf("folders %v %v", fs, err)
		}
		msgs, err := c.Messages(fs[0].Listing)
		if err != nil || len(msgs) != 100 {
			b.Fatalf("%d messages, %v", len(msgs), err)
		}
		if _, err := c.Blob(msgs[50].Blob); err != nil {
			b.Fatal(err)
		}
	}
}

package index

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/mailvault/mailvault/archive"
)

// testArchive writes an archive of one group's users and opens it.
func testArchive(t *testing.T, server, group string, created int64, users map[string][]string) (*archive.Reader, int64) {
	t.Helper()
	var buf bytes.Buffer
	h := archive.Header{Version: 1, Created: created, Server: server, Group: group, Scope: "/", Snapshot: fmt.Sprint(created)}
	w, err := archive.NewWriter(&buf, h, archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for user, folders := range users {
		for _, name := range folders {
			f := &archive.Folder{User: user, Name: name, UIDValidity: 7, NextUID: 3, GUID: "abc",
				Files: []archive.File{{Name: "dovecot-uidlist", Data: []byte("3 V7 N3\n")}}}
			for i, body := range []string{"shared message", "only in " + user + "/" + name} {
				data := []byte(body)
				hash := archive.Hash(sha256.Sum256(data))
				if _, err := w.AddBlob(hash, data); err != nil {
					t.Fatal(err)
				}
				f.Messages = append(f.Messages, archive.Message{Subdir: "cur", Name: fmt.Sprintf("%d.M1P1.host,S=%d:2,S", i, len(data)),
					Size: int64(len(data)), Mtime: 42, UID: uint32(i + 1), Blob: hash, Link: uint64(i + 1), Nlink: 1})
			}
			if err := w.AddFolder(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := archive.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return r, int64(buf.Len())
}

func TestIngestAndQuery(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r1, n1 := testArchive(t, "mail1", "staff", 100, map[string][]string{
		"alice@example.org": {"INBOX", "Archive/2002"}, "bob@example.org": {"INBOX"}})
	r2, n2 := testArchive(t, "mail1", "staff", 200, map[string][]string{"alice@example.org": {"INBOX"}})
	r3, n3 := testArchive(t, "mail1", "user", 150, map[string][]string{"erin@example.org": {"INBOX", "Sent"}})
	for i, a := range []struct {
		r *archive.Reader
		n int64
	}{{r1, n1}, {r2, n2}, {r3, n3}} {
		if err := c.Ingest(fmt.Sprintf("a%d.mva", i), a.n, a.r); err != nil {
			t.Fatal(err)
		}
	}

	if s, _ := c.Servers(); fmt.Sprint(s) != "[mail1]" {
		t.Errorf("servers %v", s)
	}
	if g, _ := c.Groups("mail1"); fmt.Sprint(g) != "[staff user]" {
		t.Errorf("groups %v", g)
	}
	users, err := c.Users("mail1", "staff", 0)
	if err != nil || len(users) != 2 {
		t.Fatalf("users %v %v", users, err)
	}
	// alice's latest snapshot is the second archive, with one folder.
	if u := users[0]; u.Name != "alice@example.org" || u.Time != 200 || u.Folders != 1 || u.Msgs != 2 {
		t.Errorf("alice latest: %+v", u)
	}
	// As of time 150 alice had two folders.
	old, _ := c.Users("mail1", "staff", 150)
	if len(old) != 2 || old[0].Time != 100 || old[0].Folders != 2 {
		t.Errorf("alice at 150: %+v", old)
	}
	folders, err := c.Folders("mail1", "staff", "alice@example.org", 100)
	if err != nil || len(folders) != 2 || folders[0].Name != "Archive/2002" || folders[1].Name != "INBOX" {
		t.Fatalf("folders %v %v", folders, err)
	}
	f := folders[1]
	if f.UIDValidity != 7 || f.NextUID != 3 || f.GUID != "abc" || f.Msgs != 2 {
		t.Errorf("folder %+v", f)
	}
	msgs, err := c.Messages(f.Listing)
	if err != nil || len(msgs) != 2 || msgs[1].UID != 2 || msgs[1].Name != fmt.Sprintf("1.M1P1.host,S=%d:2,S", msgs[1].Size) {
		t.Fatalf("messages %+v %v", msgs, err)
	}
	ctl, err := c.Controls(f.Listing)
	if err != nil || len(ctl) != 1 || string(ctl[0].Data) != "3 V7 N3\n" {
		t.Errorf("controls %+v %v", ctl, err)
	}
	// Every message's blob is found and reads back.
	for _, m := range msgs {
		b, err := c.Blob(m.Blob)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := c.Archive(b.Archive)
		if a == nil || len(a.Frames) == 0 {
			t.Fatalf("archive %d unknown", b.Archive)
		}
	}
	if _, err := c.Blob(archive.Hash{1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown blob: %v", err)
	}
	snaps, _ := c.Snapshots("")
	if len(snaps) != 3 || snaps[0].Time != 100 || snaps[1].Group != "user" || snaps[2].Time != 200 {
		t.Errorf("snapshots %+v", snaps)
	}

	// Reopening finds everything again; a second opener is refused.
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("second open: %v, want ErrLocked", err)
	}
	c.Close()
	c, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := len(c.Archives()); n != 3 {
		t.Errorf("%d archives after reopen", n)
	}
}

func TestUnchangedFolderSharesListing(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r1, n1 := testArchive(t, "m", "g", 1, map[string][]string{"u": {"INBOX"}})
	r2, n2 := testArchive(t, "m", "g", 2, map[string][]string{"u": {"INBOX"}})
	r3, n3 := testArchive(t, "m", "g", 3, map[string][]string{"u": {"Sent"}})
	c.Ingest("1.mva", n1, r1)
	c.Ingest("2.mva", n2, r2)
	c.Ingest("3.mva", n3, r3)
	f1, _ := c.Folders("m", "g", "u", 1)
	f2, _ := c.Folders("m", "g", "u", 2)
	f3, _ := c.Folders("m", "g", "u", 3)
	if len(f1) != 1 || len(f2) != 1 || len(f3) != 1 {
		t.Fatal("want one folder per snapshot")
	}
	if f1[0].Listing != f2[0].Listing {
		t.Error("the same folder content in two snapshots must share a listing")
	}
	if f3[0].Listing == f1[0].Listing {
		t.Error("different folder content must have different listings")
	}
	if msgs, _ := c.Messages(f2[0].Listing); len(msgs) != 2 {
		t.Errorf("shared listing has %d messages", len(msgs))
	}
}

// changeArchive writes an archive holding one folder told as a change of
// alice's INBOX in the snapshot of origin: one message added.
func changeArchive(t *testing.T, created, origin int64) (*archive.Reader, int64) {
	t.Helper()
	var buf bytes.Buffer
	h := archive.Header{Version: 1, Created: created, Server: "mail1", Group: "staff", Scope: "/", Snapshot: fmt.Sprint(created)}
	w, err := archive.NewWriter(&buf, h, archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("new mail")
	hash := archive.Hash(sha256.Sum256(data))
	if _, err := w.AddBlob(hash, data); err != nil {
		t.Fatal(err)
	}
	f := &archive.Folder{User: "alice@example.org", Name: "INBOX", UIDValidity: 7, NextUID: 4, Origin: origin,
		Messages: []archive.Message{{Subdir: "new", Name: "9.M9P9.host", Size: int64(len(data)), Mtime: 43, Blob: hash, Link: 9, Nlink: 1}}}
	if err := w.AddFolder(f); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := archive.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return r, int64(buf.Len())
}

// The same change ingested twice (a folder carried over with its change
// in the next run) gives the same listing, found without rebuilding it.
func TestRepeatedChangeSharesListing(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r1, n1 := testArchive(t, "mail1", "staff", 100, map[string][]string{"alice@example.org": {"INBOX"}})
	if err := c.Ingest("a1.mva", n1, r1); err != nil {
		t.Fatal(err)
	}
	var got []*Folder
	for i, at := range []int64{200, 300} {
		r, n := changeArchive(t, at, 100)
		if err := c.Ingest(fmt.Sprintf("c%d.mva", i), n, r); err != nil {
			t.Fatal(err)
		}
		fs, err := c.Folders("mail1", "staff", "alice@example.org", at)
		if err != nil || len(fs) != 1 {
			t.Fatalf("folders at %d: %v %v", at, fs, err)
		}
		got = append(got, fs[0])
	}
	if got[0].Listing != got[1].Listing || got[1].Msgs != 3 || got[1].NextUID != 4 || got[1].Bytes != got[0].Bytes {
		t.Errorf("the repeated change: %+v, first %+v", got[1], got[0])
	}
	msgs, err := c.Messages(got[1].Listing)
	if err != nil || len(msgs) != 3 || msgs[2].Name != "9.M9P9.host" {
		t.Errorf("messages of the repeated change: %v %v", msgs, err)
	}
}

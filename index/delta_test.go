package index

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/mailvault/mailvault/archive"
)

// deltaMessage is message i of the folder in the delta tests.
func deltaMessage(sub string, i int, flags string) archive.Message {
	data := []byte(fmt.Sprintf("message %d", i))
	return archive.Message{Subdir: sub, Name: fmt.Sprintf("%d.M%dP1.host:2,%s", 1700000000+i, i, flags),
		Size: int64(len(data)), Mtime: int64(i), UID: uint32(i + 1), Blob: sha256.Sum256(data), Link: uint64(i + 1), Nlink: 1}
}

// folderArchive writes an archive of alice's INBOX at created.
func folderArchive(t *testing.T, created int64, f *archive.Folder) (*archive.Reader, int64) {
	t.Helper()
	var buf bytes.Buffer
	h := archive.Header{Version: 1, Created: created, Server: "mail1", Group: "staff", Scope: "/", Snapshot: fmt.Sprint(created)}
	w, err := archive.NewWriter(&buf, h, archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.User, f.Name = "alice@example.org", "INBOX"
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

// wantListing checks what the index lists of alice's INBOX at t against
// the whole folder.
func wantListing(t *testing.T, c *Catalog, at int64, whole *archive.Folder) *Folder {
	t.Helper()
	fs, err := c.Folders("mail1", "staff", "alice@example.org", at)
	if err != nil || len(fs) != 1 {
		t.Fatalf("folders at %d: %v %v", at, fs, err)
	}
	msgs, err := c.Messages(fs[0].Listing)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(whole.Messages)
	slices.SortFunc(want, func(a, b archive.Message) int { return strings.Compare(a.Path(), b.Path()) })
	var got []archive.Message
	var bytes int64
	for _, m := range msgs {
		got = append(got, archive.Message{Subdir: m.Subdir, Name: m.Name, Size: m.Size, Mtime: m.Mtime, Mode: m.Mode, UID: m.UID, Blob: m.Blob, Link: m.Link, Nlink: m.Nlink})
	}
	for _, m := range want {
		bytes += m.Size
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("messages at %d:\n got %v\nwant %v", at, got, want)
	}
	if fs[0].Msgs != len(want) || fs[0].Bytes != bytes {
		t.Errorf("folder at %d counts %d messages, %d bytes; want %d, %d", at, fs[0].Msgs, fs[0].Bytes, len(want), bytes)
	}
	controls, err := c.Controls(fs[0].Listing)
	if err != nil || !reflect.DeepEqual(controls, whole.Files) {
		t.Errorf("controls at %d: %v %v, want %v", at, controls, err, whole.Files)
	}
	return fs[0]
}

func isDelta(t *testing.T, c *Catalog, id ListingID) bool {
	t.Helper()
	var h head
	err := c.db.View(func(txn *badger.Txn) (err error) {
		h, err = readHead(txn, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return h.delta
}

// A small change of a folder is stored as a delta of its origin's listing
// and lists as the whole folder; a change told against a folder whose
// listing is a delta is merged into it; a large change is stored whole.
func TestChangeListings(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	origin := &archive.Folder{Files: []archive.File{{Name: "dovecot-keywords", Data: []byte("0 $Junk\n")}, {Name: "dovecot-uidlist", Data: []byte("3 V7 N21\n")}}}
	for i := range 20 {
		origin.Messages = append(origin.Messages, deltaMessage("cur", i, "S"))
	}
	ingest := func(name string, at int64, f *archive.Folder) {
		t.Helper()
		r, n := folderArchive(t, at, f)
		if err := c.Ingest(name, n, r); err != nil {
			t.Fatal(err)
		}
	}
	ingest("a1.mva", 100, origin)
	first := wantListing(t, c, 100, origin)

	// Two new deliveries, a flag change (a rename), an expunge, a new uidlist.
	change := &archive.Folder{Origin: 100, Files: []archive.File{{Name: "dovecot-uidlist", Data: []byte("3 V7 N23\n")}},
		Removed:  []string{"cur/" + origin.Messages[3].Name, "cur/" + origin.Messages[4].Name},
		Messages: []archive.Message{deltaMessage("new", 21, ""), deltaMessage("new", 22, ""), deltaMessage("cur", 4, "RS")}}
	ingest("a2.mva", 200, change)
	whole := change.Apply(origin)
	second := wantListing(t, c, 200, whole)
	if !isDelta(t, c, second.Listing) || second.Listing == first.Listing {
		t.Error("a small change is not stored as a delta")
	}

	// A change told against the changed folder (not what backup writes,
	// but an index must take it): merged into one delta of the first.
	again := &archive.Folder{Origin: 200, Removed: []string{"new/" + change.Messages[0].Name, "cur/" + origin.Messages[5].Name},
		Messages: []archive.Message{deltaMessage("cur", 21, "S"), deltaMessage("new", 23, "")}}
	ingest("a3.mva", 300, again)
	third := wantListing(t, c, 300, again.Apply(whole))
	var h head
	c.db.View(func(txn *badger.Txn) (err error) { h, err = readHead(txn, third.Listing); return err })
	if !h.delta || h.base != first.Listing {
		t.Errorf("a change of a delta: head %+v, want a delta of %x", h, first.Listing[:4])
	}

	// Most of the folder changed: whole.
	big := &archive.Folder{Origin: 100}
	for i := range 12 {
		big.Removed = append(big.Removed, "cur/"+origin.Messages[i].Name)
	}
	ingest("a4.mva", 400, big)
	fourth := wantListing(t, c, 400, big.Apply(origin))
	if isDelta(t, c, fourth.Listing) {
		t.Error("a change of most of the folder is stored as a delta")
	}
}

// An index of another format version is refused as stale, so that it is
// rebuilt from the archives (repo.Open).
func TestStaleVersionRefused(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte{prefixVersion}, []byte("mailvault-index 2"))
	}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c, err := Open(dir); !errors.Is(err, ErrStale) {
		if err == nil {
			c.Close()
		}
		t.Fatalf("open of an index of version 2: %v, want ErrStale", err)
	}
}

package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

func importBytes(t *testing.T, l Layout, data []byte) string {
	t.Helper()
	res, err := l.Import(context.Background(), bytes.NewReader(data), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Name
}

func openRepo(t *testing.T, l Layout) *Repo {
	t.Helper()
	r, problems, err := Open(string(l), Options{})
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestLocateFollowsBlobsIntoEarlierArchives: an incremental archive holds
// the folder records and the new messages; the older messages' bytes are
// in the full archive before it, or missing where that is not there.
func TestLocateFollowsBlobsIntoEarlierArchives(t *testing.T) {
	t1 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	users := []string{"a@example.org", "b@example.org"}
	full := testArchive{created: t1, group: "staff", users: users, bodies: []string{"AAAA", "BBBBBBBB"}}.bytes(t)
	incr := testArchive{created: t2, group: "staff", users: users, bodies: []string{"AAAA", "BBBBBBBB", "CC"},
		stored: []string{"CC"}}.bytes(t)

	l := newRepo(t)
	a1, a2 := importBytes(t, l, full), importBytes(t, l, incr)
	r := openRepo(t, l)

	got, err := r.Locate(LocateQuery{Server: "mail1", User: "a@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Located{
		Archives: []ArchiveNeed{{Name: a1, Messages: 2, Bytes: 12}, {Name: a2, Folders: 1, Messages: 1, Bytes: 2}},
		Users:    1, Folders: 1, Messages: 3, Bytes: 14,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("latest:\n got %+v\nwant %+v", got, want)
	}
	// Both users: each blob is read once, so the bytes stay the same.
	got, err = r.Locate(LocateQuery{Server: "mail1", Group: "staff"})
	if err != nil {
		t.Fatal(err)
	}
	want = &Located{
		Archives: []ArchiveNeed{{Name: a1, Messages: 4, Bytes: 12}, {Name: a2, Folders: 2, Messages: 2, Bytes: 2}},
		Users:    2, Folders: 2, Messages: 6, Bytes: 28,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("group:\n got %+v\nwant %+v", got, want)
	}
	// As of the first snapshot, one message of the folder.
	got, err = r.Locate(LocateQuery{Server: "mail1", Group: "staff", User: "b@example.org", Rest: "INBOX/cur/2.M1P1.host:2,S", At: t2.Add(-time.Second).UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	want = &Located{Archives: []ArchiveNeed{{Name: a1, Folders: 1, Messages: 1, Bytes: 8}}, Users: 1, Folders: 1, Messages: 1, Bytes: 8}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("at t1:\n got %+v\nwant %+v", got, want)
	}
	for _, q := range []LocateQuery{
		{Server: "mail2"},
		{Server: "mail1", Group: "nogroup"},
		{Server: "mail1", User: "nobody@example.org"},
		{Server: "mail1", User: "a@example.org", Rest: "Archive"},
		{Server: "mail1", User: "a@example.org", Rest: "INBOX/cur/nosuchfile"},
		{Server: "mail1", At: t1.Add(-time.Second).UnixNano()},
	} {
		if _, err := r.Locate(q); err == nil {
			t.Errorf("%s at %d: no error", q, q.At)
		}
	}

	// Without the full archive, the older messages are missing.
	l2 := newRepo(t)
	importBytes(t, l2, incr)
	r2 := openRepo(t, l2)
	got, err = r2.Locate(LocateQuery{Server: "mail1", User: "a@example.org", Rest: "INBOX"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Archives) != 1 || got.Missing.Messages != 2 || got.Missing.Bytes != 12 ||
		!reflect.DeepEqual(got.Missing.Blobs, sortedHashes("AAAA", "BBBBBBBB")) {
		t.Errorf("without the full archive: %+v", got)
	}
	// What an import brought in: only the users whose snapshot it holds.
	got, err = r.Locate(LocateQuery{Server: "mail1", Archive: a1})
	if err != nil || got.Users != 0 {
		// a1 holds no latest snapshot: nothing matches.
		if err == nil {
			t.Errorf("archive filter: %+v", got)
		}
	}
	if got, err = r.Locate(LocateQuery{Server: "mail1", Archive: a2}); err != nil || got.Users != 2 {
		t.Errorf("archive filter: %+v %v", got, err)
	}
}

func sortedHashes(bodies ...string) []archive.Hash {
	var out []archive.Hash
	for _, b := range bodies {
		out = append(out, sha256.Sum256([]byte(b)))
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if string(out[j][:]) < string(out[i][:]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// fakeBlobs is a blobFinder over a map.
type fakeBlobs map[archive.Hash]index.Blob

func (f fakeBlobs) Blob(h archive.Hash) (index.Blob, error) {
	b, ok := f[h]
	if !ok {
		return b, fmt.Errorf("blob %x: %w", h[:8], index.ErrNotFound)
	}
	return b, nil
}

// TestResolveParts: a message stored in parts needs the archive of each
// part; a part in no archive, or in an archive that is gone, is missing.
func TestResolveParts(t *testing.T) {
	h := func(s string) archive.Hash { return sha256.Sum256([]byte(s)) }
	loc := func(n int64) archive.Location { return archive.Location{Offset: 100, Length: n} }
	fb := fakeBlobs{
		h("whole"):  {Archive: 1, Loc: loc(50)},
		h("msg1"):   {Parts: []archive.Hash{h("trace1"), h("body")}},
		h("msg2"):   {Parts: []archive.Hash{h("trace2"), h("body")}},
		h("msg3"):   {Parts: []archive.Hash{h("lost"), h("body")}},
		h("msg4"):   {Parts: []archive.Hash{h("gone"), h("body")}},
		h("trace1"): {Archive: 2, Loc: loc(10)},
		h("trace2"): {Archive: 3, Loc: loc(11)},
		h("body"):   {Archive: 1, Loc: loc(1000)},
		h("gone"):   {Archive: 9, Loc: loc(5)},
		h("inpart"): {Parts: []archive.Hash{h("msg1")}},
	}
	s := resolver{bf: fb, known: func(n uint32) bool { return n != 9 }, seen: map[seenBlob]bool{}}
	for _, c := range []struct {
		msg     string
		where   map[uint32]int64
		missing []archive.Hash
	}{
		{"whole", map[uint32]int64{1: 50}, nil},
		{"msg1", map[uint32]int64{2: 10, 1: 1000}, nil},
		{"msg2", map[uint32]int64{3: 11, 1: 0}, nil}, // the body is read once
		{"msg3", map[uint32]int64{1: 0}, []archive.Hash{h("lost")}},
		{"msg4", map[uint32]int64{1: 0}, []archive.Hash{h("gone")}},
		{"nothing", nil, []archive.Hash{h("nothing")}},
	} {
		where, missing, err := s.resolve(h(c.msg), 0)
		if err != nil || !reflect.DeepEqual(where, c.where) || !reflect.DeepEqual(missing, c.missing) {
			t.Errorf("%s: %v %v %v, want %v %v", c.msg, where, missing, err, c.where, c.missing)
		}
	}
	if _, _, err := s.resolve(h("inpart"), 0); err == nil {
		t.Error("parts of parts accepted")
	}
	// A full archive holds every part: its own count starts afresh.
	where, missing, err := s.resolve(h("msg1"), 5)
	if want := map[uint32]int64{5: 1010}; err != nil || !reflect.DeepEqual(where, want) || missing != nil {
		t.Errorf("msg1 from full archive 5: %v %v %v, want %v", where, missing, err, want)
	}
	if _, missing, _ := s.resolve(h("msg3"), 5); !reflect.DeepEqual(missing, []archive.Hash{h("lost")}) {
		t.Errorf("a part in no archive is missing even from a full archive: %v", missing)
	}
}

// TestLocatePrefersTheFullArchive: a blob that two full archives hold is
// read, for each snapshot, from the snapshot's own archive, whichever the
// index names.
func TestLocatePrefersTheFullArchive(t *testing.T) {
	t1 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	l := newRepo(t)
	staff := importBytes(t, l, testArchive{created: t1, group: "staff", users: []string{"a@example.org"}, bodies: []string{"shared", "own"}}.bytes(t))
	user := importBytes(t, l, testArchive{created: t1, group: "user", users: []string{"e@example.org"}, bodies: []string{"shared"}}.bytes(t))
	r := openRepo(t, l)
	for _, c := range []struct {
		user string
		want []ArchiveNeed
	}{
		{"a@example.org", []ArchiveNeed{{Name: staff, Folders: 1, Messages: 2, Bytes: 9}}},
		{"e@example.org", []ArchiveNeed{{Name: user, Folders: 1, Messages: 1, Bytes: 6}}},
	} {
		got, err := r.Locate(LocateQuery{Server: "mail1", User: c.user})
		if err != nil || !reflect.DeepEqual(got.Archives, c.want) {
			t.Errorf("%s: %+v %v, want %+v", c.user, got, err, c.want)
		}
	}
}

// TestLocateFollowsFoldersToldAsAChange: a folder told as a change of an
// earlier snapshot needs that snapshot's archive for its whole record.
func TestLocateFollowsFoldersToldAsAChange(t *testing.T) {
	t1 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	l := newRepo(t)
	a1 := importBytes(t, l, testArchive{created: t1, group: "staff", users: []string{"a@example.org"}, bodies: []string{"AAAA", "BB"}}.bytes(t))

	h := archive.Header{Version: 1, Created: t2.UnixNano(), Server: "mail1", Group: "staff", Scope: "/", ID: [16]byte{2}}
	var buf bytes.Buffer
	w, err := archive.NewWriter(&buf, h, archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.AddBlob(sha256.Sum256([]byte("C")), []byte("C"))
	w.AddFolder(&archive.Folder{User: "a@example.org", Name: "INBOX", UIDValidity: 1, NextUID: 4, Origin: t1.UnixNano(), OriginIndex: 0,
		Removed:  []string{"cur/1.M0P1.host:2,S"},
		Messages: []archive.Message{{Subdir: "new", Name: "3.M2P1.host", Size: 1, Mtime: t2.UnixNano(), Mode: 0o600, Blob: sha256.Sum256([]byte("C"))}}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := l.Import(context.Background(), &buf, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Origins, []int64{t1.UnixNano()}) {
		t.Errorf("origins of the import: %v", res.Origins)
	}
	r := openRepo(t, l)
	got, err := r.Locate(LocateQuery{Server: "mail1", User: "a@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Located{
		Archives: []ArchiveNeed{{Name: a1, Folders: 1, Messages: 1, Bytes: 2}, {Name: res.Name, Folders: 1, Messages: 1, Bytes: 1}},
		Users:    1, Folders: 1, Messages: 2, Bytes: 3,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

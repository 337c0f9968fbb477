package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
)

// testArchive is the content of an archive made for a test: one INBOX per
// user holding the messages of bodies; only the blobs of stored are
// written (an incremental archive leaves out what earlier runs stored).
type testArchive struct {
	created time.Time
	group   string
	users   []string
	bodies  []string
	stored  []string // nil: every body
}

func (a testArchive) bytes(t testing.TB) []byte {
	t.Helper()
	h := archive.Header{Version: 1, Created: a.created.UnixNano(), Server: "mail1", Group: a.group, Scope: "/",
		Snapshot: a.created.UTC().Format(time.RFC3339Nano)}
	if a.stored == nil {
		h.Flags = archive.FlagFull
		a.stored = a.bodies
	}
	rand.Read(h.ID[:])
	var buf bytes.Buffer
	w, err := archive.NewWriter(&buf, h, archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range a.stored {
		if _, err := w.AddBlob(sha256.Sum256([]byte(b)), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range a.users {
		f := &archive.Folder{User: u, Name: "INBOX", UIDValidity: 1, NextUID: uint32(len(a.bodies) + 1)}
		for i, b := range a.bodies {
			f.Messages = append(f.Messages, archive.Message{Subdir: "cur", Name: fmt.Sprintf("%d.M%dP1.host:2,S", i+1, i), Size: int64(len(b)),
				Mtime: a.created.UnixNano(), Mode: 0o600, UID: uint32(i + 1), Blob: sha256.Sum256([]byte(b))})
		}
		if err := w.AddFolder(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newRepo(t *testing.T) Layout {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "r")
	if err := Init(dir); err != nil {
		t.Fatal(err)
	}
	return Layout(dir)
}

// files lists the entries of archives/ and of tmp/.
func files(t *testing.T, l Layout) (archives, tmp []string) {
	t.Helper()
	for _, d := range []struct {
		dir string
		out *[]string
	}{{l.ArchivesDir(), &archives}, {l.Tmp(), &tmp}} {
		entries, err := os.ReadDir(d.dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			*d.out = append(*d.out, e.Name())
		}
	}
	return archives, tmp
}

func TestImportCopiesAnIntactArchive(t *testing.T) {
	l := newRepo(t)
	created := time.Date(2026, 11, 22, 3, 5, 0, 123, time.UTC)
	data := testArchive{created: created, group: "staff", users: []string{"a@example.org", "b@example.org"},
		bodies: []string{"first message", "second message"}}.bytes(t)
	res, err := l.Import(context.Background(), bytes.NewReader(data), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^20261122T030500Z-mail1-staff-[0-9a-f]{8}\.mva$`).MatchString(res.Name) {
		t.Errorf("archive named %q", res.Name)
	}
	if res.Users != 2 || res.Folders != 2 || res.Messages != 4 || res.Blobs != 2 || res.Size != int64(len(data)) ||
		res.Bytes != 2*int64(len("first message")+len("second message")) || res.Header.Created != created.UnixNano() {
		t.Errorf("result %+v", res)
	}
	got, err := os.ReadFile(l.ArchivePath(res.Name))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("imported file differs from the input (%v)", err)
	}
	if fi, _ := os.Stat(l.ArchivePath(res.Name)); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if _, tmp := files(t, l); len(tmp) != 0 {
		t.Errorf("tmp/ holds %v", tmp)
	}
	r, problems, err := Open(string(l), Options{})
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	defer r.Close()
	if b, err := r.ReadBlob(sha256.Sum256([]byte("second message"))); err != nil || string(b) != "second message" {
		t.Errorf("ReadBlob after import: %q %v", b, err)
	}
}

func TestImportRefusesAnArchiveTwice(t *testing.T) {
	l := newRepo(t)
	a := testArchive{created: time.Now(), group: "staff", users: []string{"a@example.org"}, bodies: []string{"x"}}
	data := a.bytes(t)
	first, err := l.Import(context.Background(), bytes.NewReader(data), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The same bytes, the same file by name, and another archive of the
	// same server, group and snapshot time.
	for i, c := range []struct {
		data []byte
		opt  ImportOptions
	}{
		{data, ImportOptions{}},
		{data, ImportOptions{Name: "/tape/" + first.Name}},
		{a.bytes(t), ImportOptions{}},
	} {
		_, err := l.Import(context.Background(), bytes.NewReader(c.data), c.opt)
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), first.Name) {
			t.Errorf("import %d: %v", i, err)
		}
	}
	if archives, tmp := files(t, l); len(archives) != 1 || len(tmp) != 0 {
		t.Errorf("archives/ %v, tmp/ %v after refused imports", archives, tmp)
	}
}

func TestImportRejectsDamageAndLeavesNothing(t *testing.T) {
	l := newRepo(t)
	var bodies []string
	for i := range 200 {
		// Incompressible bodies make a stream of several frames.
		b := make([]byte, 4<<10)
		rand.Read(b)
		bodies = append(bodies, fmt.Sprintf("%d:%x", i, b))
	}
	data := testArchive{created: time.Now(), group: "user", users: []string{"a@example.org"}, bodies: bodies}.bytes(t)
	flip := func(off int) []byte {
		d := bytes.Clone(data)
		d[off] ^= 0x10
		return d
	}
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, archive.ErrNotArchive},
		{"not an archive", []byte("From alice@example.org\nSubject: hi\n\nhello\n"), archive.ErrNotArchive},
		{"cut in the header", data[:20], archive.ErrTruncated},
		{"cut in the middle", data[:len(data)/2], archive.ErrTruncated},
		{"cut before the footer", data[:len(data)-archive.FooterSize], archive.ErrTruncated},
		{"one byte short", data[:len(data)-1], nil},
		{"a flipped bit in the middle", flip(len(data) / 2), archive.ErrCorrupt},
		{"a flipped bit in the footer", flip(len(data) - 5), archive.ErrCorrupt},
		{"data after the footer", append(bytes.Clone(data), 0), archive.ErrCorrupt},
	} {
		_, err := l.Import(context.Background(), bytes.NewReader(c.in), ImportOptions{})
		damaged := errors.Is(err, archive.ErrCorrupt) || errors.Is(err, archive.ErrTruncated) || errors.Is(err, archive.ErrNotArchive)
		if !damaged || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if archives, tmp := files(t, l); len(archives) != 0 || len(tmp) != 0 {
			t.Fatalf("%s: left archives/ %v, tmp/ %v", c.name, archives, tmp)
		}
	}
	// A cancelled import stops and leaves nothing either.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Import(ctx, bytes.NewReader(data), ImportOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled import: %v", err)
	}
	if archives, tmp := files(t, l); len(archives) != 0 || len(tmp) != 0 {
		t.Fatalf("cancelled import left archives/ %v, tmp/ %v", archives, tmp)
	}
	// And the intact stream still goes in.
	if _, err := l.Import(context.Background(), bytes.NewReader(data), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestImportNeedsARepository(t *testing.T) {
	if _, err := Layout(t.TempDir()).Import(context.Background(), bytes.NewReader(nil), ImportOptions{}); !errors.Is(err, ErrNotRepository) {
		t.Errorf("import into a plain directory: %v", err)
	}
}

package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/groups"
	"github.com/mailvault/mailvault/maildir"
	"github.com/mailvault/mailvault/repo"
)

// store is a small Maildir store written by hand (no Dovecot needed).
type store struct {
	t    testing.TB
	root string
	o    maildir.Owner
	n    int
}

func newStore(t testing.TB) *store {
	return &store{t: t, root: t.TempDir(), o: maildir.Owner{UID: os.Getuid(), GID: os.Getgid(), DirMode: 0o700, FileMode: 0o600}}
}

func (s *store) folder(user, dir string) string {
	name := maildir.Inbox
	if dir != "" {
		name = strings.TrimPrefix(dir, ".")
	}
	path, _, err := maildir.CreateFolder(filepath.Join(s.root, user, "Maildir"), maildir.FolderDir{Name: name, Dir: dir}, s.o)
	if err != nil {
		s.t.Fatal(err)
	}
	return path
}

// deliver writes a message into cur/ and returns its file name.
func (s *store) deliver(user, dir, body string) string {
	s.n++
	data := fmt.Sprintf("Return-Path: <x@example.org>\nDelivered-To: %s\nSubject: %d\n\n%s\n%s", user, s.n, body, strings.Repeat("line of text\n", 50))
	name := fmt.Sprintf("%d.M%dP1.host,S=%d:2,", 1700000000+s.n, s.n, len(data))
	if err := maildir.DeliverFile(s.folder(user, dir), "cur", name, []byte(data), time.Now().Add(-time.Hour).UnixNano(), s.o); err != nil {
		s.t.Fatal(err)
	}
	return name
}

// age sets the mtimes of every cur/ and new/ an hour back, as if the store
// had been left alone since: such folders can be carried over.
func (s *store) age() {
	old := time.Now().Add(-time.Hour)
	filepath.Walk(s.root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() && (fi.Name() == "cur" || fi.Name() == "new") {
			os.Chtimes(p, old, old)
		}
		return nil
	})
}

func (s *store) run(l repo.Layout, tweak func(*Options)) *Result {
	s.t.Helper()
	src, err := maildir.ParseLocation("maildir:" + s.root + "/%n/Maildir")
	if err != nil {
		s.t.Fatal(err)
	}
	opt := Options{Repo: l, Server: "m1", Source: src, Groups: &groups.Set{}}
	if tweak != nil {
		tweak(&opt)
	}
	res, err := Run(opt)
	if err != nil {
		s.t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		s.t.Fatalf("problems: %v", res.Problems)
	}
	return res
}

func newRepo(t testing.TB) repo.Layout {
	dir := filepath.Join(t.TempDir(), "repo")
	if err := repo.Init(dir); err != nil {
		t.Fatal(err)
	}
	return repo.Layout(dir)
}

// folders reads the folder records of an archive by user/folder.
func folders(t *testing.T, l repo.Layout, name string) (archive.Header, map[string]*archive.Folder) {
	t.Helper()
	f, err := archive.OpenFile(l.ArchivePath(name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := f.Folders()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*archive.Folder{}
	for _, af := range all {
		out[af.User+"/"+af.Name] = af
	}
	return f.Header(), out
}

func TestCarryOverPointsAtTheOrigin(t *testing.T) {
	s := newStore(t)
	s.deliver("alice", "", "one")
	s.deliver("alice", ".Sent", "two")
	s.deliver("bob", "", "three")
	s.age()
	l := newRepo(t)
	first := s.run(l, nil)
	if first.Unchanged != 0 || first.Messages != 3 {
		t.Fatalf("first run: %+v", first.Totals)
	}
	h1, _ := folders(t, l, first.Archives[0])
	for range 2 {
		res := s.run(l, nil)
		if res.Unchanged != 3 || res.BytesRead != 0 || res.Messages != 3 || res.BytesTotal != first.BytesTotal {
			t.Errorf("no-change run: %+v", res.Totals)
		}
		h, fs := folders(t, l, res.Archives[0])
		if h.Flags&archive.FlagFull != 0 {
			t.Error("an incremental archive claims to be full")
		}
		for k, f := range fs {
			// Always the archive that lists the messages: no chains.
			if f.Origin != h1.Created || len(f.Messages) != 0 {
				t.Errorf("%s: origin %d, %d messages; want origin %d", k, f.Origin, len(f.Messages), h1.Created)
			}
		}
	}
}

func TestChangedFolderReadsOnlyNewFiles(t *testing.T) {
	s := newStore(t)
	keep := s.deliver("alice", "", "keep")
	gone := s.deliver("alice", "", "gone")
	s.deliver("alice", ".Sent", "sent")
	s.age()
	l := newRepo(t)
	s.run(l, nil)

	inbox := s.folder("alice", "")
	os.Rename(filepath.Join(inbox, "cur", keep), filepath.Join(inbox, "cur", keep+"S"))
	os.Remove(filepath.Join(inbox, "cur", gone))
	added := s.deliver("alice", "", "new mail")
	st, _ := os.Stat(filepath.Join(inbox, "cur", added))
	res := s.run(l, nil)
	if res.Unchanged != 1 || res.BytesRead != st.Size() || res.Messages != 3 {
		t.Errorf("after a rename, a deletion and a delivery in INBOX: %+v (want 1 unchanged, %d bytes read)", res.Totals, st.Size())
	}
	_, fs := folders(t, l, res.Archives[0])
	var names []string
	for _, m := range fs["alice/INBOX"].Messages {
		names = append(names, m.Name)
	}
	if len(names) != 2 || !strings.HasSuffix(names[0], "S") && !strings.HasSuffix(names[1], "S") {
		t.Errorf("INBOX lists %v", names)
	}
}

// A folder changed just before the last snapshot may have changed again
// within the same mtime tick: it is listed again, never carried over.
func TestRacyMtimeIsListedAgain(t *testing.T) {
	s := newStore(t)
	s.deliver("alice", "", "one")
	l := newRepo(t)
	s.run(l, nil) // cur/ was modified a moment ago
	res := s.run(l, nil)
	if res.Unchanged != 0 || res.BytesRead != 0 {
		t.Errorf("racy folder: %+v, want listed again but not read", res.Totals)
	}
}

func TestDamagedBaseIsReadAgain(t *testing.T) {
	s := newStore(t)
	s.deliver("alice", "", "one")
	s.age()
	l := newRepo(t)
	first := s.run(l, nil)
	path := l.ArchivePath(first.Archives[0])
	fi, _ := os.Stat(path)
	os.Truncate(path, fi.Size()-10)
	res := s.run(l, nil)
	if len(res.Warnings) == 0 || res.Partial() || res.BytesNew == 0 {
		t.Errorf("after damage: %+v, warnings %v: want the messages stored again, not a partial run", res.Totals, res.Warnings)
	}
}

func TestSinceAndFull(t *testing.T) {
	s := newStore(t)
	s.deliver("alice", "", "old")
	s.age()
	l := newRepo(t)
	s.run(l, nil)
	cut := time.Now()
	name := s.deliver("alice", "", "recent")
	os.Chtimes(filepath.Join(s.folder("alice", ""), "cur", name), time.Now(), time.Now())
	since := s.run(l, func(o *Options) { o.Since = cut })
	h, fs := folders(t, l, since.Archives[0])
	if h.Flags&archive.FlagSince == 0 || len(fs["alice/INBOX"].Messages) != 1 || fs["alice/INBOX"].Messages[0].Name != name {
		t.Errorf("--since: flags %b, INBOX %+v", h.Flags, fs["alice/INBOX"].Messages)
	}
	// The next run builds on the complete snapshot, not on the partial one.
	s.age()
	next := s.run(l, nil)
	if next.Messages != 2 {
		t.Errorf("after --since, the next run lists %d messages, want 2", next.Messages)
	}

	full := s.run(l, func(o *Options) { o.Full = true })
	h, fs = folders(t, l, full.Archives[0])
	if h.Flags&archive.FlagFull == 0 || full.BytesRead != full.BytesTotal || len(fs["alice/INBOX"].Messages) != 2 {
		t.Errorf("--full: flags %b, %+v", h.Flags, full.Totals)
	}
	// Every blob its folders name is inside: it restores on its own.
	a, err := archive.OpenFile(l.ArchivePath(full.Archives[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	inside := map[archive.Hash]bool{}
	for _, b := range a.Trailer().Blobs {
		inside[b.Hash] = true
	}
	for _, f := range fs {
		if f.Origin != 0 {
			t.Errorf("--full carried %s over", f.Name)
		}
		for _, m := range f.Messages {
			for _, p := range m.Blobs() {
				if !inside[p] {
					t.Errorf("--full archive lacks a blob of %s", m.Name)
				}
			}
		}
	}
}

// A folder with a few changes is told as a change of the whole record it
// was last stored in; the next unchanged run repeats that change, never a
// chain of changes.
func TestChangeIsToldAgainstTheWholeRecord(t *testing.T) {
	s := newStore(t)
	var names []string
	for i := range 20 {
		names = append(names, s.deliver("alice", "", fmt.Sprint("message ", i)))
	}
	s.age()
	l := newRepo(t)
	first := s.run(l, nil)
	h1, _ := folders(t, l, first.Archives[0])

	inbox := s.folder("alice", "")
	os.Rename(filepath.Join(inbox, "cur", names[3]), filepath.Join(inbox, "cur", names[3]+"S"))
	os.Remove(filepath.Join(inbox, "cur", names[4]))
	added := s.deliver("alice", "", "new")
	s.age()
	for i, want := range []int{20, 20} {
		res := s.run(l, nil)
		_, fs := folders(t, l, res.Archives[0])
		f := fs["alice/INBOX"]
		var got []string
		for _, m := range f.Messages {
			got = append(got, m.Name)
		}
		if f.Origin != h1.Created || len(got) != 2 || len(f.Removed) != 2 || res.Messages != want {
			t.Errorf("run %d: origin %d (want %d), added %v, removed %v, %d messages", i, f.Origin, h1.Created, got, f.Removed, res.Messages)
		}
		if !slices.Contains(got, added) || !slices.Contains(got, names[3]+"S") {
			t.Errorf("run %d: added %v, want %s and %s", i, got, added, names[3]+"S")
		}
	}
}

// A delivery changes new/ only: cur/, whose mtime is as the last snapshot
// saw it, is taken from that snapshot without being listed, and its
// messages are numbered by the dovecot-uidlist of now.
func TestDeliveryKeepsCur(t *testing.T) {
	s := newStore(t)
	a := s.deliver("alice", "", "one")
	b := s.deliver("alice", "", "two")
	s.age()
	l := newRepo(t)
	s.run(l, nil)

	inbox := s.folder("alice", "")
	cur := filepath.Join(inbox, "cur")
	fi, _ := os.Stat(cur)
	// Proof that cur/ is not listed: a file slipped in with the mtime put
	// back is not seen (Maildir never does that; a rename changes it).
	os.WriteFile(filepath.Join(cur, "1.unseen:2,"), []byte("Subject: x\n\nx\n"), 0o600)
	os.Chtimes(cur, fi.ModTime(), fi.ModTime())
	uidlist := fmt.Sprintf("3 V77 N12\n10 :%s\n11 :%s\n", maildir.BaseName(a), maildir.BaseName(b))
	if err := os.WriteFile(filepath.Join(inbox, "dovecot-uidlist"), []byte(uidlist), 0o600); err != nil {
		t.Fatal(err)
	}
	data := []byte("Subject: new\n\n" + strings.Repeat("new mail\n", 30))
	name := fmt.Sprintf("1800000000.M1P1.host,S=%d", len(data))
	if err := maildir.DeliverFile(inbox, "new", name, data, time.Now().Add(-time.Hour).UnixNano(), s.o); err != nil {
		t.Fatal(err)
	}
	res := s.run(l, nil)
	if res.BytesRead != int64(len(data)) || res.Messages != 3 || res.Unchanged != 0 {
		t.Errorf("after a delivery to new/: %+v, want the new message read alone", res.Totals)
	}
	_, fs := folders(t, l, res.Archives[0])
	f := fs["alice/INBOX"]
	if f.Origin != 0 {
		// told as a change: apply it to see the whole folder
		_, first := folders(t, l, mustFirst(t, l))
		f = f.Apply(first["alice/INBOX"])
	}
	got := map[string]uint32{}
	for _, m := range f.Messages {
		got[m.Subdir+"/"+m.Name] = m.UID
	}
	want := map[string]uint32{"cur/" + a: 10, "cur/" + b: 11, "new/" + name: 0}
	if len(got) != len(want) {
		t.Fatalf("INBOX lists %v, want %v", got, want)
	}
	for k, uid := range want {
		if u, ok := got[k]; !ok || u != uid {
			t.Errorf("INBOX: %s has uid %d (listed %v), want %d", k, u, ok, uid)
		}
	}
	if f.UIDValidity != 77 {
		t.Errorf("uidvalidity %d, want 77 from the new dovecot-uidlist", f.UIDValidity)
	}
}

// mustFirst names the oldest archive of the repository.
func mustFirst(t *testing.T, l repo.Layout) string {
	t.Helper()
	names, err := l.ArchiveNames()
	if err != nil || len(names) == 0 {
		t.Fatalf("archives: %v %v", names, err)
	}
	return names[0]
}

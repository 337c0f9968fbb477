package backup

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/groups"
	"github.com/mailvault/mailvault/maildir"
)

// deliverAt writes a message of size bytes received at t into cur/.
func (s *store) deliverAt(user, dir string, t time.Time, size int) string {
	s.n++
	data := fmt.Sprintf("Subject: %d\n\n", s.n)
	data += strings.Repeat("x", size-len(data))
	name := fmt.Sprintf("%d.M%dP1.host,S=%d:2,", 1700000000+s.n, s.n, len(data))
	if err := maildir.DeliverFile(s.folder(user, dir), "cur", name, []byte(data), t.UnixNano(), s.o); err != nil {
		s.t.Fatal(err)
	}
	folder := maildir.Inbox
	if dir != "" {
		folder = strings.TrimPrefix(dir, ".")
	}
	return user + "/" + folder + "/cur/" + name
}

// TestMaxSizeStoresNewestFirst backs up a store of two groups with room
// for three of six messages: the three newest, whatever their user, folder
// or group, are stored, the others listed without their bytes; the next
// run, without a limit, stores those, and reads no other folder.
func TestMaxSizeStoresNewestFirst(t *testing.T) {
	s := newStore(t)
	now := time.Now()
	h := func(n int) time.Time { return now.Add(-time.Duration(n) * time.Hour) }
	const size = 1000
	// Newest first: 1 h (bob INBOX), 2 h (alice Sent), 3 h (carol INBOX)
	// fit; 4 h, 5 h and 6 h do not.
	stored := []string{s.deliverAt("bob", "", h(1), size), s.deliverAt("alice", ".Sent", h(2), size), s.deliverAt("carol", "", h(3), size)}
	left := []string{s.deliverAt("alice", "", h(6), size), s.deliverAt("carol", ".Old", h(5), size), s.deliverAt("bob", "", h(4), size)}
	s.age()
	set, err := groups.Parse([]byte("a = alice|bob\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := newRepo(t)
	withGroups := func(o *Options) { o.Groups = set }
	res := s.run(l, func(o *Options) { withGroups(o); o.MaxSize = 3*size + size/2 })
	if !res.Partial() || res.LeftOut != 3 || res.BytesLeftOut != 3*size || res.Messages != 6 {
		t.Fatalf("limited run: %+v, partial %v", res.Totals, res.Partial())
	}
	var got []string
	for _, m := range res.LeftOutMessages {
		got = append(got, m.Object)
	}
	if want := []string{left[2], left[1], left[0]}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("left out %v, want %v (newest first)", got, want)
	}
	// Every message is listed; the stored ones with their blob.
	listed := map[string]archive.Message{}
	for _, a := range res.Archives {
		_, fs := folders(t, l, a)
		for k, f := range fs {
			for _, m := range f.Messages {
				listed[k+"/"+m.Path()] = m
			}
		}
	}
	for _, p := range stored {
		if m, ok := listed[p]; !ok || m.LeftOut() {
			t.Errorf("%s: listed %v, left out %v; want it stored", p, ok, m.LeftOut())
		}
	}
	for _, p := range left {
		if m, ok := listed[p]; !ok || !m.LeftOut() || m.Size != size {
			t.Errorf("%s: listed %v, %+v; want it listed without its bytes", p, ok, m)
		}
	}

	// Nothing changed in the store, yet the folders with left-out messages
	// are read again and their messages stored; the others carried over.
	next := s.run(l, withGroups)
	if next.Partial() || next.LeftOut != 0 || next.BytesRead != 3*size || next.Unchanged != 2 {
		t.Fatalf("catch-up run: %+v (want 3 messages read, alice's Sent and carol's INBOX carried over)", next.Totals)
	}
	again := s.run(l, withGroups)
	if again.Unchanged != 5 || again.BytesRead != 0 {
		t.Errorf("run after catching up: %+v, want every folder carried over", again.Totals)
	}
}

func TestChooseSkipsWhatDoesNotFit(t *testing.T) {
	c := []candidate{
		{key: "old-small", size: 10, mtime: 1, group: "g"},
		{key: "newest-big", size: 100, mtime: 3, group: "g"},
		{key: "new", size: 50, mtime: 2, group: "h"},
	}
	store := choose(c, 60)
	if !store["new"] || !store["old-small"] || store["newest-big"] {
		t.Errorf("chose %v; want the newest that fit (new, then old-small)", store)
	}
	if !store[leavesOutKey("g")] || store[leavesOutKey("h")] {
		t.Errorf("groups leaving out: %v, want g only", store)
	}
}

func TestMaxSizeNeedsAnIncrementalRun(t *testing.T) {
	s := newStore(t)
	s.deliver("alice", "", "one")
	src, _ := maildir.ParseLocation("maildir:" + s.root + "/%n/Maildir")
	for _, o := range []Options{{Full: true}, {Since: time.Now()}} {
		o.Repo, o.Server, o.Source, o.Groups, o.MaxSize = newRepo(t), "m1", src, &groups.Set{}, 1<<20
		if _, err := Run(o); err != ErrMaxSize {
			t.Errorf("%+v: %v, want ErrMaxSize", o, err)
		}
	}
}

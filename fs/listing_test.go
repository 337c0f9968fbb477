package fs

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// listingSource is a Source of folder listings only, that counts how
// often each is read.
type listingSource struct {
	Source
	n int // messages per listing

	mu    sync.Mutex
	loads map[index.ListingID]int
}

func (s *listingSource) Messages(id index.ListingID) ([]index.Message, error) {
	s.mu.Lock()
	s.loads[id]++
	s.mu.Unlock()
	var out []index.Message
	for i := range s.n {
		name := fmt.Sprintf("%d.M%dP1.host:2,S", i, id[0])
		out = append(out, index.Message{Subdir: "cur", Name: name, Size: 10, UID: uint32(i + 1), Blob: archive.Hash{id[0] + 1, byte(i)}})
	}
	return out, nil
}

func (s *listingSource) Controls(id index.ListingID) ([]archive.File, error) {
	return []archive.File{{Name: "dovecot-uidlist", Data: []byte("3 V1 N1\n")}}, nil
}

func (s *listingSource) loaded(l *listing) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads[l.ft.folder.Listing]
}

// userWalk makes the listings of one user's folders, as FS.users and
// tree.top make them, in walk order.
func userWalk(fsys *FS, folders int) []*listing {
	t := tree{fsys: fsys, u: index.User{Server: "s", Group: "g", Name: "u"}}
	var ls []*listing
	for i := range folders {
		f := &index.Folder{Name: fmt.Sprintf("F%03d", i), Listing: index.ListingID{byte(i)}}
		ft := &folderTree{folder: f, kids: map[string]*folderTree{}}
		ls = append(ls, &listing{t: t, ft: ft, where: "u/" + f.Name, kept: fsys.listings})
	}
	for i, l := range ls {
		l.walk, l.at = ls, i
	}
	return ls
}

// walkOverBudget makes a user of 40 folders of 100 messages each, with a
// budget for the listings of 10.
func walkOverBudget() (*listingSource, *FS, []*listing) {
	src := &listingSource{n: 100, loads: map[index.ListingID]int{}}
	fsys := New(src, 1<<20)
	per := (&listed{msgs: make([]index.Message, 100), ctl: []entry{{data: make([]byte, 200)}}}).cost()
	fsys.listings = newListingCache(10 * per)
	return src, fsys, userWalk(fsys, 40)
}

// A walk of more folders than the budget holds keeps the listings
// around it within the budget, shows every folder whole, and loads each
// once; a folder visited again after it was dropped loads again.
func TestListingBudget(t *testing.T) {
	src, fsys, ls := walkOverBudget()
	for _, l := range ls {
		cur, err := l.messages("cur")
		if err != nil || len(cur) != 100 {
			t.Fatalf("%s: %d messages in cur/, %v", l.where, len(cur), err)
		}
		if got := len(l.controls()); got != 1 {
			t.Fatalf("%s: %d control files", l.where, got)
		}
		if c := fsys.listings; c.size > c.limit {
			t.Fatalf("after %s: listings hold %d bytes, budget %d", l.where, c.size, c.limit)
		}
	}
	for _, l := range ls {
		if n := src.loaded(l); n != 1 {
			t.Errorf("%s loaded %d times in one walk", l.where, n)
		}
	}
	if ls[0].state != nil || ls[len(ls)-1].state == nil {
		t.Errorf("after the walk: first listing kept %v, last %v", ls[0].state != nil, ls[len(ls)-1].state != nil)
	}
	if cur, _ := ls[0].messages("cur"); len(cur) != 100 || src.loaded(ls[0]) != 2 {
		t.Errorf("first folder again: %d messages, loaded %d times", len(cur), src.loaded(ls[0]))
	}
}

// The prefetch loads ahead within half the budget, and a walk that
// follows it finds every listing loaded, each once.
func TestPrefetchWithinBudget(t *testing.T) {
	src, fsys, ls := walkOverBudget()
	fsys.prefetch(ls)
	deadline := time.Now().Add(5 * time.Second)
	for src.loaded(ls[4]) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // time to run past the budget, if it would
	ahead := 0
	for _, l := range ls {
		ahead += src.loaded(l)
	}
	if ahead < 5 || ahead > 6 {
		t.Errorf("the prefetch loaded %d listings ahead; half the budget holds 5", ahead)
	}
	for _, l := range ls {
		if cur, err := l.messages("cur"); err != nil || len(cur) != 100 {
			t.Fatalf("%s: %d messages in cur/, %v", l.where, len(cur), err)
		}
	}
	for _, l := range ls {
		if n := src.loaded(l); n != 1 {
			t.Errorf("%s loaded %d times", l.where, n)
		}
	}
}

// groupSource is a listingSource of one group of users, each with the
// same number of folders, that counts how often each user's folders are
// listed.
type groupSource struct {
	*listingSource
	users, folders int

	tops map[string]int // guarded by listingSource.mu
}

func (s *groupSource) Users(server, group string, at int64) ([]index.User, error) {
	var out []index.User
	for i := range s.users {
		out = append(out, index.User{Server: server, Group: group, Name: fmt.Sprintf("u%02d", i)})
	}
	return out, nil
}

func (s *groupSource) Folders(server, group, user string, t int64) ([]*index.Folder, error) {
	s.mu.Lock()
	s.tops[user]++
	n := len(s.tops)
	s.mu.Unlock()
	var out []*index.Folder
	for i := range s.folders {
		out = append(out, &index.Folder{Name: fmt.Sprintf("F%d", i), Listing: index.ListingID{byte(n), byte(i)}})
	}
	return out, nil
}

func (s *groupSource) listedTops(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tops[user]
}

// A walk of a group finds the next user's tree loaded ahead while it is in
// one user, listings included, and loads nothing twice; a user that is
// not walked to is not loaded.
func TestPrefetchNextUser(t *testing.T) {
	src := &groupSource{listingSource: &listingSource{n: 10, loads: map[index.ListingID]int{}}, users: 4, folders: 3, tops: map[string]int{}}
	fsys := New(src, 1<<20)
	users, err := fsys.users(view{}, "s", "g")
	if err != nil || len(users) != 4 {
		t.Fatalf("users: %d, %v", len(users), err)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	for i := range 2 {
		if _, err := users[i].load(); err != nil {
			t.Fatal(err)
		}
		next := users[i+1].name
		waitFor(next+"'s tree loaded ahead", func() bool { return src.listedTops(next) == 1 })
		// Its listings follow its top: each is loaded once, ahead.
		waitFor(next+"'s listings loaded ahead", func() bool {
			src.mu.Lock()
			defer src.mu.Unlock()
			return len(src.loads) == 3*(i+2)
		})
	}
	if n := src.listedTops(users[3].name); n != 0 {
		t.Errorf("%s, two users past the walk, was loaded %d times", users[3].name, n)
	}
	// Listing the user loaded ahead takes what was loaded: its tree and
	// listings were loaded once.
	top, err := users[2].load()
	if err != nil || len(top) != 3 {
		t.Fatalf("%s: %d folders, %v", users[2].name, len(top), err)
	}
	for _, u := range users[:3] {
		if n := src.listedTops(u.name); n != 1 {
			t.Errorf("%s loaded %d times", u.name, n)
		}
	}
	waitFor(users[3].name+"'s tree loaded ahead", func() bool { return src.listedTops(users[3].name) == 1 })
	src.mu.Lock()
	defer src.mu.Unlock()
	for id, n := range src.loads {
		if n != 1 {
			t.Errorf("listing %x loaded %d times", id[:2], n)
		}
	}
}

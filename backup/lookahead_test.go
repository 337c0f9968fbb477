package backup

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mailvault/mailvault/maildir"
)

// The lookahead hands each user's folders back in order, errors included,
// and stops cleanly when the run ends early.
func TestLookaheadInOrder(t *testing.T) {
	s := newStore(t)
	var users []maildir.User
	for i := range 3 * lookaheadUsers {
		id := fmt.Sprintf("u%02d", i)
		if i%5 != 4 { // every fifth has no Maildir
			s.deliver(id, "", "hello")
			if i%2 == 0 {
				s.deliver(id, ".Sent", "sent")
			}
		}
		users = append(users, maildir.User{ID: id, Root: filepath.Join(s.root, id, "Maildir")})
	}
	la := startLookahead(users, true, nil, nil, nil)
	for i, u := range users {
		r := la.take(i)
		want := 1 + (i+1)%2
		switch {
		case i%5 == 4:
			if r.err == nil {
				t.Errorf("%s: no error for a missing Maildir", u.ID)
			}
		case r.err != nil || len(r.dirs) != want || len(r.probes) != want:
			t.Errorf("%s: %d folders, %d probes, %v; want %d", u.ID, len(r.dirs), len(r.probes), r.err, want)
		default:
			if p := r.probes[""]; p.f == nil || p.f.Name != maildir.Inbox {
				t.Errorf("%s: INBOX probe %+v", u.ID, p)
			}
		}
	}
	la.close()

	// Without a base every folder is listed ahead, for the run to read.
	early := startLookahead(users, false, nil, nil, nil)
	r := early.take(0)
	if s := r.scans[""]; len(r.scans) != 2 || s.f == nil || len(s.f.Messages) != 1 || len(s.errs) != 0 {
		t.Errorf("u00 without a base: %d folders listed ahead, INBOX %+v", len(r.scans), s)
	}
	early.close() // must not wait for users nobody takes
}

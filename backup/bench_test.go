package backup

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/maildir"
)

// BenchmarkIncremental backs up a store of 10 users with 2 folders of 30
// messages after one delivery to each user's INBOX: the +1 % run.
func BenchmarkIncremental(b *testing.B) {
	s := newStore(b)
	for u := range 10 {
		for i := range 30 {
			s.deliver(fmt.Sprint("u", u), "", fmt.Sprint("inbox ", i))
			s.deliver(fmt.Sprint("u", u), ".Sent", fmt.Sprint("sent ", i))
		}
	}
	s.age()
	l := newRepo(b)
	s.run(l, nil)
	n := 0
	for b.Loop() {
		b.StopTimer()
		for u := range 10 {
			n++
			data := []byte(fmt.Sprintf("Subject: new %d\n\n%s", n, strings.Repeat("new mail\n", 40)))
			name := fmt.Sprintf("%d.M%dP2.host,S=%d", 1800000000+n, n, len(data))
			if err := maildir.DeliverFile(s.folder(fmt.Sprint("u", u), ""), "new", name, data, time.Now().Add(-time.Hour).UnixNano(), s.o); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if res := s.run(l, nil); res.BytesRead == 0 {
			b.Fatalf("nothing read: %+v", res.Totals)
		}
	}
}

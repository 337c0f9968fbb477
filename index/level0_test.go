package index

import (
	"fmt"
	badger "github.com/dgraph-io/badger/v4"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
)

// A backup leaves level 0 as wide as its runs made it; a reader that
// opens the index compacts it, and answers as before.
func TestReaderCompactsLevel0(t *testing.T) {
	dir := t.TempDir()
	for i := range 7 {
		c, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		user := fmt.Sprintf("user%d@example.org", i)
		r, n := testArchive(t, "mail1", "staff", int64(100+i), map[string][]string{user: {"INBOX", "Sent"}})
		if err := c.Ingest(fmt.Sprintf("a%d.mva", i), n, r); err != nil {
			t.Fatal(err)
		}
		c.Close() // flushes the run's keys into a table of level 0
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	wide := level0Tables(c.db)
	want := map[archive.Hash]Blob{}
	c.EachBlob(func(h archive.Hash, b Blob) error {
		want[h] = b
		return nil
	})
	c.Close()
	if wide <= readerLevel0 {
		t.Fatalf("the runs left %d tables in level 0; the test wants more than %d", wide, readerLevel0)
	}

	c, err = OpenForReads(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for level0Tables(c.db) > readerLevel0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := level0Tables(c.db); n > readerLevel0 {
		t.Errorf("a reader left %d tables in level 0 (of %d); it keeps at most %d", n, wide, readerLevel0)
	}
	var hs []archive.Hash
	for h := range want {
		hs = append(hs, h)
	}
	got, errs := c.Blobs(hs)
	for i, h := range hs {
		if errs[i] != nil || got[i].Archive != want[h].Archive || got[i].Loc != want[h].Loc {
			t.Errorf("blob %x: %+v, %v; want %+v", h[:4], got[i], errs[i], want[h])
		}
	}
}

// level0Tables counts the tables in level 0 of db.
func level0Tables(db *badger.DB) int {
	n := 0
	for _, t := range db.Tables() {
		if t.Level == 0 {
			n++
		}
	}
	return n
}

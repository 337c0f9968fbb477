package index

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A table cut short or with a byte flipped in a block or in its index
// makes Open fail with an error, so that the index is rebuilt: badger's
// own checks at open panic on some such damage, in goroutines where the
// process cannot recover.
func TestDamagedTableFailsOpen(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string][]string{}
	for i := range 400 {
		users[fmt.Sprintf("user%03d@example.org", i)] = []string{"INBOX", "Sent", "Archive/2002"}
	}
	r, n := testArchive(t, "mail1", "staff", 100, users)
	if err := c.Ingest("a.mva", n, r); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no tables written")
	}
	for _, tc := range []struct {
		what   string
		damage func(data []byte) []byte
	}{
		{"cut short", func(b []byte) []byte { return b[:len(b)*3/5] }},
		{"a block's byte flipped", func(b []byte) []byte { b[100] ^= 0x40; return b }},
		{"the index's byte flipped", func(b []byte) []byte { b[len(b)-60] ^= 0x40; return b }},
	} {
		t.Run(tc.what, func(t *testing.T) {
			d := copyDir(t, dir)
			p := filepath.Join(d, filepath.Base(tables[0]))
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tc.damage(data), 0o600); err != nil {
				t.Fatal(err)
			}
			if c, err := Open(d); err == nil {
				c.Close()
				t.Fatal("the damaged index opened")
			}
		})
	}
	// Undamaged, it opens, and its lock still keeps a second opener out.
	c, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := Open(dir); err == nil {
		t.Error("a second open of the index succeeded")
	}
}

func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

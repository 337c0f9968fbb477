package fs

import (
	"bytes"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// storeSource is a groupSource under server s, group g, for a mount.
type storeSource struct{ *groupSource }

func (s storeSource) Servers() ([]string, error) { return []string{"s"}, nil }
func (s storeSource) Groups(string) ([]string, error) {
	return []string{"g"}, nil
}
func (s storeSource) Snapshots(string) ([]index.Snapshot, error) {
	return []index.Snapshot{{Server: "s", Group: "g", Time: 1}}, nil
}
func (s storeSource) ReadBlob(archive.Hash) ([]byte, error) { return make([]byte, 10), nil }

// lockedBuffer collects go-fuse's request log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lookups counts the LOOKUPs the kernel sent for files of cur/ since the
// last call.
func (l *lockedBuffer) lookups() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, ": LOOKUP ") && strings.Contains(line, ".host:2,S") {
			n++
		}
	}
	l.b.Reset()
	return n
}

// A reader that stats files (tar, rsync) gets a folder's messages with
// their attributes when it reads the folder, once it has looked up a file
// of the user's tree, and looks none of them up; one that only reads the
// folders (find) gets none, so no inodes are made for its messages.
func TestStatWalkGetsAttributesWithListing(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no FUSE here")
	}
	src := storeSource{&groupSource{listingSource: &listingSource{n: 20, loads: map[index.ListingID]int{}}, users: 2, folders: 1, tops: map[string]int{}}}
	var reqs lockedBuffer
	log.SetOutput(&reqs)
	defer log.SetOutput(os.Stderr)
	dir := t.TempDir()
	srv, err := Mount(dir, New(src, 1<<20), MountOptions{Debug: true})
	if err != nil {
		t.Skipf("cannot mount: %v", err)
	}
	defer Unmount(srv, dir)
	statAll := func(cur string) {
		t.Helper()
		names, err := os.ReadDir(cur)
		if err != nil || len(names) != 20 {
			t.Fatalf("%s: %d entries, %v", cur, len(names), err)
		}
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join(cur, n.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	users := filepath.Join(dir, "s", "g")
	// u00: the folder is read first, as find does; each file is looked up.
	statAll(filepath.Join(users, "u00", "F0", "cur"))
	if n := reqs.lookups(); n != 20 {
		t.Errorf("u00: %d LOOKUPs of messages after a plain read of cur/, want 20", n)
	}
	// u01: a file was looked up first, as tar does with dovecot-uidlist.
	if _, err := os.Lstat(filepath.Join(users, "u01", "F0", "dovecot-uidlist")); err != nil {
		t.Fatal(err)
	}
	statAll(filepath.Join(users, "u01", "F0", "cur"))
	if n := reqs.lookups(); n != 0 {
		t.Errorf("u01: %d LOOKUPs of messages that came with the listing, want 0", n)
	}
}

package fs

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

// ReadBlob gives every message of listingSource (10 bytes) bytes of its
// own.
func (s storeSource) ReadBlob(h archive.Hash) ([]byte, error) { return bytes.Clone(h[:10]), nil }

func (s storeSource) ReadBlobs(hs []archive.Hash, fn func(int, []byte, error)) {
	for i, h := range hs {
		data, err := s.ReadBlob(h)
		fn(i, data, err)
	}
}

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
// last count.
func (l *lockedBuffer) lookups() int {
	return l.count(func(line string) bool {
		return strings.Contains(line, ": LOOKUP ") && strings.Contains(line, ".host:2,S")
	})
}

// reads counts the READs the kernel sent since the last count.
func (l *lockedBuffer) reads() int {
	return l.count(func(line string) bool { return strings.Contains(line, ": READ ") })
}

func (l *lockedBuffer) count(match func(string) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.b.String(), "\n") {
		if match(line) {
			n++
		}
	}
	l.b.Reset()
	return n
}

// mountStore mounts a store of 2 users with one folder of 20 messages,
// logging the kernel's requests.
func mountStore(t *testing.T) (fsys *FS, users string, reqs *lockedBuffer) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no FUSE here")
	}
	src := storeSource{&groupSource{listingSource: &listingSource{n: 20, loads: map[index.ListingID]int{}}, users: 2, folders: 1, tops: map[string]int{}}}
	reqs = &lockedBuffer{}
	log.SetOutput(reqs)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	dir := t.TempDir()
	fsys = New(src, 1<<20)
	srv, err := Mount(dir, fsys, MountOptions{Debug: true})
	if err != nil {
		t.Skipf("cannot mount: %v", err)
	}
	t.Cleanup(func() { Unmount(srv, dir) })
	return fsys, filepath.Join(dir, "s", "g"), reqs
}

// A reader that stats files (tar, rsync) gets a folder's messages with
// their attributes when it reads the folder, once it has looked up a file
// of the user's tree, and looks none of them up; one that only reads the
// folders (find) gets none, so no inodes are made for its messages.
func TestStatWalkGetsAttributesWithListing(t *testing.T) {
	_, users, reqs := mountStore(t)
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

// A folder read in order, by a reader that stats files, is read from the
// kernel's cache after its first messages: the mount stores them there
// as the read-ahead brings them, and the reader reads the right bytes
// without a READ.
func TestWalkReadsFromKernelCache(t *testing.T) {
	fsys, users, reqs := mountStore(t)
	folder := filepath.Join(users, "u00", "F0")
	if _, err := os.Lstat(filepath.Join(folder, "dovecot-uidlist")); err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(folder, "cur")
	names, err := os.ReadDir(cur)
	if err != nil || len(names) != 20 {
		t.Fatalf("%d entries, %v", len(names), err)
	}
	read := func(i int) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(cur, names[i].Name()))
		// listingSource names message i "<i>.M…" and gives it blob {id+1, i}.
		var n int
		fmt.Sscanf(names[i].Name(), "%d.", &n)
		if err != nil || len(data) != 10 || data[1] != byte(n) {
			t.Fatalf("%s: %x, %v", names[i].Name(), data, err)
		}
	}
	read(0)
	read(1) // in order: the rest is stored ahead
	for deadline := time.Now().Add(5 * time.Second); fsys.Stats().Stored < int64(len(names)-2); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages stored into the kernel's cache", fsys.Stats().Stored, len(names)-2)
		}
	}
	reqs.reads()
	for i := 2; i < len(names); i++ {
		read(i)
	}
	if n := reqs.reads(); n != 0 {
		t.Errorf("%d READs for the %d messages stored in the kernel's cache, want 0", n, len(names)-2)
	}
}

package fs

import (
	"fmt"
	"testing"

	"github.com/mailvault/mailvault/index"
)

func TestBuildTree(t *testing.T) {
	folders := []*index.Folder{{Name: "INBOX"}, {Name: "Archive/2002"}, {Name: "Archive/2003"}, {Name: "Lists/fork/old"},
		{Name: "Entwürfe"}, {Name: "INBOX/cur"}, {Name: "bad/../x"}, {Name: "/abs"}}
	root := buildTree(folders)
	if got := fmt.Sprint(root.names()); got != "[Archive Entwürfe INBOX Lists]" {
		t.Errorf("top names %s", got)
	}
	arch := root.kids["Archive"]
	if arch.folder != nil || fmt.Sprint(arch.names()) != "[2002 2003]" {
		t.Errorf("Archive is a parent only with 2002 and 2003: %v %v", arch.folder, arch.names())
	}
	if f := root.kids["Lists"].kids["fork"].kids["old"].folder; f == nil || f.Name != "Lists/fork/old" {
		t.Error("deep folder missing")
	}
	// INBOX/cur clashes with INBOX's own cur/ and is left out.
	if n := root.kids["INBOX"].names(); len(n) != 0 {
		t.Errorf("INBOX subfolders %v", n)
	}
	if root.kids["bad"] != nil || root.kids[""] != nil {
		t.Error("a folder with '..' or an empty component became a directory")
	}
}

func TestUsableName(t *testing.T) {
	for name, ok := range map[string]bool{
		"1700000000.M1P2.host,S=12:2,S": true, "Entwürfe": true, "\xff\xfe": true,
		"": false, ".": false, "..": false, "a/b": false, "a\x00b": false, string(make([]byte, 256)): false,
	} {
		if usableName(name) != ok {
			t.Errorf("usableName(%q) = %v", name, !ok)
		}
	}
}

func TestInoStableAndDistinct(t *testing.T) {
	a := inoOf("message", "mail1", "staff", "alice", "123")
	if a != inoOf("message", "mail1", "staff", "alice", "123") {
		t.Error("not stable")
	}
	// Component boundaries matter: ("ab","c") is not ("a","bc").
	if inoOf("x", "ab", "c") == inoOf("x", "a", "bc") || a == inoOf("folder", "mail1", "staff", "alice", "123") {
		t.Error("collision between different parts")
	}
	if inoOf("") <= 1 {
		t.Error("inode 0 or 1 handed out")
	}
}

func TestBlobCacheBound(t *testing.T) {
	c := newBlobCache(100)
	for i := range 10 {
		c.put([32]byte{byte(i)}, make([]byte, 30))
	}
	if c.size > 100 {
		t.Errorf("cache holds %d bytes over its limit", c.size)
	}
	if _, ok := c.get([32]byte{9}); !ok {
		t.Error("most recent entry evicted")
	}
	if _, ok := c.get([32]byte{0}); ok {
		t.Error("oldest entry kept")
	}
	c.put([32]byte{99}, make([]byte, 1000)) // larger than the limit: kept alone
	if _, ok := c.get([32]byte{99}); !ok || c.order.Len() != 1 {
		t.Errorf("huge blob: len %d", c.order.Len())
	}
}

func TestSnapshotNames(t *testing.T) {
	const sec = int64(1_795_000_000_000_000_000) // 2026-11-18T11:06:40Z
	names := snapshotNames([]int64{sec + 5_000_000, sec + 2_000_000_000, sec + 7_000_000, sec + 5_000_000})
	want := map[int64]string{
		sec + 5_000_000:     "2026-11-18T11:06:40Z",
		sec + 7_000_000:     "2026-11-18T11:06:40.007Z", // a later one of the same second
		sec + 2_000_000_000: "2026-11-18T11:06:42Z",
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("snapshotNames = %v, want %v", names, want)
	}
}

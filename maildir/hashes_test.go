package maildir

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

func TestContentHashes(t *testing.T) {
	root := t.TempDir()
	folder, _, err := CreateFolder(root, FolderDir{Name: Inbox}, selfOwner())
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"a.host:2,S": "one", "b.host:2,": "two"} {
		DeliverFile(folder, "cur", name, []byte(body), 0, selfOwner())
	}
	DeliverFile(folder, "new", "c.host", []byte("one"), 0, selfOwner()) // same content as a
	f, problems := ScanFolder(root, FolderDir{Name: Inbox})
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	// Dovecot renames b for new flags after the scan.
	os.Rename(filepath.Join(folder, "cur", "b.host:2,"), filepath.Join(folder, "cur", "b.host:2,F"))
	sums, err := f.ContentHashes(sha)
	if err != nil {
		t.Fatal(err)
	}
	byPath, err := ContentHashes(folder, sha)
	if err != nil || len(byPath) != 2 {
		t.Errorf("ContentHashes(%s) = %v, %v", folder, byPath, err)
	}
	if len(sums) != 2 || sums[sha256.Sum256([]byte("one"))] != "a.host" || sums[sha256.Sum256([]byte("two"))] != "b.host" {
		t.Errorf("ContentHashes = %v", sums)
	}
}

func sha(data []byte) [][32]byte { return [][32]byte{sha256.Sum256(data)} }

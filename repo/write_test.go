package repo

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStalePendingRemoved: opening a repository removes the archives that
// a dead process left under tmp/ (their lock is free) and keeps the one a
// live writer holds, which then commits as usual.
func TestStalePendingRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	if err := Init(dir); err != nil {
		t.Fatal(err)
	}
	l := Layout(dir)
	dead := filepath.Join(l.Tmp(), ArchiveName(time.Now(), "mail1", "staff"))
	os.WriteFile(dead, []byte("half an archive"), 0o600)
	p, err := l.Create(ArchiveName(time.Now(), "mail1", "net"))
	if err != nil {
		t.Fatal(err)
	}
	p.WriteString("being written")
	r, _, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := os.Lstat(dead); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("archive left by a dead process is still under tmp/: %v", err)
	}
	if _, err := os.Lstat(p.Name()); err != nil {
		t.Fatalf("archive being written was removed: %v", err)
	}
	name, err := p.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(l.ArchivePath(name)); err != nil {
		t.Errorf("committed archive: %v", err)
	}
}

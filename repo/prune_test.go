package repo

import (
	"errors"
	"path/filepath"
	"testing"
)

// A prune never runs beside a backup: the backup counts the blobs the
// repository holds when it starts and would not store them again.
func TestPruneExcludesBackups(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	if err := Init(dir); err != nil {
		t.Fatal(err)
	}
	l := Layout(dir)
	k, err := l.LockGroup("mail1", "staff")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Prune(PruneOptions{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("prune beside a backup: %v, want ErrBusy", err)
	}
	if _, err := l.Prune(PruneOptions{DryRun: true}); err != nil {
		t.Fatalf("a dry run beside a backup: %v", err)
	}
	other, err := l.LockGroup("mail1", "user")
	if err != nil {
		t.Fatalf("two groups backed up at once: %v", err)
	}
	other.Unlock()
	k.Unlock()

	prune, err := l.lockPrune(true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.LockGroup("mail1", "staff"); !errors.Is(err, ErrBusy) {
		t.Fatalf("backup beside a prune: %v, want ErrBusy", err)
	}
	prune.Close()
	if k, err = l.LockGroup("mail1", "staff"); err != nil {
		t.Fatalf("backup after the prune: %v", err)
	}
	k.Unlock()
}

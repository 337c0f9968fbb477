package maildir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func newFolder(t *testing.T) string {
	t.Helper()
	folder, _, err := CreateFolder(t.TempDir(), FolderDir{Name: Inbox}, selfOwner())
	if err != nil {
		t.Fatal(err)
	}
	return folder
}

func TestDeliverFile(t *testing.T) {
	folder := newFolder(t)
	o := selfOwner()
	msg := []byte("Subject: hi\n\nbody\n")
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).UnixNano()
	name := "1000.M1P1.host,S=18:2,S"
	if err := DeliverFile(folder, "cur", name, msg, mtime, o); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(folder, "cur", name)
	fi, err := os.Stat(p)
	if data, _ := os.ReadFile(p); err != nil || !bytes.Equal(data, msg) || fi.ModTime().UnixNano() != mtime || fi.Mode().Perm() != 0o600 {
		t.Fatalf("delivered file: %v %v %v", fi.ModTime(), fi.Mode(), err)
	}
	for _, tc := range []struct{ subdir, name string }{
		{"cur", name},                       // the same name
		{"cur", "1000.M1P1.host,S=18:2,FS"}, // the same base, other flags
		{"new", "1000.M1P1.host,S=18"},      // the same base in new/
	} {
		err := DeliverFile(folder, tc.subdir, tc.name, []byte("other\n"), mtime, o)
		if !errors.Is(err, ErrExists) {
			t.Errorf("DeliverFile(%s/%s) = %v, want ErrExists", tc.subdir, tc.name, err)
		}
	}
	if data, _ := os.ReadFile(p); !bytes.Equal(data, msg) {
		t.Error("the first message was overwritten")
	}
	// A base already in new/ blocks one in cur/ too.
	if err := DeliverFile(folder, "new", "2000.M2P2.host", msg, mtime, o); err != nil {
		t.Fatal(err)
	}
	if err := DeliverFile(folder, "cur", "2000.M2P2.host:2,S", msg, mtime, o); !errors.Is(err, ErrExists) {
		t.Errorf("same base as in new/: %v", err)
	}
	for _, bad := range []struct{ subdir, name string }{
		{"tmp", "x"}, {"cur", "../x"}, {"cur", ".hidden"}, {"cur", ""}, {"../cur", "x"},
	} {
		if err := DeliverFile(folder, bad.subdir, bad.name, msg, mtime, o); err == nil || errors.Is(err, ErrExists) {
			t.Errorf("DeliverFile(%q, %q) = %v", bad.subdir, bad.name, err)
		}
	}
	err = DeliverFile(folder, "cur", "3000.M3P3.host,S=99:2,", msg, mtime, o)
	if err == nil || !strings.Contains(err.Error(), "S=99") {
		t.Errorf("wrong S=: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(folder, "cur", "3000.M3P3.host,S=99:2,")); err == nil {
		t.Error("a message with the wrong size was placed")
	}
	if ents, _ := os.ReadDir(filepath.Join(folder, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ left with %v", ents)
	}
}

// TestTargetParallel delivers the same bases from several goroutines: each
// base must land exactly once.
func TestTargetParallel(t *testing.T) {
	folder := newFolder(t)
	tg, err := OpenTarget(folder, selfOwner())
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	placed := map[string]int{}
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				base := string(rune('a'+i)) + ".host"
				flags := ":2,S"
				if g%2 == 1 {
					flags = ":2,F"
				}
				err := tg.Deliver("cur", base+flags, strings.NewReader("m"), 0)
				if err == nil {
					mu.Lock()
					placed[base]++
					mu.Unlock()
				} else if !errors.Is(err, ErrExists) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	tg.Close()
	if err := tg.Deliver("cur", "late.host", strings.NewReader("m"), 0); err == nil {
		t.Error("Deliver after Close accepted")
	}
	ents, _ := os.ReadDir(filepath.Join(folder, "cur"))
	if len(ents) != 20 || len(placed) != 20 {
		t.Errorf("%d files, %d bases placed", len(ents), len(placed))
	}
	for b, n := range placed {
		if n != 1 {
			t.Errorf("%s placed %d times", b, n)
		}
	}
}

func TestOpenTargetRefusesSymlink(t *testing.T) {
	folder := newFolder(t)
	elsewhere := t.TempDir()
	os.Remove(filepath.Join(folder, "cur"))
	os.Symlink(elsewhere, filepath.Join(folder, "cur"))
	err := DeliverFile(folder, "cur", "x", []byte("m"), 0, selfOwner())
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("DeliverFile through a symlinked cur/: %v", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("wrote through a symlink: %v", ents)
	}
}

// A batch shows nothing in cur/ or new/ until Commit, which places every
// staged message with its bytes, mtime and mode, refuses a name that was
// taken meanwhile and leaves no temp file behind.
func TestTargetBatch(t *testing.T) {
	folder := newFolder(t)
	tg, err := OpenTarget(folder, selfOwner())
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	tg.Batch()
	mtime := time.Date(2002, 3, 4, 5, 6, 7, 0, time.UTC).UnixNano()
	names := []string{"1.M1P1.h,S=2:2,S", "2.M1P1.h,S=2:2,", "3.M1P1.h,S=2"}
	for i, n := range names {
		sub := "cur"
		if i == 2 {
			sub = "new"
		}
		if err := tg.Deliver(sub, n, bytes.NewReader([]byte{'a' + byte(i), '\n'}), mtime); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"cur", "new"} {
		if ents, _ := os.ReadDir(filepath.Join(folder, sub)); len(ents) != 0 {
			t.Fatalf("%s/ holds %d files before Commit", sub, len(ents))
		}
	}
	// Another writer takes the second name before the commit.
	if err := os.WriteFile(filepath.Join(folder, "cur", names[1]), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	placed, errs := tg.Commit()
	if placed != 2 || len(errs) != 1 || !errors.Is(errs[0], ErrExists) {
		t.Fatalf("Commit: placed %d, errors %v", placed, errs)
	}
	if data, _ := os.ReadFile(filepath.Join(folder, "cur", names[1])); string(data) != "x\n" {
		t.Errorf("the other writer's file was replaced: %q", data)
	}
	for i, p := range []string{filepath.Join(folder, "cur", names[0]), filepath.Join(folder, "new", names[2])} {
		fi, err := os.Stat(p)
		data, _ := os.ReadFile(p)
		want := string([]byte{'a' + byte(2*i), '\n'})
		if err != nil || string(data) != want || fi.ModTime().UnixNano() != mtime || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %q %v %v", p, data, fi, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(folder, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ keeps %d files after Commit", len(ents))
	}
}

package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestScanWhileRenamed scans and reads a folder over and over while every
// one of its messages is renamed again and again, as Dovecot does for flag
// changes and for moves from new/ to cur/. No message is ever expunged, so
// every scan must list each message exactly once, and every read must find
// it under whatever name it has by then.
func TestScanWhileRenamed(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, "cur", "new", "tmp")
	const n = 300
	for i := range n {
		writeFile(t, root, fmt.Sprintf("new/%d.M%dP1.host,S=%d", 1700000000+i, i, len("message ")+len(fmt.Sprint(i))), fmt.Sprintf("message %d", i))
	}
	stop := make(chan struct{})
	var renames atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the renamer: new/ to cur/, then one more flag each time
		defer wg.Done()
		for {
			for _, sub := range []string{"new", "cur"} {
				ents, _ := os.ReadDir(filepath.Join(root, sub))
				for _, e := range ents {
					select {
					case <-stop:
						return
					default:
					}
					from := filepath.Join(root, sub, e.Name())
					to := filepath.Join(root, "cur", e.Name()+":2,")
					if sub == "cur" {
						base, flags, _ := strings.Cut(e.Name(), ":2,")
						to = filepath.Join(root, "cur", fmt.Sprintf("%s:2,%sx", base, flags))
						if len(flags) > 40 {
							to = filepath.Join(root, "cur", base+":2,")
						}
					}
					if os.Rename(from, to) == nil {
						renames.Add(1)
					}
					time.Sleep(50 * time.Microsecond) // each file renamed every ~15 ms or more
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	deadline := time.Now().Add(3 * time.Second)
	scans := 0
	for ; scans < 200 && time.Now().Before(deadline); scans++ {
		f, problems := ScanFolder(root, FolderDir{Name: "INBOX"})
		if len(problems) > 0 {
			t.Fatalf("scan %d: %v", scans, problems)
		}
		seen := map[string]string{}
		for _, m := range f.Messages {
			b := baseOf(m.Name)
			if prev, ok := seen[b]; ok {
				t.Fatalf("scan %d: %s listed twice, as %s and %s/%s", scans, b, prev, m.Subdir, m.Name)
			}
			seen[b] = m.Subdir + "/" + m.Name
		}
		if len(f.Messages) != n {
			t.Fatalf("scan %d: %d messages listed, want %d", scans, len(f.Messages), n)
		}
		if scans%20 == 0 {
			for _, m := range f.Messages {
				data, got, err := f.ReadMessage(m)
				if err != nil {
					t.Fatalf("scan %d: %v", scans, err)
				}
				if baseOf(got.Name) != baseOf(m.Name) || !strings.HasPrefix(string(data), "message ") {
					t.Fatalf("scan %d: read %s as %s: %q", scans, m.Name, got.Name, data)
				}
			}
		}
	}
	t.Logf("%d scans during %d renames", scans, renames.Load())
	if renames.Load() < int64(scans) {
		t.Fatalf("only %d renames during %d scans: the test tested little", renames.Load(), scans)
	}
}

// TestFolderDeletedByDovecot: Dovecot deletes a folder by emptying it and
// renaming it to ..DOVECOT-TRASHED before removing it. That directory is
// no folder, and a folder gone by the time it is scanned is reported as
// vanished (nothing lost), not as a folder that cannot be read.
func TestFolderDeletedByDovecot(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, "cur", "new", ".Old/cur", "..DOVECOT-TRASHED/cur", "..DOVECOT-TRASHED/new")
	writeFile(t, root, "..DOVECOT-TRASHED/cur/1.M1P1.h:2,S", "x")
	dirs, err := ListFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 2 || dirs[1].Dir != ".Old" {
		t.Fatalf("folders %v, want INBOX and .Old", dirs)
	}
	if err := os.RemoveAll(filepath.Join(root, ".Old")); err != nil {
		t.Fatal(err)
	}
	f, problems := ScanFolder(root, dirs[1])
	if f != nil || len(problems) != 1 || !errors.Is(problems[0], ErrVanished) || !strings.Contains(problems[0].Error(), `"Old"`) {
		t.Fatalf("scan of a deleted folder: %v, %v; want nil and one error wrapping ErrVanished naming it", f, problems)
	}
	if f, problems := ScanFolder(root, dirs[0]); f == nil || len(problems) != 0 {
		t.Fatalf("INBOX: %v", problems)
	}
}

// TestControlFilesBeingWritten: the files Dovecot writes and renames into
// place are not control files to keep.
func TestControlFilesBeingWritten(t *testing.T) {
	for name, skip := range map[string]bool{
		"dovecot-uidlist.tmp": true, "dovecot-keywords.tmp": true, "dovecot-uidlist.lock": true,
		"dovecot-uidlist": false, "subscriptions": false, "notes.tmp": false,
	} {
		if skipControl(name) != skip {
			t.Errorf("skipControl(%q) = %v, want %v", name, !skip, skip)
		}
	}
}

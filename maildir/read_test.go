package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func scanned(t *testing.T, root string) (*Folder, map[string]MessageFile) {
	t.Helper()
	f, problems := ScanFolder(root, FolderDir{Name: "INBOX"})
	if f == nil {
		t.Fatal(problems)
	}
	byName := map[string]MessageFile{}
	for _, m := range f.Messages {
		byName[m.Name] = m
	}
	return f, byName
}

func TestReadMessage(t *testing.T) {
	root := testFolder(t)
	f, msgs := scanned(t, root)

	data, got, err := f.ReadMessage(msgs[msgA])
	if err != nil || string(data) != "hello" || got != msgs[msgA] {
		t.Errorf("ReadMessage = %q, %+v, %v", data, got, err)
	}

	// A flag change renames the file within cur/.
	renamed := "1001.M2P1.h,S=3:2,RSTa"
	if err := os.Rename(filepath.Join(root, "cur", msgB), filepath.Join(root, "cur", renamed)); err != nil {
		t.Fatal(err)
	}
	data, got, err = f.ReadMessage(msgs[msgB])
	if err != nil || string(data) != "abc" || got.Name != renamed || got.Subdir != "cur" || got.UID != 2 || got.Size != 3 {
		t.Errorf("after flag change: %q, %+v, %v", data, got, err)
	}

	// A client seeing the message moves it from new/ to cur/.
	moved := msgD + ":2,S"
	if err := os.Rename(filepath.Join(root, "new", msgD), filepath.Join(root, "cur", moved)); err != nil {
		t.Fatal(err)
	}
	data, got, err = f.ReadMessage(msgs[msgD])
	if err != nil || string(data) != "new!" || got.Name != moved || got.Subdir != "cur" || got.UID != 3 {
		t.Errorf("after new/ to cur/: %q, %+v, %v", data, got, err)
	}

	// Expunged: gone for good, though a hard link with another base remains.
	if err := os.Remove(filepath.Join(root, "cur", msgA)); err != nil {
		t.Fatal(err)
	}
	_, got, err = f.ReadMessage(msgs[msgA])
	if !errors.Is(err, ErrVanished) || !strings.Contains(err.Error(), msgA) || got.Name != msgA {
		t.Errorf("after expunge: %+v, %v", got, err)
	}
	if data, _, err := f.ReadMessage(msgs[msgC]); err != nil || string(data) != "hello" {
		t.Errorf("hard link: %q, %v", data, err)
	}

	// A symlink is never followed, even if asked for by name.
	if _, _, err := f.ReadMessage(MessageFile{Subdir: "cur", Name: "evil:2,S"}); err == nil || errors.Is(err, ErrVanished) {
		t.Errorf("symlink: %v", err)
	}
	// Nor is a FIFO opened in a way that blocks.
	if _, _, err := f.ReadMessage(MessageFile{Subdir: "new", Name: "fifo"}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fifo: %v", err)
	}
	for _, m := range []MessageFile{{Subdir: "cur", Name: "../dovecot-uidlist"}, {Subdir: "tmp", Name: "x"},
		{Subdir: "..", Name: "subscriptions"}, {Subdir: "cur", Name: ".."}, {Subdir: "cur", Name: ""}} {
		if _, _, err := f.ReadMessage(m); err == nil || errors.Is(err, ErrVanished) {
			t.Errorf("ReadMessage(%q/%q) = %v, want refusal", m.Subdir, m.Name, err)
		}
	}
}

func TestReadMessageGrown(t *testing.T) {
	// The size at the scan is a hint: a file that grew is read whole.
	root := testFolder(t)
	f, msgs := scanned(t, root)
	writeFile(t, root, "cur/"+msgB, strings.Repeat("x", 100000))
	data, got, err := f.ReadMessage(msgs[msgB])
	if err != nil || len(data) != 100000 || got.Size != 100000 {
		t.Errorf("grown: %d bytes, %+v, %v", len(data), got, err)
	}
}

func TestReadMessageUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads unreadable files")
	}
	root := testFolder(t)
	f, msgs := scanned(t, root)
	if err := os.Chmod(filepath.Join(root, "cur", msgB), 0); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.ReadMessage(msgs[msgB])
	if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), msgB) {
		t.Errorf("unreadable: %v", err)
	}
}

func TestReadMessageManyRenamed(t *testing.T) {
	// Many renamed messages cost one listing, not one each.
	root := t.TempDir()
	const n = 500
	for i := range n {
		writeFile(t, root, fmt.Sprintf("cur/%d.M1P1.h:2,", i), fmt.Sprint(i))
	}
	mkdirs(t, root, "new")
	f, _ := scanned(t, root)
	for i := range n {
		old := filepath.Join(root, "cur", fmt.Sprintf("%d.M1P1.h:2,", i))
		if err := os.Rename(old, old+"S"); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour) // the renames happened well before the reads
	for _, sub := range []string{"cur", "new"} {
		if err := os.Chtimes(filepath.Join(root, sub), past, past); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				data, got, err := f.ReadMessage(f.Messages[i])
				if err != nil || string(data) != got.Name[:strings.IndexByte(got.Name, '.')] || !strings.HasSuffix(got.Name, ":2,S") {
					t.Errorf("%s: %q, %+v, %v", f.Messages[i].Name, data, got, err)
				}
			}
		})
	}
	wg.Wait()
	if f.relook.lists != 1 {
		t.Errorf("%d listings for %d renamed messages, want 1", f.relook.lists, n)
	}
}

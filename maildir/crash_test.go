package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// deadPid returns the pid of a process that has ended.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	return cmd.Process.Pid
}

// TestLockOfDeadHolder: a lock naming a process of this host that is gone
// (a restore killed while it held it) is taken at once; one naming a live
// process or another host is respected. Our locks name us until Commit.
func TestLockOfDeadHolder(t *testing.T) {
	host, _ := os.Hostname()
	for _, c := range []struct {
		owner string
		taken bool
	}{
		{fmt.Sprintf("%d:%s", deadPid(t), host), true},
		{fmt.Sprintf("%d:%s", os.Getppid(), host), false},
		{fmt.Sprintf("%d:another-host", deadPid(t)), false},
		{"not a pid line", false},
	} {
		folder := newFolder(t)
		os.WriteFile(filepath.Join(folder, "dovecot-uidlist.lock"), []byte(c.owner), 0o600)
		l, err := LockUIDList(folder, 0)
		if c.taken != (err == nil) {
			t.Errorf("lock held by %q: taken %v (%v), want %v", c.owner, err == nil, err, c.taken)
		}
		if err == nil {
			l.Release()
		} else if !errors.Is(err, ErrLocked) {
			t.Errorf("lock held by %q: %v", c.owner, err)
		}
	}

	folder := newFolder(t)
	l, err := LockUIDList(folder, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(folder, "dovecot-uidlist.lock"))
	if want := fmt.Sprintf("%d:%s", os.Getpid(), host); string(data) != want {
		t.Errorf("lock file holds %q, want %q", data, want)
	}
	if err := l.Commit([]byte(sampleUIDList), selfOwner()); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(folder, "dovecot-uidlist")); string(data) != sampleUIDList {
		t.Errorf("committed uidlist:\n%s\nwant:\n%s", data, sampleUIDList)
	}
}

// TestStaleTempsRemoved: opening a Target removes the temp files that a
// dead process of this host left in tmp/, and only those.
func TestStaleTempsRemoved(t *testing.T) {
	folder := newFolder(t)
	host := thisHost()
	dead := fmt.Sprintf("%s%s.%d.1700000000.00ff", tempPrefix, host, deadPid(t))
	live := fmt.Sprintf("%s%s.%d.1700000000.00ff", tempPrefix, host, os.Getppid())
	other := fmt.Sprintf("%sother.host.%d.1700000000.00ff", tempPrefix, deadPid(t))
	dovecot := "1700000000.M1P2.host"
	for _, n := range []string{dead, live, other, dovecot} {
		os.WriteFile(filepath.Join(folder, "tmp", n), []byte("x"), 0o600)
	}
	tg, err := OpenTarget(folder, selfOwner())
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
	if _, err := os.Lstat(filepath.Join(folder, "tmp", dead)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temp file of a dead process still there: %v", err)
	}
	for _, n := range []string{live, other, dovecot} {
		if _, err := os.Lstat(filepath.Join(folder, "tmp", n)); err != nil {
			t.Errorf("%s removed: %v", n, err)
		}
	}
	if !strings.HasPrefix(dead, ".") {
		t.Error("temp files must start with a dot, so Dovecot ignores them")
	}
}

// TestCreateFolderAfterKill: a directory that a killed run created but
// never gave its owner (root's, 0700, empty, in the owner's directory) is
// given it by the next run; Dovecot, running as the owner, could not read
// it otherwise. Another root directory is left alone.
func TestCreateFolderAfterKill(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the store belongs to another user")
	}
	o := Owner{UID: 65534, GID: 65534, DirMode: 0o700, FileMode: 0o600}
	root := filepath.Join(t.TempDir(), "Maildir")
	os.Mkdir(root, 0o700)
	os.Chown(root, o.UID, o.GID)
	os.Mkdir(filepath.Join(root, "cur"), 0o700) // as the killed run left it
	keep := filepath.Join(root, "new")
	os.Mkdir(keep, 0o750) // not one of ours: another mode
	if _, _, err := CreateFolder(root, FolderDir{Name: Inbox}, o); err != nil {
		t.Fatal(err)
	}
	for dir, uid := range map[string]int{filepath.Join(root, "cur"): o.UID, keep: 0} {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := int(fi.Sys().(*syscall.Stat_t).Uid); got != uid {
			t.Errorf("%s owned by %d, want %d", dir, got, uid)
		}
	}
}

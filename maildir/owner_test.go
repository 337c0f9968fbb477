package maildir

import (
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOwnerOf(t *testing.T) {
	if os.Geteuid() != 0 {
		// Without root the temp dir is ours, so OwnerOf can be checked
		// against ourselves.
		top := t.TempDir()
		o, err := OwnerOf(filepath.Join(top, "new", "user"))
		if err != nil || o != (Owner{os.Getuid(), os.Getgid(), 0o700, 0o600}) {
			t.Errorf("OwnerOf(new user) = %+v, %v", o, err)
		}
		return
	}
	top := t.TempDir()
	if _, err := OwnerOf(filepath.Join(top, "x")); err == nil || !strings.Contains(err.Error(), "root") {
		t.Errorf("OwnerOf under a root-owned dir: %v", err)
	}
	store := filepath.Join(top, "store")
	os.Mkdir(store, 0o755)
	os.Chown(store, 8, 8)
	o, err := OwnerOf(filepath.Join(store, "example.org", "alice", "Maildir"))
	if err != nil || o != (Owner{8, 8, 0o700, 0o600}) {
		t.Errorf("OwnerOf(new user) = %+v, %v; want defaults", o, err)
	}
	md := filepath.Join(store, "Maildir")
	os.Mkdir(md, 0o750)
	os.Chown(md, 8, 8)
	os.Chmod(md, 0o750|fs.ModeSetgid)
	o, err = OwnerOf(md)
	if err != nil || o != (Owner{8, 8, 0o750 | fs.ModeSetgid, 0o640}) {
		t.Errorf("OwnerOf(existing root) = %+v, %v; want its modes", o, err)
	}
}

// TestOwnership restores as root for the mail user: every directory and
// file created, parents included, must belong to mail, none to root.
func TestOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	mail, err := user.Lookup("mail")
	if err != nil {
		t.Skip("no mail user:", err)
	}
	uid, _ := strconv.Atoi(mail.Uid)
	gid, _ := strconv.Atoi(mail.Gid)
	o := Owner{UID: uid, GID: gid, DirMode: 0o700, FileMode: 0o600}
	top := t.TempDir()
	root := filepath.Join(top, "example.org", "alice", "Maildir")
	folder, _, err := CreateFolder(root, FolderDir{Name: "Sent", Dir: ".Sent"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := CreateFolder(root, FolderDir{Name: Inbox}, o); err != nil {
		t.Fatal(err)
	}
	if err := WriteControl(folder, "dovecot-uidlist", []byte("3 V1 N1\n"), 0, o); err != nil {
		t.Fatal(err)
	}
	if err := DeliverFile(folder, "cur", "1.host,S=1:2,S", []byte("m"), 0, o); err != nil {
		t.Fatal(err)
	}
	l, err := LockUIDList(folder, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WriteKeywords([]string{"Junk"}, o); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit([]byte("3 V1 N2\n1 :1.host,S=1\n"), o); err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(filepath.Join(top, "example.org"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		fi, _ := d.Info()
		st := fi.Sys().(*syscall.Stat_t)
		want := o.FileMode
		if d.IsDir() {
			want = o.DirMode
		}
		if int(st.Uid) != uid || int(st.Gid) != gid || fi.Mode().Perm() != want {
			t.Errorf("%s: %d:%d %v, want %d:%d %v", p, st.Uid, st.Gid, fi.Mode().Perm(), uid, gid, want)
		}
		n++
		return nil
	})
	// example.org alice Maildir + its cur new tmp + .Sent + its cur new tmp
	// + maildirfolder, dovecot-uidlist, dovecot-keywords, one message
	if n != 14 {
		t.Errorf("checked %d entries, want 14", n)
	}
}

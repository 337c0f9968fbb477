package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfOwner is the test process's own uid and gid with Dovecot's modes.
func selfOwner() Owner {
	return Owner{UID: os.Getuid(), GID: os.Getgid(), DirMode: 0o700, FileMode: 0o600}
}

func TestCreateFolder(t *testing.T) {
	root := filepath.Join(t.TempDir(), "example.org", "alice", "Maildir")
	o := selfOwner()
	for _, fd := range []FolderDir{{Name: Inbox}, {Name: "Archive/2002", Dir: ".Archive.2002"}} {
		path, created, err := CreateFolder(root, fd, o)
		if err != nil || !created || path != filepath.Join(root, fd.Dir) {
			t.Fatalf("CreateFolder(%s) = %q, %v, %v", fd.Name, path, created, err)
		}
		for _, sub := range subdirs {
			fi, err := os.Lstat(filepath.Join(path, sub))
			if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
				t.Errorf("%s/%s: %v, %v", fd.Name, sub, fi.Mode(), err)
			}
		}
		fi, err := os.Lstat(filepath.Join(path, "maildirfolder"))
		if fd.Dir == "" && err == nil {
			t.Error("INBOX got a maildirfolder file")
		}
		if fd.Dir != "" && (err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600) {
			t.Errorf("maildirfolder: %v, %v", fi, err)
		}
		if _, created, err := CreateFolder(root, fd, o); err != nil || created {
			t.Errorf("CreateFolder(%s) again: created %v, %v", fd.Name, created, err)
		}
	}
	folders, err := ListFolders(root)
	if err != nil || len(folders) != 2 || folders[1].Name != "Archive/2002" {
		t.Errorf("ListFolders = %v, %v", folders, err)
	}
	// An existing folder that lost tmp/ gets it back, still not "created".
	os.Remove(filepath.Join(root, "tmp"))
	if _, created, err := CreateFolder(root, FolderDir{Name: Inbox}, o); err != nil || created {
		t.Errorf("CreateFolder without tmp/: %v, %v", created, err)
	}
	if _, err := os.Stat(filepath.Join(root, "tmp")); err != nil {
		t.Error(err)
	}
}

func TestCreateFolderRefuses(t *testing.T) {
	top := t.TempDir()
	elsewhere := t.TempDir()
	os.Symlink(elsewhere, filepath.Join(top, "link"))
	os.Mkdir(filepath.Join(top, "md"), 0o700)
	os.Symlink(elsewhere, filepath.Join(top, "md", ".Evil"))
	o := selfOwner()
	for _, tc := range []struct {
		root string
		fd   FolderDir
		want string
	}{
		{filepath.Join(top, "link"), FolderDir{Name: Inbox}, "symlink"},
		{filepath.Join(top, "link", "sub"), FolderDir{Name: Inbox}, "symlink"},
		{filepath.Join(top, "md"), FolderDir{Name: "Evil", Dir: ".Evil"}, "symlink"},
		{filepath.Join(top, "md"), FolderDir{Name: "x", Dir: "../x"}, "not a folder directory"},
		{filepath.Join(top, "md"), FolderDir{Name: "x", Dir: "cur"}, "not a folder directory"},
	} {
		_, _, err := CreateFolder(tc.root, tc.fd, o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CreateFolder(%s, %q) = %v, want %q", tc.root, tc.fd.Dir, err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("wrote through a symlink: %v", ents)
	}
}

func TestWriteControl(t *testing.T) {
	o := selfOwner()
	folder, _, err := CreateFolder(t.TempDir(), FolderDir{Name: Inbox}, o)
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	if err := WriteControl(folder, "dovecot-uidlist", []byte(sampleUIDList), mtime, o); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(folder, "dovecot-uidlist")
	fi, err := os.Stat(p)
	if data, _ := os.ReadFile(p); err != nil || string(data) != sampleUIDList || fi.ModTime().UnixNano() != mtime || fi.Mode().Perm() != 0o600 {
		t.Errorf("written file: %v, %v, %v", fi.ModTime(), fi.Mode(), err)
	}
	err = WriteControl(folder, "dovecot-uidlist", []byte("other"), mtime, o)
	if !errors.Is(err, ErrExists) {
		t.Errorf("second write: %v, want ErrExists", err)
	}
	if data, _ := os.ReadFile(p); string(data) != sampleUIDList {
		t.Error("second write replaced the file")
	}
	for _, bad := range []string{"../x", "a/b", "..", ""} {
		if err := WriteControl(folder, bad, nil, mtime, o); err == nil {
			t.Errorf("WriteControl(%q) accepted", bad)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(folder, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ left with %v", ents)
	}
}

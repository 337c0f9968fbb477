package maildir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

const (
	msgA = "1000.M1P1.h,S=5,W=6:2,S"
	msgB = "1001.M2P1.h,S=3:2,RSa"
	msgC = "1002.M3P1.h:2," // a hard link to msgA
	msgD = "1003.M4P1.h"
)

// testFolder builds an INBOX with messages, control files, caches and odd
// entries, and returns its root.
func testFolder(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	mkdirs(t, root, "tmp")
	writeFile(t, root, "cur/"+msgA, "hello")
	writeFile(t, root, "cur/"+msgB, "abc")
	writeFile(t, root, "new/"+msgD, "new!")
	writeFile(t, root, "new/.dotfile", "ignored as Dovecot does")
	if err := os.Link(filepath.Join(root, "cur", msgA), filepath.Join(root, "cur", msgC)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "cur", "evil:2,S")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "new", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "dovecot-uidlist", "3 V1700000000 N2 G0123456789abcdef0123456789abcdef\n"+
		"1 :1000.M1P1.h,S=5,W=6\n2 W4 :1001.M2P1.h\n3 :1003.M4P1.h\n")
	writeFile(t, root, "dovecot-keywords", "0 $Forwarded\n")
	for _, n := range []string{"subscriptions", "maildirfolder", "dovecot-uidvalidity.65a00000",
		"dovecot.index", "dovecot.index.cache", "dovecot.index.log", "dovecot.index.log.2",
		"dovecot.list.index.log", "dovecot.mailbox.log", "dovecot-uidlist.lock"} {
		writeFile(t, root, n, n)
	}
	writeFile(t, root, "huge", "")
	if err := os.Truncate(filepath.Join(root, "huge"), maxControlFile+1); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("subscriptions", filepath.Join(root, "linked-control")); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestScanFolder(t *testing.T) {
	root := testFolder(t)
	f, problems := ScanFolder(root, FolderDir{Name: "INBOX"})
	if f == nil {
		t.Fatal(problems)
	}
	var msgs []string
	for _, m := range f.Messages {
		msgs = append(msgs, m.Subdir+"/"+m.Name)
	}
	if want := []string{"cur/" + msgA, "cur/" + msgB, "cur/" + msgC, "new/" + msgD}; !reflect.DeepEqual(msgs, want) {
		t.Errorf("messages %q\nwant %q", msgs, want)
	}
	for i, uid := range []uint32{1, 2, 0, 3} {
		if f.Messages[i].UID != uid {
			t.Errorf("%s: uid %d, want %d", f.Messages[i].Name, f.Messages[i].UID, uid)
		}
	}
	a, c := f.Messages[0], f.Messages[2]
	if a.Ino != c.Ino || a.Dev != c.Dev || a.Nlink != 2 || a.Size != 5 || a.Mode&0o777 != 0o644 || a.Mode&syscall.S_IFMT != syscall.S_IFREG {
		t.Errorf("hard link not noticed: %+v %+v", a, c)
	}
	if f.Messages[1].Nlink != 1 || f.Messages[1].Mtime == 0 {
		t.Errorf("%+v", f.Messages[1])
	}

	var files []string
	for _, cf := range f.Files {
		files = append(files, cf.Name)
		if cf.Name != "dovecot-uidlist" && cf.Name != "dovecot-keywords" && string(cf.Data) != cf.Name {
			t.Errorf("%s: data %q", cf.Name, cf.Data)
		}
	}
	if want := []string{"dovecot-keywords", "dovecot-uidlist", "dovecot-uidvalidity.65a00000", "maildirfolder", "subscriptions"}; !reflect.DeepEqual(files, want) {
		t.Errorf("control files %q\nwant %q", files, want)
	}
	if f.UIDList == nil || f.UIDList.NextUID != 4 || !reflect.DeepEqual(f.Keywords, []string{"$Forwarded"}) {
		t.Errorf("uidlist %+v keywords %q", f.UIDList, f.Keywords)
	}
	if f.CurMtime == 0 || f.NewMtime == 0 || f.Mode&syscall.S_IFMT != syscall.S_IFDIR || f.Path != root {
		t.Errorf("folder %+v", f)
	}

	wantProblems := []string{"evil:2,S: skipped: a symlink, which is not followed", "fifo: skipped: not a regular file", "huge: skipped"}
	if len(problems) != len(wantProblems) {
		t.Errorf("problems %v, want %d", problems, len(wantProblems))
	}
	for _, w := range wantProblems {
		if !containsError(problems, w) {
			t.Errorf("no problem %q in %v", w, problems)
		}
	}
}

func containsError(errs []error, s string) bool {
	for _, e := range errs {
		if strings.Contains(e.Error(), s) {
			return true
		}
	}
	return false
}

func TestScanFolderProblems(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, ".Sub/cur")
	writeFile(t, root, ".Sub/new", "a file, not a directory")
	writeFile(t, root, ".Sub/dovecot-uidlist", "3 V1 N1\nbad\n")
	writeFile(t, root, ".Sub/dovecot-keywords", "x\n")
	f, problems := ScanFolder(root, FolderDir{"Sub", ".Sub"})
	if f == nil || len(problems) != 3 || !containsError(problems, "new: not a directory") ||
		!containsError(problems, ".Sub/dovecot-uidlist: dovecot-uidlist line 2") ||
		!containsError(problems, ".Sub/dovecot-keywords: dovecot-keywords line 1") {
		t.Errorf("folder %v problems %v", f, problems)
	}

	for _, fd := range []FolderDir{{"Gone", ".Gone"}, {"Up", ".."}, {"Out", "../x"}, {"Plain", "x"}} {
		if f, problems := ScanFolder(root, fd); f != nil || len(problems) != 1 {
			t.Errorf("ScanFolder(%v) = %v, %v; want nil and one error", fd, f, problems)
		}
	}
	if err := os.Symlink(".Sub", filepath.Join(root, ".Link")); err != nil {
		t.Fatal(err)
	}
	if f, _ := ScanFolder(root, FolderDir{"Link", ".Link"}); f != nil {
		t.Error("ScanFolder followed a symlinked folder")
	}

	if os.Geteuid() == 0 {
		t.Skip("root reads unreadable files")
	}
	writeFile(t, root, ".Sub/subscriptions", "x")
	if err := os.Chmod(filepath.Join(root, ".Sub/subscriptions"), 0); err != nil {
		t.Fatal(err)
	}
	if _, problems := ScanFolder(root, FolderDir{"Sub", ".Sub"}); !containsError(problems, "subscriptions: permission denied") {
		t.Errorf("unreadable control file: %v", problems)
	}
}

package maildir

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// benchFolder is an INBOX of 500 messages in cur/ and 10 in new/, with a
// dovecot-uidlist numbering them.
func benchFolder(b *testing.B) (root string, cur int64) {
	b.Helper()
	root = b.TempDir()
	o := Owner{UID: os.Getuid(), GID: os.Getgid(), DirMode: 0o700, FileMode: 0o600}
	path, _, err := CreateFolder(root, FolderDir{Name: Inbox}, o)
	if err != nil {
		b.Fatal(err)
	}
	uidlist := "3 V1 N511\n"
	for i := range 510 {
		sub, name := "cur", fmt.Sprintf("%d.M%dP1.host,S=200:2,S", 1700000000+i, i)
		if i >= 500 {
			sub, name = "new", fmt.Sprintf("%d.M%dP1.host,S=200", 1700000000+i, i)
		}
		// Written plainly: DeliverFile's syncs would make the setup slow.
		if err := os.WriteFile(path+"/"+sub+"/"+name, make([]byte, 200), 0o600); err != nil {
			b.Fatal(err)
		}
		uidlist += fmt.Sprintf("%d :%s\n", i+1, baseOf(name))
	}
	if err := os.WriteFile(path+"/dovecot-uidlist", []byte(uidlist), 0o600); err != nil {
		b.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path+"/cur", old, old)
	fi, err := os.Stat(path + "/cur")
	if err != nil {
		b.Fatal(err)
	}
	return root, fi.ModTime().UnixNano()
}

// BenchmarkScanFolder lists a whole folder: every message lstat'ed.
func BenchmarkScanFolder(b *testing.B) {
	root, _ := benchFolder(b)
	for b.Loop() {
		f, errs := ScanFolder(root, FolderDir{Name: Inbox})
		if len(errs) > 0 || len(f.Messages) != 510 {
			b.Fatalf("%d messages, %v", len(f.Messages), errs)
		}
	}
}

// BenchmarkScanFolderNew lists new/ only, cur/ being as it was: the
// folder of an incremental run after a delivery.
func BenchmarkScanFolderNew(b *testing.B) {
	root, cur := benchFolder(b)
	for b.Loop() {
		f, errs := ScanFolderNew(root, FolderDir{Name: Inbox}, cur)
		if len(errs) > 0 || !f.CurKept || len(f.Messages) != 10 {
			b.Fatalf("kept %v, %d messages, %v", f.CurKept, len(f.Messages), errs)
		}
	}
}

// BenchmarkProbeFolder reads what tells whether a folder changed.
func BenchmarkProbeFolder(b *testing.B) {
	root, _ := benchFolder(b)
	for b.Loop() {
		if _, errs := ProbeFolder(root, FolderDir{Name: Inbox}, nil); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

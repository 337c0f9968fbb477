package maildir

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A control file that still has the mode, size and mtime the caller knew
// it by is taken from the caller, not read; one that changed is read.
func TestProbeFolderKnownControls(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"cur", "new"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	write := func(name, data string) {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	write("dovecot-uidlist", "3 V1 N2 G0123\n1 :1.M1P1.host\n")
	write("dovecot-keywords", "0 $Junk\n")
	f, errs := ProbeFolder(root, FolderDir{Name: Inbox}, nil)
	if len(errs) > 0 || len(f.Files) != 2 {
		t.Fatalf("probe: %v %v", f, errs)
	}
	known := append([]ControlFile(nil), f.Files...)
	// Bytes of the same size told by the caller: taken, so not read.
	known[1].Data = []byte("3 V1 N2 G0123\n1 :1.M1P2.host\n")
	f, errs = ProbeFolder(root, FolderDir{Name: Inbox}, known)
	if len(errs) > 0 || string(f.Files[1].Data) != string(known[1].Data) || f.UIDList == nil {
		t.Errorf("an unchanged file was read again: %q %v", f.Files[1].Data, errs)
	}
	if _, ok := f.UIDList.Lookup("1.M1P2.host"); !ok {
		t.Error("the uidlist is not parsed from the known bytes")
	}
	// Another mtime, or another size: read.
	write("dovecot-keywords", "0 $Junk\n1 $Work\n")
	known[1].Mtime++
	f, errs = ProbeFolder(root, FolderDir{Name: Inbox}, known)
	if len(errs) > 0 || string(f.Files[0].Data) != "0 $Junk\n1 $Work\n" || string(f.Files[1].Data) != "3 V1 N2 G0123\n1 :1.M1P1.host\n" {
		t.Errorf("changed files not read: %q %q %v", f.Files[0].Data, f.Files[1].Data, errs)
	}
}

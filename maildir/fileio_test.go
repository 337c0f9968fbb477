package maildir

import (
	"os"
	"syscall"
	"testing"
)

func TestOpenFileNoatimeRefused(t *testing.T) {
	// O_NOATIME on someone else's file fails with EPERM; the open must still work.
	const path = "/etc/passwd"
	fi, err := os.Stat(path)
	if err != nil || os.Geteuid() == 0 || fi.Sys().(*syscall.Stat_t).Uid == uint32(os.Geteuid()) {
		t.Skip("needs a readable file owned by another user")
	}
	f, _, err := openFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if oNOATIME != 0 && !noatimeRefused.Load() {
		t.Error("EPERM for O_NOATIME not remembered")
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/msg"
	data := []byte("Subject: x\n\nbody\n")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, st, err := readFile(path, 1<<20)
	if err != nil || string(got) != string(data) {
		t.Fatalf("readFile = %q, %v; want %q", got, err, data)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := statOf(fi); st != want {
		t.Errorf("stat %+v, want %+v as Lstat gives it", st, want)
	}
	if _, _, err := readFile(path, 4); err == nil {
		t.Error("a file over the limit was read")
	}
	if _, _, err := readFile(dir+"/gone", 1<<20); !notExist(err) {
		t.Errorf("missing file: %v, want a not-exist error", err)
	}
	if err := os.Symlink(path, dir+"/link"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readFile(dir+"/link", 1<<20); err == nil {
		t.Error("a symlink was followed")
	}
	if err := syscall.Mkfifo(dir+"/fifo", 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readFile(dir+"/fifo", 1<<20); err == nil {
		t.Error("a FIFO was read") // and the open did not block
	}
	empty := dir + "/empty"
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _, err := readFile(empty, 1<<20); err != nil || len(got) != 0 {
		t.Errorf("empty file: %q, %v", got, err)
	}
}

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

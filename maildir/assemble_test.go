package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openBatch(t *testing.T, folder string) *Target {
	t.Helper()
	tg, err := OpenTarget(folder, selfOwner())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	tg.Batch()
	return tg
}

// A message written in pieces, out of order and from several goroutines,
// is placed whole by CommitAll, with its time, and only then.
func TestAssembleOutOfOrder(t *testing.T) {
	a, b := newFolder(t), newFolder(t)
	ta, tb := openBatch(t, a), openBatch(t, b)
	msg := []byte("Subject: pieces\n\nfirst line\nsecond line\n")
	mtime := time.Date(2002, 3, 4, 5, 6, 7, 0, time.UTC).UnixNano()
	name := "1000.M1P1.host:2,S"
	asm, err := ta.Assemble("cur", name, int64(len(msg)), mtime)
	if err != nil {
		t.Fatal(err)
	}
	cuts := []int{0, 7, 16, 30, len(msg)}
	var wg sync.WaitGroup
	for i := len(cuts) - 2; i >= 0; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := asm.WriteAt(msg[cuts[i]:cuts[i+1]], int64(cuts[i])); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	empty, err := tb.Assemble("new", "2000.M2P2.host", 0, mtime)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Assembly{asm, empty} {
		if err := x.Done(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(a, "cur", name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("placed before CommitAll: %v", err)
	}
	for i, c := range CommitAll([]*Target{ta, tb}) {
		if c.Placed != 1 || c.Failed != nil || c.Err != nil {
			t.Errorf("target %d: %+v", i, c)
		}
	}
	p := filepath.Join(a, "cur", name)
	fi, err := os.Stat(p)
	if data, _ := os.ReadFile(p); err != nil || !bytes.Equal(data, msg) || fi.ModTime().UnixNano() != mtime {
		t.Fatalf("assembled file: %q %v %v", data, fi.ModTime(), err)
	}
	if fi, err := os.Stat(filepath.Join(b, "new", "2000.M2P2.host")); err != nil || fi.Size() != 0 {
		t.Fatalf("empty message: %v", err)
	}
	for _, f := range []string{a, b} {
		if left, _ := os.ReadDir(filepath.Join(f, "tmp")); len(left) != 0 {
			t.Errorf("%s/tmp holds %d files", f, len(left))
		}
	}
}

// A message not written whole, or given up, leaves nothing behind and its
// name free; a name whose S= disagrees, or one already there, is refused.
func TestAssembleRefuses(t *testing.T) {
	folder := newFolder(t)
	tg := openBatch(t, folder)
	short, err := tg.Assemble("cur", "1.M1P1.host:2,", 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := short.WriteAt([]byte("12345"), 0); err != nil {
		t.Fatal(err)
	}
	if err := short.WriteAt([]byte("123456"), 5); err == nil {
		t.Error("a piece past the end was written")
	}
	if err := short.Done(); err == nil {
		t.Error("Done of a message missing bytes succeeded")
	}
	given, err := tg.Assemble("cur", "2.M2P2.host:2,", 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	given.WriteAt([]byte("abc"), 0)
	given.Abort()
	if c := CommitAll([]*Target{tg}); c[0].Placed != 0 {
		t.Errorf("placed %d", c[0].Placed)
	}
	if left, _ := os.ReadDir(filepath.Join(folder, "tmp")); len(left) != 0 {
		t.Errorf("tmp/ holds %d files", len(left))
	}
	// Both names are free again.
	for _, n := range []string{"1.M1P1.host:2,S", "2.M2P2.host"} {
		if _, err := tg.Assemble("cur", n, 0, 0); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := tg.Assemble("cur", "3.M3P3.host,S=5:2,", 4, 0); err == nil {
		t.Error("S=5 with 4 bytes was accepted")
	}
	if err := DeliverFile(folder, "cur", "4.M4P4.host:2,S", []byte("x"), 0, selfOwner()); err != nil {
		t.Fatal(err)
	}
	again := openBatch(t, folder)
	if _, err := again.Assemble("new", "4.M4P4.host", 1, 0); !errors.Is(err, ErrExists) {
		t.Errorf("a base already in cur/: %v", err)
	}
	plain, err := OpenTarget(folder, selfOwner())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Assemble("cur", "5.M5P5.host", 1, 0); err == nil {
		t.Error("assembled outside a batch")
	}
}

// PutControl never replaces a control file, and SyncAll reports none.
func TestPutControl(t *testing.T) {
	folder := newFolder(t)
	tg := openBatch(t, folder)
	if err := tg.PutControl("dovecot-uidlist", []byte("3 V1 N1\n"), 0); err != nil {
		t.Fatal(err)
	}
	if err := tg.PutControl("dovecot-uidlist", []byte("other"), 0); !errors.Is(err, ErrExists) {
		t.Errorf("second PutControl: %v", err)
	}
	if err := tg.PutControl("../x", nil, 0); err == nil {
		t.Error("a name outside the folder was accepted")
	}
	if errs := SyncAll([]*Target{tg}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if data, _ := os.ReadFile(filepath.Join(folder, "dovecot-uidlist")); string(data) != "3 V1 N1\n" {
		t.Errorf("dovecot-uidlist = %q", data)
	}
}

// When cur/ is not empty at Commit (Dovecot delivered meanwhile), the
// staged messages are moved in one by one: the file already there is
// kept, a message whose name it took is refused, the rest are placed.
func TestAssembleIntoBusyFolder(t *testing.T) {
	folder := newFolder(t)
	tg := openBatch(t, folder)
	names := []string{"1.M1P1.host:2,S", "2.M2P2.host:2,"}
	for _, n := range names {
		a, err := tg.Assemble("cur", n, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.WriteAt([]byte("a\n"), 0); err != nil {
			t.Fatal(err)
		}
		if err := a.Done(); err != nil {
			t.Fatal(err)
		}
	}
	theirs := filepath.Join(folder, "cur", names[1])
	if err := os.WriteFile(theirs, []byte("theirs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := CommitAll([]*Target{tg})[0]
	if c.Placed != 1 || len(c.Failed) != 1 || !errors.Is(c.Failed[0], ErrExists) || c.Err != nil {
		t.Fatalf("CommitAll: %+v", c)
	}
	if data, _ := os.ReadFile(theirs); string(data) != "theirs\n" {
		t.Errorf("the file already there was replaced: %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(folder, "cur", names[0])); string(data) != "a\n" {
		t.Errorf("placed message: %q", data)
	}
	if left, _ := os.ReadDir(filepath.Join(folder, "tmp")); len(left) != 0 {
		t.Errorf("tmp/ holds %v", left)
	}
}

// The stage directory a dead process left in tmp/ (a restore killed
// before Commit) is removed by the next Target opened on the folder;
// nothing of it was ever in cur/.
func TestStaleStageRemoved(t *testing.T) {
	folder := newFolder(t)
	stage := fmt.Sprintf("%s%s.%d.1700000000.00ff", tempPrefix, thisHost(), deadPid(t))
	msg := filepath.Join(folder, "tmp", stage, "cur", "1.M1P1.host:2,S")
	if err := os.MkdirAll(filepath.Dir(msg), 0o700); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(folder, "tmp", stage, "new"), 0o700)
	if err := os.WriteFile(msg, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg, err := OpenTarget(folder, selfOwner())
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
	if left, _ := os.ReadDir(filepath.Join(folder, "tmp")); len(left) != 0 {
		t.Errorf("tmp/ still holds %v", left)
	}
}

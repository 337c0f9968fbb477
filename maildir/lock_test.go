package maildir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestLockUIDList(t *testing.T) {
	folder := newFolder(t)
	lockPath := filepath.Join(folder, "dovecot-uidlist.lock")
	l, err := LockUIDList(folder, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := LockUIDList(folder, 300*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Errorf("second lock: %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("second lock gave up after %s", waited)
	}
	if _, err := l.UIDList(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("UIDList of a folder without one: %v", err)
	}
	l.Release()
	l.Release() // idempotent
	if _, err := l.UIDList(); err == nil {
		t.Error("UIDList after Release accepted")
	}
	if _, err := os.Lstat(lockPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file after Release: %v", err)
	}

	// A waiter gets the lock once the holder lets go.
	l, err = LockUIDList(folder, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(200 * time.Millisecond); l.Release() }()
	l2, err := LockUIDList(folder, 5*time.Second)
	if err != nil {
		t.Fatalf("waiting for a released lock: %v", err)
	}
	l2.Release()
}

func TestLockUIDListStale(t *testing.T) {
	folder := newFolder(t)
	lockPath := filepath.Join(folder, "dovecot-uidlist.lock")
	os.WriteFile(lockPath, nil, 0o600)
	old := time.Now().Add(-staleLock - time.Second)
	os.Chtimes(lockPath, old, old)
	l, err := LockUIDList(folder, 0)
	if err != nil {
		t.Fatalf("stale lock not overridden: %v", err)
	}
	defer l.Release()
	// One just short of stale is respected.
	folder2 := newFolder(t)
	lockPath2 := filepath.Join(folder2, "dovecot-uidlist.lock")
	os.WriteFile(lockPath2, nil, 0o600)
	recent := time.Now().Add(-staleLock + 10*time.Second)
	os.Chtimes(lockPath2, recent, recent)
	if _, err := LockUIDList(folder2, 0); !errors.Is(err, ErrLocked) {
		t.Errorf("fresh lock overridden: %v", err)
	}
}

func TestUIDListLockCommit(t *testing.T) {
	folder := newFolder(t)
	o := selfOwner()
	if err := WriteControl(folder, "dovecot-uidlist", []byte(sampleUIDList), 0, o); err != nil {
		t.Fatal(err)
	}
	uidlist := filepath.Join(folder, "dovecot-uidlist")
	before, _ := os.Stat(uidlist)
	l, err := LockUIDList(folder, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	u, err := l.UIDList()
	if err != nil || u.NextUID != 5 {
		t.Fatalf("UIDList = %+v, %v", u, err)
	}
	uid, _ := u.Append("new.host,S=3:2,S")
	if err := l.Commit(u.Render(), o); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(uidlist)
	if err != nil || os.SameFile(before, after) {
		t.Error("dovecot-uidlist was not replaced by a new file")
	}
	if _, err := os.Lstat(uidlist + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file after Commit: %v", err)
	}
	data, _ := os.ReadFile(uidlist)
	got, err := ParseUIDList(data)
	if err != nil || got.NextUID != uid+1 || got.Records[len(got.Records)-1] != (UIDRecord{UID: uid, Base: "new.host,S=3"}) {
		t.Errorf("committed list: %q, %v", data, err)
	}
	if err := l.Commit(nil, o); err == nil {
		t.Error("second Commit accepted")
	}
	l.Release() // after Commit: no-op
	if _, err := os.Stat(uidlist); err != nil {
		t.Errorf("Release after Commit removed the uidlist: %v", err)
	}
}

func TestUIDListLockLost(t *testing.T) {
	folder := newFolder(t)
	l, err := LockUIDList(folder, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lockPath := filepath.Join(folder, "dovecot-uidlist.lock")
	os.Remove(lockPath) // as Dovecot would after taking it for stale
	os.WriteFile(lockPath, []byte("dovecot's"), 0o600)
	if err := l.Commit([]byte("3 V1 N1\n"), selfOwner()); err == nil {
		t.Error("Commit on a lost lock accepted")
	}
	if data, _ := os.ReadFile(lockPath); string(data) != "dovecot's" {
		t.Error("the other holder's lock file was touched")
	}
	if _, err := os.Stat(filepath.Join(folder, "dovecot-uidlist")); err == nil {
		t.Error("dovecot-uidlist written despite the lost lock")
	}
}

func TestUIDListLockKeywords(t *testing.T) {
	folder := newFolder(t)
	o := selfOwner()
	l, err := LockUIDList(folder, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if kw, err := l.Keywords(); err != nil || kw != nil {
		t.Errorf("Keywords without a file: %q, %v", kw, err)
	}
	merged, _, _ := MergeKeywords(nil, []string{"$Forwarded", "Junk"})
	if err := l.WriteKeywords(merged, o); err != nil {
		t.Fatal(err)
	}
	if kw, err := l.Keywords(); err != nil || !slices.Equal(kw, merged) {
		t.Errorf("Keywords after WriteKeywords: %q, %v", kw, err)
	}
	if _, err := os.Lstat(filepath.Join(folder, "dovecot-keywords.lock")); err == nil {
		t.Error("dovecot-keywords.lock left behind")
	}
	l.Release()
	if err := l.WriteKeywords(merged, o); err == nil {
		t.Error("WriteKeywords without the uidlist lock accepted")
	}
}

func TestUIDListLockKeptFresh(t *testing.T) {
	defer func(d time.Duration) { lockTouch = d }(lockTouch)
	lockTouch = 20 * time.Millisecond
	folder := newFolder(t)
	l, err := LockUIDList(folder, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	lockPath := filepath.Join(folder, "dovecot-uidlist.lock")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(lockPath, old, old)
	time.Sleep(100 * time.Millisecond)
	if fi, err := os.Stat(lockPath); err != nil || time.Since(fi.ModTime()) > time.Minute {
		t.Errorf("held lock not refreshed: %v, %v", fi.ModTime(), err)
	}
}

package repo

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
)

func TestInitRefusesForeignDirectories(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o600)
	if err := Init(dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Init on a non-empty directory: %v", err)
	}
	repo := filepath.Join(t.TempDir(), "r")
	if err := Init(repo); err != nil {
		t.Fatal(err)
	}
	if err := Init(repo); err != nil {
		t.Errorf("second Init: %v", err)
	}
	if fi, _ := os.Stat(repo); fi.Mode().Perm() != 0o700 {
		t.Errorf("repository mode %v, want 0700", fi.Mode().Perm())
	}
	os.WriteFile(filepath.Join(repo, versionFile), []byte("mailvault repository 9\n"), 0o600)
	if _, _, err := Open(repo, Options{}); err == nil || !strings.Contains(err.Error(), "unknown repository format") {
		t.Errorf("open of a newer format: %v", err)
	}
	if _, _, err := Open(dir, Options{}); !errors.Is(err, ErrNotRepository) {
		t.Errorf("open of a plain directory: %v", err)
	}
}

// writeArchive commits a small archive of one message into the repository.
func writeArchive(t *testing.T, l Layout, group, body string) string {
	t.Helper()
	now := time.Now()
	p, err := l.Create(ArchiveName(now, "mail1", group))
	if err != nil {
		t.Fatal(err)
	}
	w, err := archive.NewWriter(p, archive.Header{Version: 1, Created: now.UnixNano(), Server: "mail1", Group: group}, archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := archive.Hash(sha256.Sum256([]byte(body)))
	w.AddBlob(h, []byte(body))
	w.AddFolder(&archive.Folder{User: "u@example.org", Name: "INBOX", Messages: []archive.Message{{Subdir: "cur", Name: "1.M1P1.h:2,S", Size: int64(len(body)), Blob: h}}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	name, err := p.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func TestIndexFollowsArchives(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	Init(dir)
	l := Layout(dir)
	a1 := writeArchive(t, l, "staff", "first message")
	writeArchive(t, l, "user", "second message")
	if tmp, _ := os.ReadDir(l.Tmp()); len(tmp) != 0 {
		t.Errorf("tmp/ not empty after commits: %v", tmp)
	}
	r, problems, err := Open(dir, Options{})
	if err != nil || len(problems) != 0 {
		t.Fatal(err, problems)
	}
	if n := len(r.Archives()); n != 2 {
		t.Fatalf("%d archives indexed", n)
	}
	data, err := r.ReadBlob(sha256.Sum256([]byte("first message")))
	if err != nil || string(data) != "first message" {
		t.Fatalf("ReadBlob: %q %v", data, err)
	}
	// A private index while the shared one is held.
	r2, _, err := Open(dir, Options{Private: true})
	if err != nil || r2.Note == "" || len(r2.Archives()) != 2 {
		t.Fatalf("private open: %v %q", err, r2.Note)
	}
	r2.Close()
	r.Close()

	// An archive that vanished leaves the index; a damaged one is named and
	// left out, the rest still served.
	os.Remove(l.ArchivePath(a1))
	bad := l.ArchivePath(ArchiveName(time.Now(), "mail1", "bad"))
	os.WriteFile(bad, bytes.Repeat([]byte("garbage"), 100), 0o600)
	r, problems, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), filepath.Base(bad)) {
		t.Errorf("problems %v", problems)
	}
	if n := len(r.Archives()); n != 1 {
		t.Errorf("%d archives indexed after one vanished", n)
	}
	if _, err := r.ReadBlob(sha256.Sum256([]byte("first message"))); err == nil {
		t.Error("blob of a vanished archive still found")
	}
	// Without its index the repository comes back the same.
	r.Close()
	os.RemoveAll(l.Index())
	r, _, err = Open(dir, Options{})
	if err != nil || len(r.Archives()) != 1 {
		t.Fatalf("reopen without index: %v", err)
	}
	r.Close()
}

func TestGroupLockRefusesASecondRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	Init(dir)
	l := Layout(dir)
	k, err := l.LockGroup("mail1", "staff")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.LockGroup("mail1", "staff"); !errors.Is(err, ErrBusy) {
		t.Errorf("second lock: %v", err)
	}
	other, err := l.LockGroup("mail1", "user")
	if err != nil {
		t.Errorf("another group must not be blocked: %v", err)
	} else {
		other.Unlock()
	}
	k.Unlock()
	if k, err = l.LockGroup("mail1", "staff"); err != nil {
		t.Errorf("lock after unlock: %v", err)
	} else {
		k.Unlock()
	}
}

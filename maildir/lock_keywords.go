package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

const keywordsName = "dovecot-keywords"

// keywordsLockWait bounds the wait for dovecot-keywords.lock. Dovecot only
// takes it briefly, while it already holds the uidlist lock we hold.
const keywordsLockWait = 10 * time.Second

// Keywords reads dovecot-keywords as it is under the lock; a folder
// without one has no keywords.
func (l *UIDListLock) Keywords() ([]string, error) {
	if err := l.held(); err != nil {
		return nil, err
	}
	path := filepath.Join(l.dir.path, keywordsName)
	fd, err := unix.Openat(l.dir.fd, keywordsName, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data, err := readAll(f, fi.Size(), maxControlFile)
	if err != nil {
		return nil, err
	}
	kw, err := ParseKeywords(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kw, nil
}

// WriteKeywords replaces dovecot-keywords with kw. Dovecot changes that
// file only while holding the uidlist lock, and then through its own
// dotlock dovecot-keywords.lock renamed over the file; this does the same.
func (l *UIDListLock) WriteKeywords(kw []string, o Owner) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("%s: uidlist lock already released", filepath.Join(l.dir.path, keywordsName))
	}
	lockName := keywordsName + lockSuffix
	f, err := takeLock(l.dir, lockName, keywordsLockWait)
	if err != nil {
		return err
	}
	defer f.Close()
	// The owner line goes: the lock file becomes the new dovecot-keywords.
	if err := f.Truncate(0); err != nil {
		unix.Unlinkat(l.dir.fd, lockName, 0)
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		unix.Unlinkat(l.dir.fd, lockName, 0)
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	t := &tempFile{in: l.dir, name: lockName, f: f}
	if _, err := t.fill(bytes.NewReader(RenderKeywords(kw)), nowNano(), o); err != nil {
		unix.Unlinkat(l.dir.fd, lockName, 0)
		return err
	}
	if err := unix.Renameat(l.dir.fd, lockName, l.dir.fd, keywordsName); err != nil {
		unix.Unlinkat(l.dir.fd, lockName, 0)
		return &os.PathError{Op: "rename", Path: filepath.Join(l.dir.path, keywordsName), Err: err}
	}
	return l.dir.sync()
}

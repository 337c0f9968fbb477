package maildir

import (
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
// file only while holding the uidlist lock, and then under its own dotlock
// dovecot-keywords.lock; this takes that lock too and replaces the file
// as Commit does (replaceLocked).
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
	err = replaceLocked(l.dir, keywordsName, RenderKeywords(kw), o)
	unix.Unlinkat(l.dir.fd, lockName, 0)
	return err
}

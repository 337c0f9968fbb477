package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked means another process (Dovecot, most likely) held a folder's
// lock for longer than we were willing to wait.
var ErrLocked = errors.New("locked by another process")

const (
	uidListName = "dovecot-uidlist"
	lockSuffix  = ".lock"
	// staleLock is Dovecot's MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT: it
	// overrides a dovecot-uidlist.lock whose mtime is older. Dovecot writes
	// no pid into this lock (the lock file is the new uidlist), so for its
	// own locks age is all there is to go on. Ours hold "pid:host" until
	// the commit, as Dovecot's other dotlocks do, so that a lock left by a
	// killed restore is taken at once, by the next restore and by Dovecot
	// (file-dotlock.c reads that line and overrides a lock of a dead pid).
	staleLock = 2 * time.Minute
	lockRetry = 100 * time.Millisecond
)

// lockTouch is how often a held lock's mtime is refreshed, well within
// staleLock, so Dovecot never takes ours for stale. A var for tests.
var lockTouch = staleLock / 4

// UIDListLock is a held dovecot-uidlist.lock: Dovecot's dotlock, which it
// takes before it changes dovecot-uidlist or dovecot-keywords. One
// goroutine uses it; only its own toucher runs beside it.
type UIDListLock struct {
	mu   sync.Mutex    // guards the fields below against the toucher
	dir  dir           // the folder
	f    *os.File      // the lock file, created by us; nil once released
	ino  uint64        // of f, to tell that the lock is still ours
	done chan struct{} // closed when the lock ends, to stop the toucher; nil after
}

// LockUIDList takes the dotlock on folder/dovecot-uidlist, waiting up to
// timeout for a holder to release it (ErrLocked after that). A lock older
// than Dovecot's stale timeout of two minutes is removed and taken, as
// Dovecot would. While held, the lock's mtime is refreshed in the
// background; Commit or Release must end it.
func LockUIDList(folder string, timeout time.Duration) (*UIDListLock, error) {
	d, err := openDirPath(folder, nil)
	if err != nil {
		return nil, err
	}
	f, err := takeLock(d, uidListName+lockSuffix, timeout)
	if err != nil {
		d.close()
		return nil, err
	}
	l := &UIDListLock{dir: d, f: f, ino: inodeOf(f), done: make(chan struct{})}
	go l.keepFresh(l.done, lockTouch)
	return l, nil
}

// takeLock creates the lock file name in d with O_EXCL, retrying until
// timeout and overriding a stale lock.
func takeLock(d dir, name string, timeout time.Duration) (*os.File, error) {
	path := filepath.Join(d.path, name)
	deadline := time.Now().Add(timeout)
	for {
		fd, err := unix.Openat(d.fd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil {
			f := os.NewFile(uintptr(fd), path)
			f.WriteString(lockOwner()) // a lock without it is only less quickly found stale
			return f, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return nil, &os.PathError{Op: "lock", Path: path, Err: err}
		}
		if removeStale(d, name) {
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: %w (waited %s)", path, ErrLocked, timeout)
		}
		time.Sleep(lockRetry)
	}
}

// lockOwner is the line that names the holder of a lock, as Dovecot
// writes it into its dotlocks: "pid:host".
func lockOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%d:%s", os.Getpid(), host)
}

// removeStale removes the lock file if its mtime is older than staleLock,
// or if it names a process of this host that is gone. Two processes
// overriding the same stale lock at once could each remove the other's
// fresh one; Dovecot's dotlocks share that weakness.
func removeStale(d dir, name string) bool {
	var st unix.Stat_t
	if unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false // gone already: the next try takes it
	}
	if time.Since(time.Unix(st.Mtim.Unix())) < staleLock && !holderGone(d, name) {
		return false
	}
	var again unix.Stat_t
	if unix.Fstatat(d.fd, name, &again, unix.AT_SYMLINK_NOFOLLOW) != nil || again.Ino != st.Ino {
		return false // taken by another meanwhile
	}
	return unix.Unlinkat(d.fd, name, 0) == nil
}

// holderGone reports whether a lock file names ("pid:host") a process of
// this host that no longer runs.
func holderGone(d dir, name string) bool {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	var buf [512]byte
	n, _ := unix.Read(fd, buf[:])
	unix.Close(fd)
	if n <= 0 {
		return false
	}
	pidText, host, ok := strings.Cut(strings.TrimSuffix(string(buf[:n]), "\n"), ":")
	me, _ := os.Hostname()
	pid, err := strconv.Atoi(pidText)
	if !ok || host != me || err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return unix.Kill(pid, 0) == unix.ESRCH
}

// keepFresh touches the lock file until the lock ends.
func (l *UIDListLock) keepFresh(done <-chan struct{}, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			l.mu.Lock()
			if l.f != nil {
				now := unix.NsecToTimespec(time.Now().UnixNano())
				unix.UtimesNanoAt(l.dir.fd, uidListName+lockSuffix, []unix.Timespec{now, now}, unix.AT_SYMLINK_NOFOLLOW)
			}
			l.mu.Unlock()
		}
	}
}

// UIDList reads and parses dovecot-uidlist as it is under the lock. A
// folder without one gives an error wrapping fs.ErrNotExist; use
// NewUIDList then.
func (l *UIDListLock) UIDList() (*UIDList, error) {
	if err := l.held(); err != nil {
		return nil, err
	}
	path := filepath.Join(l.dir.path, uidListName)
	fd, err := unix.Openat(l.dir.fd, uidListName, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxControlFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxControlFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxControlFile)
	}
	u, err := ParseUIDList(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// held reports an error once the lock has ended: its folder descriptor is
// closed then and may name another file.
func (l *UIDListLock) held() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		return fmt.Errorf("%s: lock already released", filepath.Join(l.dir.path, uidListName+lockSuffix))
	}
	return nil
}

// Commit replaces dovecot-uidlist with data (see replaceLocked) and
// releases the lock. The new file gets o's owner and file mode. If the lock
// was taken from us (we were too slow and it went stale) nothing is written.
func (l *UIDListLock) Commit(data []byte, o Owner) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("%s: lock already released", filepath.Join(l.dir.path, uidListName+lockSuffix))
	}
	err := l.commit(data, o)
	l.releaseLocked()
	return err
}

func (l *UIDListLock) commit(data []byte, o Owner) error {
	lockName := uidListName + lockSuffix
	path := l.f.Name()
	var st unix.Stat_t
	if err := unix.Fstatat(l.dir.fd, lockName, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || uint64(st.Ino) != l.ino {
		l.f.Close()
		l.f = nil // not ours to remove any more
		return fmt.Errorf("%s: lock lost to another process; dovecot-uidlist left as it was", path)
	}
	return replaceLocked(l.dir, uidListName, data, o)
}

// replaceLocked replaces the file name in folder d with data, owned by o,
// while its lock is held. Dovecot renames its lock file over the file;
// we write the new file under tmp/ and rename that over it, and the lock
// goes after: a run killed at any point leaves the old file or the new
// one whole, and a lock that names a dead process, which the next run
// and Dovecot take over at once.
func replaceLocked(d dir, name string, data []byte, o Owner) error {
	scratch, err := d.open("tmp")
	if err != nil {
		return err
	}
	defer scratch.close()
	t, err := createTemp(scratch)
	if err != nil {
		return err
	}
	defer t.discard()
	if _, err := t.fill(bytes.NewReader(data), nowNano(), o); err != nil {
		return err
	}
	if err := unix.Renameat(scratch.fd, t.name, d.fd, name); err != nil {
		return &os.PathError{Op: "rename", Path: filepath.Join(d.path, name), Err: err}
	}
	return d.sync()
}

// Release gives up the lock without changing dovecot-uidlist. It is
// idempotent and safe after Commit.
func (l *UIDListLock) Release() {
	l.mu.Lock()
	l.releaseLocked()
	l.mu.Unlock()
}

// releaseLocked ends the lock; l.mu is held.
func (l *UIDListLock) releaseLocked() {
	if l.done == nil {
		return
	}
	close(l.done)
	l.done = nil
	if l.f != nil {
		var st unix.Stat_t
		lockName := uidListName + lockSuffix
		if unix.Fstatat(l.dir.fd, lockName, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && uint64(st.Ino) == l.ino {
			unix.Unlinkat(l.dir.fd, lockName, 0)
		}
		l.f.Close()
		l.f = nil
	}
	l.dir.close()
}

func inodeOf(f *os.File) uint64 {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return 0
	}
	return uint64(st.Ino)
}

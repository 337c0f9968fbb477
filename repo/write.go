package repo

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Pending is an archive file being written under tmp/. Commit moves it into
// archives/ once it is complete and on disk; until then no reader sees it.
// The file is flocked for as long as it is written, so that a file under
// tmp/ whose lock can be taken was left by a process that died (killed,
// or the machine went down) and can be removed (removeStalePending).
type Pending struct {
	*os.File
	l    Layout
	name string
}

// ArchiveName is the file name of the archive of one group of one run:
// snapshot time, server, group and a random tail, so names sort by time and
// never clash.
func ArchiveName(t time.Time, server, group string) string {
	var tail [4]byte
	rand.Read(tail[:])
	return fmt.Sprintf("%s-%s-%s-%s%s", t.UTC().Format("20060102T150405Z"), server, group, hex.EncodeToString(tail[:]), archiveExt)
}

// Create starts a new archive file.
func (l Layout) Create(name string) (*Pending, error) {
	if strings.ContainsRune(name, '/') || !strings.HasSuffix(name, archiveExt) {
		return nil, fmt.Errorf("bad archive name %q", name)
	}
	path := filepath.Join(l.Tmp(), name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create archive: %w", err)
	}
	// Between the create and the lock, a cleaner may take the file for a
	// dead one and remove it: then the name is ours no more.
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil && !stillAt(f, path) {
		err = fmt.Errorf("removed while being created")
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("cannot lock new archive %s: %w", path, err)
	}
	return &Pending{File: f, l: l, name: name}, nil
}

// stillAt reports whether path names the open file f.
func stillAt(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

// Commit syncs the file and renames it into archives/. The file stays
// open, and so locked, until it is in place.
func (p *Pending) Commit() (string, error) {
	if err := p.Sync(); err != nil {
		p.Abort()
		return "", fmt.Errorf("cannot sync archive %s: %w", p.name, err)
	}
	if err := os.Rename(p.File.Name(), p.l.ArchivePath(p.name)); err != nil {
		p.Abort()
		return "", fmt.Errorf("cannot move archive into place: %w", err)
	}
	if err := p.Close(); err != nil {
		return "", fmt.Errorf("cannot close archive %s: %w", p.name, err)
	}
	if err := syncDir(p.l.ArchivesDir()); err != nil {
		return "", fmt.Errorf("cannot sync %s: %w", p.l.ArchivesDir(), err)
	}
	return p.name, nil
}

// removeStalePending removes the archives that processes which died left
// half-written under tmp/: those whose lock can be taken. One still being
// written is locked by its writer and stays.
func (l Layout) removeStalePending() {
	entries, _ := os.ReadDir(l.Tmp())
	for _, e := range entries {
		// A folder spool is unlinked a moment after it is made; one still
		// named is a killed writer's, once it is older than that moment.
		if strings.HasPrefix(e.Name(), "folders-") {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Minute {
				os.Remove(filepath.Join(l.Tmp(), e.Name()))
			}
			continue
		}
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), archiveExt) {
			continue
		}
		path := filepath.Join(l.Tmp(), e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && stillAt(f, path) {
			os.Remove(path)
		}
		f.Close()
	}
}

// Abort removes the unfinished file.
func (p *Pending) Abort() {
	p.Close()
	os.Remove(p.File.Name())
}

// Lock is an exclusive lock on one server and group of a repository, so
// that two runs never back up the same group at once.
type Lock struct{ f, prune *os.File }

// ErrBusy means another run holds the lock.
var ErrBusy = fmt.Errorf("another backup of this group is running")

// LockGroup takes the lock of a server's group without waiting, and a
// share of the repository's prune lock (no prune runs beside a backup).
func (l Layout) LockGroup(server, group string) (*Lock, error) {
	prune, err := l.lockPrune(false)
	if err != nil {
		return nil, err
	}
	k, err := l.lockGroup(server, group)
	if err != nil {
		prune.Close()
		return nil, err
	}
	k.prune = prune
	return k, nil
}

func (l Layout) lockGroup(server, group string) (*Lock, error) {
	path := filepath.Join(l.Locks(), "backup-"+server+"-"+group+".lock")
	return lock(path, func() error { return fmt.Errorf("%w (server %s, group %s; lock %s)", ErrBusy, server, group, path) })
}

// LockHooks takes, without waiting, the lock that a backup running
// --pre-exec and --post-exec holds from its pre-exec to its post-exec, so
// that a second one never tears down the snapshot the first reads. The
// error when it is held wraps ErrBusy.
func (l Layout) LockHooks(server string) (*Lock, error) {
	path := filepath.Join(l.Locks(), "hooks-"+server+".lock")
	return lock(path, func() error {
		return busyError{fmt.Sprintf("another backup of server %s with --pre-exec or --post-exec is running (lock %s)", server, path)}
	})
}

// busyError is an ErrBusy with its own wording.
type busyError struct{ msg string }

func (e busyError) Error() string        { return e.msg }
func (e busyError) Is(target error) bool { return target == ErrBusy }

func lock(path string, busy func() error) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, busy()
		}
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (k *Lock) Unlock() {
	k.f.Close()
	if k.prune != nil {
		k.prune.Close()
	}
}

// AppendLog appends lines to the repository's backup log.
func (l Layout) AppendLog(lines ...string) error {
	var b strings.Builder
	for _, s := range lines {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return appendLocked(l.logPath(), []byte(b.String()))
}

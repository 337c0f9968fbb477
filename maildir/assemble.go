package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Assembly is a message file whose bytes arrive in pieces, in any order:
// a restore writes the parts of many messages in the order they lie in
// the archives, so that each compressed frame is decoded once. Done
// stages it like a batched Deliver, for Commit.
type Assembly struct {
	t     *Target
	to    dir
	path  string // where it goes, for errors
	name  string
	base  string
	size  int64
	mtime int64

	mu      sync.Mutex // guards all below
	temp    string     // its name in tmp/, once created
	written int64
	ended   bool
}

// Assemble claims name in subdir for a message of size bytes, for
// WriteAt. The Target must be in a batch (Batch). Its temp file is made
// by the first WriteAt, so that many writers make them at once.
func (t *Target) Assemble(subdir, name string, size, mtime int64) (*Assembly, error) {
	if err := t.checkName(subdir, name); err != nil {
		return nil, err
	}
	path := filepath.Join(t.dir.path, subdir, name)
	if s := ParseName(name).Size; s >= 0 && s != size {
		// Dovecot trusts S= and would serve a cut or padded message.
		return nil, fmt.Errorf("%s: name says S=%d but the message has %d bytes", path, s, size)
	}
	t.mu.Lock()
	batch := t.batch
	t.mu.Unlock()
	if !batch {
		return nil, fmt.Errorf("%s: assembled outside a batch", path)
	}
	base, err := t.claim(subdir, name)
	if err != nil {
		return nil, err
	}
	to := t.cur
	if subdir == "new" {
		to = t.new
	}
	return &Assembly{t: t, to: to, path: path, name: name, base: base, size: size, mtime: mtime}, nil
}

// WriteAt writes p at offset off of the message. Pieces must not overlap;
// it may be called from several goroutines.
func (a *Assembly) WriteAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > a.size {
		return fmt.Errorf("%s: %d bytes at offset %d of a message of %d", a.path, len(p), off, a.size)
	}
	fd, err := a.open()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for len(p) > 0 {
		n, err := unix.Pwrite(fd, p, off)
		if err != nil {
			return &os.PathError{Op: "write", Path: filepath.Join(a.t.tmp.path, a.temp), Err: err}
		}
		a.mu.Lock()
		a.written += int64(n)
		a.mu.Unlock()
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// open opens the temp file, creating it on first use, and returns its
// descriptor (raw: a restore opens one or two per message).
func (a *Assembly) open() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return -1, fmt.Errorf("%s: written after its end", a.path)
	}
	if a.temp != "" {
		fd, err := unix.Openat(a.t.tmp.fd, a.temp, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: filepath.Join(a.t.tmp.path, a.temp), Err: err}
		}
		return fd, nil
	}
	fd, name, err := createTempFD(a.t.tmp)
	if err != nil {
		return -1, err
	}
	if err := a.t.o.apply(fd, a.t.o.FileMode, filepath.Join(a.t.tmp.path, name)); err != nil {
		unix.Close(fd)
		unix.Unlinkat(a.t.tmp.fd, name, 0)
		return -1, err
	}
	a.temp = name
	return fd, nil
}

// Done ends a message whose every byte was written: it gets its times and
// waits in tmp/ for Commit.
func (a *Assembly) Done() error {
	if a.size == 0 {
		fd, err := a.open() // nothing was written: make the empty file
		if err != nil {
			a.Abort()
			return err
		}
		unix.Close(fd)
	}
	a.mu.Lock()
	written, ended := a.written, a.ended
	a.ended = true
	a.mu.Unlock()
	if ended {
		return fmt.Errorf("%s: assembled twice", a.path)
	}
	if written != a.size {
		a.abort()
		return fmt.Errorf("%s: %d of its %d bytes written", a.path, written, a.size)
	}
	ts := unix.NsecToTimespec(a.mtime)
	if err := unix.UtimesNanoAt(a.t.tmp.fd, a.temp, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		a.abort()
		return &os.PathError{Op: "utimes", Path: filepath.Join(a.t.tmp.path, a.temp), Err: err}
	}
	a.t.mu.Lock()
	a.t.staged = append(a.t.staged, staged{temp: a.temp, to: a.to, name: a.name})
	a.t.mu.Unlock()
	return nil
}

// Abort gives up the message: its temp file goes and its name is free.
func (a *Assembly) Abort() {
	a.mu.Lock()
	ended := a.ended
	a.ended = true
	a.mu.Unlock()
	if !ended {
		a.abort()
	}
}

func (a *Assembly) abort() {
	if a.temp != "" {
		unix.Unlinkat(a.t.tmp.fd, a.temp, 0)
	}
	a.t.release(a.base)
}

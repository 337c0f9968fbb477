package maildir

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Assembly is a message file whose bytes arrive in pieces, in any order:
// a restore writes the parts of many messages in the order they lie in
// the archives, so that each compressed frame is decoded once. It is
// written under its own name into the Target's staging directory (see
// stage), which Commit moves into place.
type Assembly struct {
	t     *Target
	st    *stage // where it is written
	sub   int    // 0: cur, 1: new
	path  string // where it goes, for errors
	name  string
	base  string
	size  int64
	mtime int64

	mu      sync.Mutex // guards all below
	buf     []byte     // the pieces so far, while held in memory (reserved from held)
	created bool       // the file is in the stage
	whole   bool       // the file holds every byte and its times: one write did it
	written int64
	ended   bool
}

// heldLimit bounds the bytes of messages held in memory until their last
// piece arrives, so that each is written with one write(2) instead of a
// reopen and pwrite(2) per piece. A message that does not fit is written
// piece by piece.
const heldLimit = 16 << 20

var held atomic.Int64 // bytes reserved by Assembly.buf, of all targets

// stage is a directory in the folder's tmp/ holding cur/ and new/ with
// the messages assembled since Batch, under their own names. Dovecot
// ignores it (tmp/ is no folder, and names starting with "." are not
// messages); Commit swaps its cur/ and new/ for the folder's empty ones,
// one rename each instead of one per message, so the folder shows all of
// them at once.
type stage struct {
	name string // in tmp/, a temp name that removeStaleTemps knows
	d    dir
	sub  [2]dir // cur/ and new/
	// creating serialises the creation of files in each of sub: the
	// kernel takes the directory's lock for each create anyway, and
	// writers waiting here sleep, where waiting for that lock spun (a
	// quarter of a restore's CPU on the bench store).
	creating [2]sync.Mutex
	open     int // Assemblies neither Done nor Aborted
	done     []*Assembly
}

// Assemble claims name in subdir for a message of size bytes, for
// WriteAt. The Target must be in a batch (Batch), and every Assembly
// Done or Aborted before the Commit that places it.
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
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stage == nil {
		if t.stage, err = t.makeStage(); err != nil {
			delete(t.bases, base)
			return nil, err
		}
	}
	t.stage.open++
	sub := 0
	if subdir == "new" {
		sub = 1
	}
	return &Assembly{t: t, st: t.stage, sub: sub, path: path, name: name, base: base, size: size, mtime: mtime}, nil
}

// makeStage creates the staging directory, its cur/ and new/ with the
// owner and mode of the folder's own, which they are to replace.
func (t *Target) makeStage() (*stage, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	s := &stage{name: fmt.Sprintf("%s%s.%d.%d.%s", tempPrefix, thisHost(), pid, time.Now().Unix(), hex.EncodeToString(rnd[:]))}
	if err := unix.Mkdirat(t.tmp.fd, s.name, 0o700); err != nil {
		return nil, &os.PathError{Op: "mkdir", Path: filepath.Join(t.tmp.path, s.name), Err: err}
	}
	var err error
	if s.d, err = t.tmp.open(s.name); err != nil {
		unix.Unlinkat(t.tmp.fd, s.name, unix.AT_REMOVEDIR)
		return nil, err
	}
	for i, like := range []dir{t.cur, t.new} {
		if s.sub[i], err = s.d.mkdirLike(filepath.Base(like.path), like); err != nil {
			s.remove(t.tmp)
			return nil, err
		}
	}
	return s, nil
}

// remove closes the stage and removes what is left of it.
func (s *stage) remove(tmp dir) {
	for i, name := range []string{"cur", "new"} {
		if s.sub[i].path != "" {
			s.sub[i].close()
			s.sub[i] = dir{}
			unix.Unlinkat(s.d.fd, name, unix.AT_REMOVEDIR)
		}
	}
	s.d.close()
	unix.Unlinkat(tmp.fd, s.name, unix.AT_REMOVEDIR)
}

// WriteAt writes p at offset off of the message. Pieces must not overlap;
// it may be called from several goroutines.
func (a *Assembly) WriteAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > a.size {
		return fmt.Errorf("%s: %d bytes at offset %d of a message of %d", a.path, len(p), off, a.size)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return fmt.Errorf("%s: written after its end", a.path)
	}
	if int64(len(p)) == a.size && !a.created {
		return a.writeWhole(p) // the usual case: one piece
	}
	if a.buf == nil && !a.created && held.Add(a.size) <= heldLimit {
		a.buf = make([]byte, a.size)
	} else if a.buf == nil && !a.created {
		held.Add(-a.size)
	}
	if a.buf != nil {
		copy(a.buf[off:], p)
		if a.written += int64(len(p)); a.written < a.size {
			return nil
		}
		buf := a.buf
		a.buf = nil
		held.Add(-a.size)
		a.written = 0
		return a.writeWhole(buf)
	}
	fd, err := a.open()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for len(p) > 0 {
		n, err := unix.Pwrite(fd, p, off)
		if err != nil {
			return &os.PathError{Op: "write", Path: a.stagePath(), Err: err}
		}
		a.written += int64(n)
		p, off = p[n:], off+int64(n)
	}
	return nil
}

func (a *Assembly) stagePath() string {
	return filepath.Join(a.st.sub[a.sub].path, a.name)
}

// writeWhole makes the file with all its bytes and its times. a.mu is held.
func (a *Assembly) writeWhole(p []byte) error {
	fd, err := a.open()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if err != nil {
			return &os.PathError{Op: "write", Path: a.stagePath(), Err: err}
		}
		a.written += int64(n)
		p = p[n:]
	}
	if err := futimens(fd, a.mtime); err != nil {
		return &os.PathError{Op: "utimes", Path: a.stagePath(), Err: err}
	}
	a.whole = true
	return nil
}

// open opens the message's file in the stage, creating it on first use
// with its owner and mode, and returns its descriptor (raw: a restore
// opens one per message). a.mu is held.
func (a *Assembly) open() (int, error) {
	d := a.st.sub[a.sub]
	if a.created {
		fd, err := unix.Openat(d.fd, a.name, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: a.stagePath(), Err: err}
		}
		return fd, nil
	}
	mode := a.t.o.FileMode
	a.st.creating[a.sub].Lock()
	fd, err := unix.Openat(d.fd, a.name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode.Perm()))
	a.st.creating[a.sub].Unlock()
	if err != nil {
		return -1, &os.PathError{Op: "create", Path: a.stagePath(), Err: err}
	}
	if err := a.t.o.applyNew(fd, mode, a.stagePath()); err != nil {
		unix.Close(fd)
		unix.Unlinkat(d.fd, a.name, 0)
		return -1, err
	}
	a.created = true
	return fd, nil
}

// Done ends a message whose every byte was written: it gets its times and
// waits in the stage for Commit.
func (a *Assembly) Done() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return fmt.Errorf("%s: assembled twice", a.path)
	}
	if a.size == 0 && !a.created {
		if err := a.writeWhole(nil); err != nil { // nothing was written: make the empty file
			a.abort()
			return err
		}
	}
	if a.written != a.size {
		a.abort()
		return fmt.Errorf("%s: %d of its %d bytes written", a.path, a.written, a.size)
	}
	if !a.whole {
		ts := unix.NsecToTimespec(a.mtime)
		if err := unix.UtimesNanoAt(a.st.sub[a.sub].fd, a.name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			a.abort()
			return &os.PathError{Op: "utimes", Path: a.stagePath(), Err: err}
		}
	}
	a.ended = true
	a.t.mu.Lock()
	a.st.open--
	a.st.done = append(a.st.done, a)
	a.t.mu.Unlock()
	return nil
}

// Abort gives up the message: its file goes and its name is free.
func (a *Assembly) Abort() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ended {
		a.abort()
	}
}

// abort is Abort with a.mu held.
func (a *Assembly) abort() {
	a.ended = true
	if a.buf != nil {
		a.buf = nil
		held.Add(-a.size)
	}
	if a.created {
		unix.Unlinkat(a.st.sub[a.sub].fd, a.name, 0)
	}
	a.t.mu.Lock()
	a.st.open--
	a.t.mu.Unlock()
	a.t.release(a.base)
}

// commitStage moves the stage's messages into place, the Target's sync
// before having succeeded. Each of the stage's cur/ and new/ replaces the
// folder's own if that is empty (rename(2) replaces only an empty
// directory, atomically), else its files are moved one by one, never
// replacing one. It returns how many were placed and the errors of the
// others.
func (t *Target) commitStage(s *stage) (placed int, failed []error) {
	swapped := [2]bool{}
	for i, name := range []string{"cur", "new"} {
		n := 0
		for _, a := range s.done {
			if a.sub == i {
				n++
			}
		}
		if n == 0 || s.open > 0 {
			continue // an unfinished message must not show: one by one
		}
		if err := unix.Renameat(s.d.fd, name, t.dir.fd, name); err != nil {
			continue // not empty (Dovecot delivered meanwhile), or not possible here
		}
		swapped[i] = true
		placed += n
		// The folder's directory is the stage's now: keep its descriptor.
		old := &t.cur
		if i == 1 {
			old = &t.new
		}
		old.close()
		*old = dir{fd: s.sub[i].fd, path: old.path}
		s.sub[i] = dir{}
	}
	for _, a := range s.done {
		if swapped[a.sub] {
			continue
		}
		to := t.cur
		if a.sub == 1 {
			to = t.new
		}
		err := moveNoReplace(s.sub[a.sub], a.name, to, a.name)
		switch {
		case err == nil:
			placed++
			continue
		case errors.Is(err, unix.EEXIST):
			err = fmt.Errorf("%s: %w", filepath.Join(to.path, a.name), ErrExists)
		default:
			err = &os.PathError{Op: "rename", Path: filepath.Join(to.path, a.name), Err: err}
		}
		unix.Unlinkat(s.sub[a.sub].fd, a.name, 0)
		failed = append(failed, err)
	}
	return placed, failed
}

// dropStage removes the stage's messages (its sync failed: their bytes
// may not be on disk) and returns the error of each.
func dropStage(s *stage, cause error) (failed []error) {
	for _, a := range s.done {
		unix.Unlinkat(s.sub[a.sub].fd, a.name, 0)
		failed = append(failed, cause)
	}
	return failed
}

// futimens sets the atime and mtime (unix ns) of an open file: no path
// is looked up again.
func futimens(fd int, mtime int64) error {
	ts := [2]unix.Timespec{unix.NsecToTimespec(mtime), unix.NsecToTimespec(mtime)}
	// utimensat(2) with a NULL path is futimens(3).
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

package maildir

import (
	"crypto/rand"
	"encoding/hex"
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

// tempFile is a file being written in a scratch directory (a folder's tmp/)
// under a unique name, before it is moved to its real name.
type tempFile struct {
	in   dir
	name string
	f    *os.File
	kept bool // moved, or left in place for a later move (Target.Batch): discard keeps it
}

// createTemp creates a new file in d that nothing else can have opened:
// O_EXCL and O_NOFOLLOW, so neither an existing file nor a planted symlink
// is written through.
func createTemp(d dir) (*tempFile, error) {
	fd, name, err := createTempFD(d)
	if err != nil {
		return nil, err
	}
	return &tempFile{in: d, name: name, f: os.NewFile(uintptr(fd), filepath.Join(d.path, name))}, nil
}

// createTempFD is createTemp without the os.File.
func createTempFD(d dir) (int, string, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	// Dovecot ignores names starting with "." in tmp/ as elsewhere, and
	// cleans tmp/ of files unused for 36 hours should we crash; the next
	// Target opened on the folder removes them sooner (removeStaleTemps).
	name := fmt.Sprintf("%s%s.%d.%d.%s", tempPrefix, thisHost(), pid, time.Now().Unix(), hex.EncodeToString(rnd[:]))
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return -1, "", &os.PathError{Op: "create", Path: filepath.Join(d.path, name), Err: err}
	}
	return fd, name, nil
}

var pid = os.Getpid()

const tempPrefix = ".mailvault."

// thisHost is the host name as it goes into temp file names, looked up
// once: a restore makes a temp file per message.
var thisHost = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return strings.NewReplacer("/", "_", "\x00", "_").Replace(h)
})

// removeStaleTemps removes the temp files and stage directories in d (a
// folder's tmp/) that a process of this host left when it died: one
// killed while writing a message, before the message was moved into
// place. Files of live
// processes and of other hosts (a store shared over NFS) are left.
func removeStaleTemps(d dir) {
	names, err := d.names()
	if err != nil {
		return
	}
	host := thisHost()
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, tempPrefix)
		if !ok {
			continue
		}
		// <host>.<pid>.<time>.<random>; the host may hold dots.
		f := strings.Split(rest, ".")
		if len(f) < 4 || strings.Join(f[:len(f)-3], ".") != host {
			continue
		}
		pid, err := strconv.Atoi(f[len(f)-3])
		if err != nil || pid <= 0 || pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		d.removeTree(n) // a temp file, or a restore's stage (see Assembly)
	}
}

// fill writes r into the file, makes it durable and gives it owner o,
// o.FileMode and times (mtime in unix ns, used for atime too). It returns the
// number of bytes written.
func (t *tempFile) fill(r io.Reader, mtime int64, o Owner) (int64, error) {
	return t.write(r, mtime, o, true)
}

// write is fill, with the sync left to the caller when durable is false.
func (t *tempFile) write(r io.Reader, mtime int64, o Owner, durable bool) (int64, error) {
	n, err := io.Copy(t.f, r)
	if err != nil {
		return n, fmt.Errorf("%s: %w", t.f.Name(), err)
	}
	if err := o.apply(int(t.f.Fd()), o.FileMode, t.f.Name()); err != nil {
		return n, err
	}
	if durable {
		if err := t.f.Sync(); err != nil {
			return n, err
		}
	}
	ts := unix.NsecToTimespec(mtime)
	if err := unix.UtimesNanoAt(t.in.fd, t.name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return n, &os.PathError{Op: "utimes", Path: t.f.Name(), Err: err}
	}
	return n, nil
}

// place moves the file to name in d, never replacing a file there: a taken
// name is ErrExists. The temp file is gone afterwards either way. The
// rename is made durable by a sync of d, now or (syncLater) by the caller.
func (t *tempFile) place(d dir, name string, syncLater bool) error {
	err := moveNoReplace(t.in, t.name, d, name)
	if err == nil {
		t.kept = true // nothing left to remove
		if syncLater {
			return nil
		}
		return d.sync()
	}
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s: %w", filepath.Join(d.path, name), ErrExists)
	}
	return &os.PathError{Op: "rename", Path: filepath.Join(d.path, name), Err: err}
}

// discard closes the file and removes its temp name if still there. It is
// safe after place.
func (t *tempFile) discard() {
	t.f.Close()
	if !t.kept {
		unix.Unlinkat(t.in.fd, t.name, 0) // gone already after a successful place
	}
}

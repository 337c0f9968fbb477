package maildir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Owner is who owns a store's files and with which modes. Everything the
// writing side creates is given this owner and these exact modes (not
// narrowed by the umask), so a restore run as root leaves no root-owned file
// in a user's Maildir.
type Owner struct {
	UID, GID          int
	DirMode, FileMode os.FileMode // permission bits; DirMode may carry os.ModeSetgid
}

// Dovecot's defaults for a mail directory it creates from nothing.
const (
	defaultDirMode  = 0o700
	defaultFileMode = 0o600
)

// OwnerOf returns the owner of the nearest existing directory at or above
// path: a user's Maildir root, or the store root when the user is new.
//
// Modes follow Dovecot: when path itself exists, new directories get its
// permission bits (and setgid bit) and new files the same without the x
// bits, as Dovecot derives a mailbox's permissions from its root directory;
// when only an ancestor exists, they are Dovecot's defaults 0700 and 0600,
// since the ancestor's modes (a store root's 0755, say) say nothing of a
// user's mail.
//
// A root-owned directory is refused: Dovecot never runs mail processes as
// root, so root is never a mail owner and the caller must say who is.
func OwnerOf(path string) (Owner, error) {
	p := filepath.Clean(path)
	for {
		fi, err := os.Lstat(p)
		if err == nil {
			// The writing side refuses a symlink anywhere on the way; say
			// so here, rather than report the owner of what it points at.
			if err := symlinkOnPath(p); err != nil {
				return Owner{}, err
			}
			return ownerFrom(p, fi, p == filepath.Clean(path))
		}
		if !notExist(err) {
			return Owner{}, err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return Owner{}, fmt.Errorf("%s: no directory on the way exists", path)
		}
		p = parent
	}
}

func ownerFrom(p string, fi fs.FileInfo, exact bool) (Owner, error) {
	if !fi.IsDir() {
		return Owner{}, fmt.Errorf("%s: not a directory (%s)", p, fi.Mode().Type())
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Owner{}, fmt.Errorf("%s: no owner known", p)
	}
	if st.Uid == 0 {
		return Owner{}, fmt.Errorf("%s: owned by root, which is never Dovecot's mail user\nhint: give the owner (uid and gid of the mail user) explicitly", p)
	}
	o := Owner{UID: int(st.Uid), GID: int(st.Gid), DirMode: defaultDirMode, FileMode: defaultFileMode}
	if exact {
		o.DirMode = fi.Mode().Perm() | fi.Mode()&os.ModeSetgid
		o.FileMode = fi.Mode().Perm() &^ 0o111
	}
	return o, nil
}

// apply gives the open file fd the owner and the mode (os.FileMode bits).
// The chown comes first: it may clear a setgid bit set before it.
func (o Owner) apply(fd int, mode os.FileMode, path string) error {
	if err := unix.Fchown(fd, o.UID, o.GID); err != nil {
		return &os.PathError{Op: "chown", Path: path, Err: err}
	}
	m := uint32(mode.Perm())
	if mode&os.ModeSetgid != 0 {
		m |= unix.S_ISGID
	}
	if err := unix.Fchmod(fd, m); err != nil {
		return &os.PathError{Op: "chmod", Path: path, Err: err}
	}
	return nil
}

// applyNew is apply for a file just created with mode: the chmod is left
// out when the umask let the mode through (the restore's usual case).
func (o Owner) applyNew(fd int, mode os.FileMode, path string) error {
	if mode&os.ModeSetgid != 0 || mode.Perm()&^umask() != mode.Perm() {
		return o.apply(fd, mode, path)
	}
	if err := unix.Fchown(fd, o.UID, o.GID); err != nil {
		return &os.PathError{Op: "chown", Path: path, Err: err}
	}
	return nil
}

// umask is the process's umask, read once from /proc (setting it to read
// it would race with files created meanwhile); all bits if unknown, so
// that applyNew always chmods. mailvault sets it once, before it writes.
var umask = sync.OnceValue(func() os.FileMode {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o777
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return os.FileMode(m) & 0o777
			}
		}
	}
	return 0o777
})

// symlinkOnPath returns an error naming the first symlink on the path p,
// checked one component at a time from the root.
func symlinkOnPath(p string) error {
	abs, err := filepath.Abs(p)
	if err != nil {
		return err
	}
	at := "/"
	for _, c := range strings.Split(abs, "/") {
		if c == "" {
			continue
		}
		at = filepath.Join(at, c)
		fi, err := os.Lstat(at)
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s: is a symlink, which is not followed when writing", at)
		}
	}
	return nil
}

package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// dir is an open directory. Everything the writing side does goes through
// the descriptor (openat, mkdirat, renameat …), never through a path again,
// so a directory swapped for a symlink halfway through cannot redirect a
// write as root to somewhere outside the store.
type dir struct {
	fd   int
	path string // for error messages only
}

// openDirPath opens a directory one path component at a time from "/",
// refusing to follow a symlink anywhere on the way. With mk set, missing
// components are created with mk's owner and mode.
func openDirPath(path string, mk *Owner) (dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return dir{}, fmt.Errorf("%s: %w", path, err)
	}
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return dir{}, fmt.Errorf("/: %w", err)
	}
	d := dir{fd: fd, path: "/"}
	for _, c := range strings.Split(abs, "/") {
		if c == "" {
			continue
		}
		var next dir
		if mk != nil {
			next, _, err = d.mkdir(c, *mk)
		} else {
			next, err = d.open(c)
		}
		d.close()
		if err != nil {
			return dir{}, err
		}
		d = next
	}
	return d, nil
}

// open opens the directory name inside d without following a symlink.
func (d dir) open(name string) (dir, error) {
	p := filepath.Join(d.path, name)
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return dir{}, fmt.Errorf("%s: is a symlink, which is not followed when writing", p)
		}
		return dir{}, fmt.Errorf("%s: not a directory", p)
	}
	if err != nil {
		return dir{}, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return dir{fd: fd, path: p}, nil
}

// mkdir opens the directory name inside d, first creating it owned by o if
// it is missing. created reports whether it was. A directory that a killed
// run created but never gave its owner (cutShortDir) gets it now.
func (d dir) mkdir(name string, o Owner) (sub dir, created bool, err error) {
	err = unix.Mkdirat(d.fd, name, 0o700) // o's mode is set once it is ours
	switch {
	case err == nil:
		created = true
	case !errors.Is(err, unix.EEXIST):
		return dir{}, false, &os.PathError{Op: "mkdir", Path: filepath.Join(d.path, name), Err: err}
	}
	sub, err = d.open(name)
	if err != nil {
		return dir{}, false, err
	}
	if created || d.cutShortDir(sub, o) {
		if err := o.apply(sub.fd, o.DirMode, sub.path); err != nil {
			sub.close()
			return dir{}, false, err
		}
	}
	return sub, created, nil
}

// cutShortDir reports whether sub, an existing directory in d, is one that
// mkdir created and was killed before it gave it o's owner and mode: owned
// by us rather than o, mode 0700, empty, in a directory that o owns. Such
// a directory is useless to Dovecot, which runs as o.
func (d dir) cutShortDir(sub dir, o Owner) bool {
	var st, parent unix.Stat_t
	if unix.Fstat(sub.fd, &st) != nil || unix.Fstat(d.fd, &parent) != nil {
		return false
	}
	if int(st.Uid) != os.Geteuid() || int(st.Uid) == o.UID || st.Mode&0o7777 != 0o700 || int(parent.Uid) != o.UID {
		return false
	}
	names, err := sub.names()
	return err == nil && len(names) == 0
}

// exists reports whether d has an entry name (of any type, not followed).
func (d dir) exists(name string) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "stat", Path: filepath.Join(d.path, name), Err: err}
	}
	return true, nil
}

// names lists the entries of d.
func (d dir) names() ([]string, error) {
	fd, err := unix.Dup(d.fd) // os.File takes ownership of its descriptor
	if err != nil {
		return nil, &os.PathError{Op: "dup", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	if _, err := f.Seek(0, 0); err != nil { // a dup shares the read offset
		return nil, err
	}
	return f.Readdirnames(-1)
}

// sync flushes d's entries, so a rename or link survives a crash.
func (d dir) sync() error {
	if err := unix.Fsync(d.fd); err != nil {
		return &os.PathError{Op: "fsync", Path: d.path, Err: err}
	}
	return nil
}

func (d dir) close() {
	if d.path != "" { // the zero dir holds no descriptor
		unix.Close(d.fd)
	}
}

// mkdirLike creates the directory name inside d with the owner and mode
// of like, and opens it.
func (d dir) mkdirLike(name string, like dir) (dir, error) {
	var st unix.Stat_t
	if err := unix.Fstat(like.fd, &st); err != nil {
		return dir{}, &os.PathError{Op: "fstat", Path: like.path, Err: err}
	}
	p := filepath.Join(d.path, name)
	if err := unix.Mkdirat(d.fd, name, 0o700); err != nil {
		return dir{}, &os.PathError{Op: "mkdir", Path: p, Err: err}
	}
	sub, err := d.open(name)
	if err == nil {
		err = unix.Fchown(sub.fd, int(st.Uid), int(st.Gid))
		if err == nil {
			err = unix.Fchmod(sub.fd, st.Mode&0o7777)
		}
		if err != nil {
			sub.close()
			err = &os.PathError{Op: "chown", Path: p, Err: err}
		}
	}
	if err != nil {
		unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
		return dir{}, err
	}
	return sub, nil
}

// removeTree removes name in d and, if it is a directory, everything in
// it, never following a symlink.
func (d dir) removeTree(name string) {
	if err := unix.Unlinkat(d.fd, name, 0); err == nil || !errors.Is(err, unix.EISDIR) {
		return
	}
	sub, err := d.open(name)
	if err != nil {
		return
	}
	names, _ := sub.names()
	for _, n := range names {
		sub.removeTree(n)
	}
	sub.close()
	unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
}

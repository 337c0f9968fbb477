package maildir

import (
	"fmt"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// readFile reads a whole file as openFile and readAll do, but on the bare
// descriptor: an os.File costs a netpoller registration that fails for a
// regular file (an epoll_ctl) and a finalizer, per message.
func readFile(path string, limit int64) ([]byte, fileStat, error) {
	const base = syscall.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	flags := base
	if !noatimeRefused.Load() {
		flags |= oNOATIME
	}
	fd, err := openRetry(path, flags)
	if flags != base && err == syscall.EPERM {
		noatimeRefused.Store(true)
		fd, err = openRetry(path, base)
	}
	if err != nil {
		return nil, fileStat{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var sys syscall.Stat_t
	if err := syscall.Fstat(fd, &sys); err != nil {
		return nil, fileStat{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	st := statOfSys(&sys)
	if st.mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fileStat{}, fmt.Errorf("%s: not a regular file (%s)", path, modeType(st.mode))
	}
	hint := max(0, min(st.size, limit))
	buf := make([]byte, 0, hint+1) // +1 so a file that has not grown ends without a realloc
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		want := cap(buf) - len(buf)
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fileStat{}, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, fileStat{}, fmt.Errorf("%s: larger than %d bytes", path, limit)
		}
		// A short read that ends at the size fstat gave is the end: a
		// file appended to since would have filled the extra byte. This
		// saves the read that returns 0.
		if n == 0 || n < want && int64(len(buf)) == st.size {
			return buf, st, nil
		}
	}
}

func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(path, flags, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// modeType is the fs.FileMode type bits of an st_mode, for messages.
func modeType(mode uint32) fs.FileMode {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		return fs.ModeDevice
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

// statOfSys is statOf of a bare fstat result.
func statOfSys(sys *syscall.Stat_t) fileStat {
	return fileStat{
		mode: sys.Mode, uid: sys.Uid, gid: sys.Gid, nlink: uint32(sys.Nlink),
		dev: sys.Dev, ino: sys.Ino, size: sys.Size, mtime: sys.Mtim.Nano(),
	}
}

// willRead asks the kernel to read a file into the page cache in the
// background.
func willRead(path string) {
	flags := syscall.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	if !noatimeRefused.Load() {
		flags |= oNOATIME
	}
	fd, err := openRetry(path, flags)
	if err != nil {
		return // the read will say why
	}
	unix.Fadvise(fd, 0, 0, unix.FADV_WILLNEED)
	syscall.Close(fd)
}

package maildir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
)

// notExist reports whether err means the path is not there, including a
// path that runs through a file where a directory was expected.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// noatimeRefused is set once O_NOATIME has been refused (it needs the file's
// owner or CAP_FOWNER), so later opens do not pay for a failed attempt.
var noatimeRefused atomic.Bool

// openFile opens path for reading without following a symlink, without
// blocking on a FIFO, and without touching atime where allowed. The result
// is a regular file or an error.
func openFile(path string) (*os.File, fs.FileInfo, error) {
	const base = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	flags := base
	if !noatimeRefused.Load() {
		flags |= oNOATIME
	}
	f, err := os.OpenFile(path, flags, 0)
	if flags != base && errors.Is(err, syscall.EPERM) {
		noatimeRefused.Store(true)
		f, err = os.OpenFile(path, base, 0)
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file (%s)", path, fi.Mode().Type())
	}
	return f, fi, nil
}

// readAll reads f to the end. The size from fstat only sizes the buffer: a
// file still being appended to is read whole. It gives up past limit bytes.
func readAll(f *os.File, hint, limit int64) ([]byte, error) {
	hint = max(0, min(hint, limit))
	buf := make([]byte, 0, hint+1) // +1 so a file that has not grown ends without a realloc
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("%s: larger than %d bytes", f.Name(), limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// fileStat is what a backup keeps of a file's inode.
type fileStat struct {
	mode, uid, gid, nlink uint32
	dev, ino              uint64
	size, mtime           int64
}

// statOf extracts fileStat from an Lstat or fstat result. mode is st_mode as
// stat(2) gives it: file type and permission bits.
func statOf(fi fs.FileInfo) fileStat {
	st := fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.mode = uint32(sys.Mode)
		st.uid, st.gid = sys.Uid, sys.Gid
		st.nlink = uint32(sys.Nlink)
		st.dev, st.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return st
}

package archive

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// folderSpool keeps encoded folder records in an unlinked temporary file,
// so that memory stays flat however many messages a run lists.
type folderSpool struct {
	f *os.File
	w *bufio.Writer
}

func newFolderSpool(dir string) (*folderSpool, error) {
	f, err := openUnnamed(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot create a folder spool: %w", err)
	}
	return &folderSpool{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// openUnnamed opens a file in dir that has no name, so that nothing is
// left behind however the process ends: O_TMPFILE where the file system
// has it, else a temporary name removed at once (a kill in between leaves
// a "folders-*" file, which repo removes when it is old).
func openUnnamed(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), dir+"/(folder spool)"), nil
	}
	f, err := os.CreateTemp(dir, "folders-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

func (s *folderSpool) add(payload []byte) error {
	var n [binary.MaxVarintLen64]byte
	s.w.Write(n[:binary.PutUvarint(n[:], uint64(len(payload)))])
	if _, err := s.w.Write(payload); err != nil {
		return fmt.Errorf("folder spool: %w", err)
	}
	return nil
}

// each calls fn with every record in the order added; the slice is reused.
func (s *folderSpool) each(fn func(payload []byte) error) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("folder spool: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("folder spool: %w", err)
	}
	r := bufio.NewReaderSize(s.f, 1<<20)
	var buf []byte
	for {
		n, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("folder spool: %w", err)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("folder spool: %w", err)
		}
		if err := fn(buf); err != nil {
			return err
		}
	}
}

func (s *folderSpool) close() { s.f.Close() }

package archive

import (
	"fmt"
	"os"
)

// Opened is an archive opened from a path.
type Opened struct {
	*Reader
	f *os.File
}

// OpenFile opens the archive file at path for random access.
func OpenFile(path string) (*Opened, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := Open(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Opened{Reader: r, f: f}, nil
}

// Size is the file's size in bytes.
func (f *Opened) Size() int64 {
	st, err := f.f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// Close closes the file.
func (f *Opened) Close() error { return f.f.Close() }

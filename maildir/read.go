package maildir

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrVanished means a message file or a folder is gone for good: expunged
// or deleted since it was listed. That is no lost mail, only a store that
// moved on.
var ErrVanished = errors.New("vanished")

// relookTries bounds how often a message renamed again and again while we
// look for it is looked up: Dovecot renames a file once per flag change, so
// a few tries find it unless it is gone.
const relookTries = 5

// maxMessage bounds one message read into memory.
const maxMessage = 1 << 40

// ReadMessage reads one message file of the folder. It opens without
// following symlinks or updating atime, and reads to the end whatever the
// size was at the scan.
//
// Dovecot renames a file when its flags change and moves it from new/ to cur/
// when a client sees it; the base stays. So if the file is gone, ReadMessage
// looks for the base in cur/ and new/ and reads that file instead; the
// MessageFile returned describes the file read. If the base is nowhere the
// error wraps ErrVanished. ReadMessage may be called from several goroutines.
func (f *Folder) ReadMessage(m MessageFile) ([]byte, MessageFile, error) {
	if m.Subdir != "cur" && m.Subdir != "new" || !safeName(m.Name) {
		return nil, m, fmt.Errorf("folder %s: %q/%q is not a message file name", f.Path, m.Subdir, m.Name)
	}
	first := m
	data, got, err := f.read(m)
	for try := 0; try < relookTries && notExist(err); try++ {
		next, ok := f.relook.find(f.Path, baseOf(first.Name), m)
		if !ok {
			break
		}
		next.UID = first.UID
		m = next
		data, got, err = f.read(m)
	}
	if notExist(err) {
		return nil, first, fmt.Errorf("message %s: %w: expunged since the scan", filepath.Join(f.Path, first.Subdir, first.Name), ErrVanished)
	}
	return data, got, err
}

// safeName reports whether name is one directory entry, so that joining it
// to a directory cannot leave that directory.
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

func (f *Folder) read(m MessageFile) ([]byte, MessageFile, error) {
	data, st, err := readFile(filepath.Join(f.Path, m.Subdir, m.Name), maxMessage)
	if err != nil {
		return nil, m, err
	}
	got := messageFileOf(m.Subdir, m.Name, st)
	got.UID = m.UID
	return data, got, nil
}

// WillRead asks the kernel to read the message files ms into the page
// cache in the background, in order, up to about limit bytes, for a
// reader that comes to them soon: small files read one folder at a time
// leave the disk idle between folders, while these reads overlap. It
// returns the bytes asked for.
func (f *Folder) WillRead(ms []MessageFile, limit int64) int64 {
	var n int64
	for _, m := range ms {
		if n >= limit {
			break
		}
		if (m.Subdir == "cur" || m.Subdir == "new") && safeName(m.Name) {
			willRead(filepath.Join(f.Path, m.Subdir, m.Name))
			n += m.Size
		}
	}
	return n
}

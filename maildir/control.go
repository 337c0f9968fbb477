package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// maxControlFile bounds a control file read into memory. Dovecot's own
// files are far smaller; anything bigger is not Dovecot's and is reported.
const maxControlFile = 16 << 20

// ControlFile is a non-message file of a folder, kept verbatim.
type ControlFile struct {
	Name  string
	Mode  uint32 // st_mode: type and permission bits
	Mtime int64  // unix ns
	Data  []byte
}

// skipControl reports whether a file in a folder directory is one Dovecot
// rebuilds by itself (indexes, caches, logs), a lock held at the moment, or
// one Dovecot is writing.
func skipControl(name string) bool {
	for _, p := range []string{"dovecot.index", "dovecot.list.index", "dovecot.mailbox.log"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	// Dovecot writes dovecot-uidlist.tmp and the like and renames them
	// into place: they are caught only half way.
	return strings.HasSuffix(name, ".lock") || strings.HasPrefix(name, "dovecot") && strings.HasSuffix(name, ".tmp")
}

// readControlFiles reads every regular file directly in dir that is not
// skipped, in name order. A file of known whose mode, size and mtime it
// still has is taken from known, not read: one lstat instead of an open
// and a read.
func readControlFiles(dir string, known []ControlFile) ([]ControlFile, []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{fmt.Errorf("cannot list control files: %w", err)}
	}
	var files []ControlFile
	var problems []error
	for _, e := range entries {
		if !e.Type().IsRegular() || skipControl(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if cf, ok := unchangedControl(path, e.Name(), known); ok {
			files = append(files, cf)
			continue
		}
		cf, err := readControlFile(path)
		if err != nil {
			if !notExist(err) { // deleted since the listing: nothing to keep
				problems = append(problems, err)
			}
			continue
		}
		files = append(files, cf)
	}
	return files, problems
}

func readControlFile(path string) (ControlFile, error) {
	f, fi, err := openFile(path)
	if err != nil {
		return ControlFile{}, err
	}
	defer f.Close()
	if fi.Size() > maxControlFile {
		return ControlFile{}, fmt.Errorf("%s: skipped: %d bytes is more than a control file's %d", path, fi.Size(), maxControlFile)
	}
	data, err := readAll(f, fi.Size(), maxControlFile)
	if err != nil {
		return ControlFile{}, err
	}
	st := statOf(fi)
	return ControlFile{Name: fi.Name(), Mode: st.mode, Mtime: st.mtime, Data: data}, nil
}

// unchangedControl returns the file of known named name if the file at
// path still has its mode, size and mtime.
func unchangedControl(path, name string, known []ControlFile) (ControlFile, bool) {
	for _, k := range known {
		if k.Name != name {
			continue
		}
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() {
			return ControlFile{}, false
		}
		st := statOf(fi)
		return k, st.mode == k.Mode && st.mtime == k.Mtime && st.size == int64(len(k.Data))
	}
	return ControlFile{}, false
}

package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Folder is the scanned state of one folder. Message contents are not read;
// ReadMessage reads them one at a time.
type Folder struct {
	FolderDir
	Path               string // the folder's directory
	Mode, UID, GID     uint32 // of the folder directory; Mode is st_mode
	CurMtime, NewMtime int64  // unix ns of cur/ and new/; 0 if missing
	UIDList            *UIDList
	Keywords           []string
	Files              []ControlFile
	Messages           []MessageFile // cur/ then new/, each in name order
	// CurKept means cur/ was not listed: it still had the mtime the
	// caller knew it at (ScanFolderNew), so Messages holds new/ only.
	CurKept bool

	relook relookup // for ReadMessage; has its own lock
}

// MessageFile is one message file as listed.
type MessageFile struct {
	Subdir, Name string // "cur" or "new", and the file name in it
	Size, Mtime  int64  // Mtime in unix ns: Dovecot's received date
	Mode         uint32 // st_mode
	Dev, Ino     uint64 // with Nlink > 1, tell hard links apart
	Nlink        uint32
	UID          uint32 // from dovecot-uidlist; 0 if not numbered yet
}

// ScanFolder lists a folder of the Maildir root. Entries of cur/ and new/
// that are not regular files are reported and left out, never followed;
// names starting with "." are left out silently, as Dovecot ignores them.
// dovecot-uidlist is read after the listing, so every message Dovecot had
// numbered by then gets its UID. Problems are returned in the []error and
// the scan goes on; if the folder directory itself cannot be read the Folder
// is nil. A folder deleted before or during the scan gives a nil Folder and
// an error wrapping ErrVanished: it is no longer there to back up.
func ScanFolder(root string, fd FolderDir) (*Folder, []error) {
	return ScanFolderNew(root, fd, 0)
}

// ScanFolderNew is ScanFolder for a folder whose cur/ the caller listed
// before, when it had the mtime curMtime (unix ns; 0 for none). If cur/
// has that mtime still, it is not listed: no name was added, removed or
// renamed in it since (Maildir files change only by renames, which change
// the directory), so the caller's listing holds. Only new/ is listed and
// f.CurKept is set. new/ is listed first, as ScanFolder does, so a message
// moved into cur/ meanwhile changes cur/'s mtime before it is looked at.
// The caller must trust curMtime only when it is older than its listing
// by more than a tick of the file system's clock.
func ScanFolderNew(root string, fd FolderDir, curMtime int64) (*Folder, []error) {
	f, problems := probe(root, fd, true, curMtime, nil)
	if f != nil && f.UIDList != nil {
		for i := range f.Messages {
			f.Messages[i].UID, _ = f.UIDList.Lookup(baseOf(f.Messages[i].Name))
		}
	}
	return f, problems
}

// UIDOf returns the UID dovecot-uidlist gives a message file name, 0 if it
// gives none: for messages of a cur/ that was kept (CurKept).
func (f *Folder) UIDOf(name string) uint32 {
	if f.UIDList == nil {
		return 0
	}
	uid, _ := f.UIDList.Lookup(baseOf(name))
	return uid
}

// ProbeFolder reads what tells whether a folder changed, without listing
// its messages: the folder directory, the mtimes of cur/ and new/, and the
// control files. Messages is nil. Known are the folder's control files as
// the caller read them before: one that still has its mode, size and
// mtime is taken from there, not read again (Dovecot rewrites its files by
// renaming a new one into place, or appends; both change the mtime). As
// with ScanFolderNew, the caller must pass only files whose mtime is older
// than its reading by more than a tick of the file system's clock.
func ProbeFolder(root string, fd FolderDir, known []ControlFile) (*Folder, []error) {
	return probe(root, fd, false, 0, known)
}

func probe(root string, fd FolderDir, list bool, curMtime int64, known []ControlFile) (*Folder, []error) {
	if fd.Dir != "" && (!strings.HasPrefix(fd.Dir, ".") || !safeName(fd.Dir)) {
		return nil, []error{fmt.Errorf("folder %q: %q is not a folder directory", fd.Name, fd.Dir)}
	}
	path := filepath.Join(root, fd.Dir)
	stat := os.Lstat // a folder must not be a symlink; the root may be
	if fd.Dir == "" {
		stat = os.Stat
	}
	fi, err := stat(path)
	if err == nil && !fi.IsDir() {
		err = notDir(path, fi)
	}
	if notExist(err) {
		return nil, []error{fmt.Errorf("folder %q (%s): %w: deleted since it was listed", fd.Name, path, ErrVanished)}
	}
	if err != nil {
		return nil, []error{fmt.Errorf("cannot scan folder %q: %w", fd.Name, err)}
	}
	st := statOf(fi)
	f := &Folder{FolderDir: fd, Path: path, Mode: st.mode, UID: st.uid, GID: st.gid}
	var problems []error
	if list {
		f.Messages, f.CurMtime, f.NewMtime, f.CurKept, problems = listMessages(path, curMtime)
	} else {
		f.CurMtime, f.NewMtime, problems = subdirMtimes(path)
	}

	files, errs := readControlFiles(path, known)
	f.Files = files
	problems = append(problems, errs...)
	for _, cf := range files {
		switch cf.Name {
		case "dovecot-uidlist":
			if f.UIDList, err = ParseUIDList(cf.Data); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", filepath.Join(path, cf.Name), err))
			}
		case "dovecot-keywords":
			if f.Keywords, err = ParseKeywords(cf.Data); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", filepath.Join(path, cf.Name), err))
			}
		}
	}
	if len(problems) > 0 && gone(path, fi) {
		return nil, []error{fmt.Errorf("folder %q (%s): %w: deleted while it was read", fd.Name, path, ErrVanished)}
	}
	return f, problems
}

// gone reports whether the directory found at path as fi is not there any
// more: removed, or renamed away and another put in its place.
func gone(path string, fi os.FileInfo) bool {
	now, err := os.Lstat(path)
	return notExist(err) || err == nil && !os.SameFile(fi, now)
}

// subdirMtimes returns the mtimes of cur/ and new/, 0 for one missing.
func subdirMtimes(folder string) (cur, new int64, problems []error) {
	var ts [2]int64
	for i, sub := range []string{"cur", "new"} {
		fi, err := os.Lstat(filepath.Join(folder, sub))
		switch {
		case notExist(err):
		case err != nil:
			problems = append(problems, err)
		case !fi.IsDir():
			problems = append(problems, notDir(filepath.Join(folder, sub), fi))
		default:
			ts[i] = fi.ModTime().UnixNano()
		}
	}
	return ts[0], ts[1], problems
}

func messageFile(sub, name string, fi os.FileInfo) MessageFile {
	return messageFileOf(sub, name, statOf(fi))
}

func messageFileOf(sub, name string, st fileStat) MessageFile {
	return MessageFile{
		Subdir: sub, Name: name,
		Size: st.size, Mtime: st.mtime, Mode: st.mode,
		Dev: st.dev, Ino: st.ino, Nlink: st.nlink,
	}
}

// notDir is the problem of a path that must be a directory and is not; a
// symlink is named as one, since it is never followed out of the store.
func notDir(path string, fi os.FileInfo) error {
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s: skipped: a symlink, which is not followed", path)
	}
	return fmt.Errorf("%s: not a directory", path)
}

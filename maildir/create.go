package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrExists means a write was refused because its target is there already:
// nothing is ever overwritten.
var ErrExists = errors.New("already exists")

// subdirs are a folder's directories. cur/ comes last: Dovecot takes a
// directory with cur/ for a mailbox, so it should find new/ and tmp/ too.
var subdirs = []string{"tmp", "new", "cur"}

// CreateFolder makes the directory of folder fd under the Maildir root (the
// root and its missing parents too, all owned by o) with cur/, new/ and
// tmp/, and for a folder other than INBOX the empty "maildirfolder" file
// Dovecot writes into one it creates (into an existing folder that lacks
// it too; not synced: sync the file system before relying on it).
// created is false if the folder already had cur/; missing new/ or tmp/
// are still added. A symlink anywhere on the path is refused, so pass a
// store root with symlinks resolved.
//
// Dovecot may look at a new folder before its control files are written.
// WriteControl never replaces a file, so if Dovecot got there first the
// caller learns of it (ErrExists) and can restore as into an existing folder.
func CreateFolder(root string, fd FolderDir, o Owner) (path string, created bool, err error) {
	if fd.Dir != "" && (!strings.HasPrefix(fd.Dir, ".") || !safeName(fd.Dir)) {
		return "", false, fmt.Errorf("folder %q: %q is not a folder directory", fd.Name, fd.Dir)
	}
	d, err := openDirPath(filepath.Join(root, fd.Dir), &o)
	if err != nil {
		return "", false, fmt.Errorf("cannot create folder %q: %w", fd.Name, err)
	}
	defer d.close()
	removeStaleTemps(d) // of a maildirfolder file a killed run was writing
	hadCur, err := d.exists("cur")
	if err != nil {
		return "", false, err
	}
	if fd.Dir != "" {
		// Not synced here (two waits for the disk per folder): a restore
		// syncs before anything names the folder's files, and one killed
		// before that finds it missing here and writes it then.
		has, err := d.exists("maildirfolder")
		if err != nil {
			return "", false, err
		}
		if !has {
			if err := writeNew(d, d, "maildirfolder", nil, nowNano(), o, false); err != nil && !errors.Is(err, ErrExists) {
				return "", false, err
			}
		}
	}
	for _, sub := range subdirs {
		s, _, err := d.mkdir(sub, o)
		if err != nil {
			return "", false, fmt.Errorf("cannot create folder %q: %w", fd.Name, err)
		}
		s.close()
	}
	return d.path, !hadCur, nil
}

// WriteControl writes a control file such as dovecot-uidlist into a folder
// made by CreateFolder, with the given mtime (unix ns), o's owner and file
// mode. It goes through tmp/ and appears whole or not at all; an existing
// file of that name is ErrExists. Names with "/" or ".." are refused.
// Give the backed-up mtime: Dovecot takes a dovecot-keywords with mtime 0
// for one it has read already, and ignores it.
func WriteControl(folder, name string, data []byte, mtime int64, o Owner) error {
	if !safeName(name) {
		return fmt.Errorf("%s: %q is not a control file name", folder, name)
	}
	d, err := openDirPath(folder, nil)
	if err != nil {
		return err
	}
	defer d.close()
	tmp, err := d.open("tmp")
	if err != nil {
		return err
	}
	defer tmp.close()
	return writeNew(tmp, d, name, bytes.NewReader(data), mtime, o, true)
}

package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// trashDir is where Dovecot moves a Maildir++ folder it is deleting.
const trashDir = "..DOVECOT-TRASHED"

// Inbox is the name of the folder kept in the Maildir root itself.
const Inbox = "INBOX"

// FolderDir names one folder of a Maildir root.
type FolderDir struct {
	Name string // IMAP name with "/" between levels: "INBOX", "Archive/2002"
	Dir  string // directory below the root: "" for INBOX, ".Archive.2002"
}

// ListFolders lists the folders of a Maildir root: INBOX first, then every
// dot-directory holding cur/ or new/, in byte order of the directory names.
// Dot-directories without either are parents Dovecot created on the way and
// are left out. A dot-name that is a symlink to a directory is listed, so
// that scanning it reports it (a symlink is never followed out of the
// store) instead of the folder silently missing from the backup.
//
// A directory whose name is not valid Maildir++ is still listed, so no mail is
// left out of a backup: its Name is the raw name with "." turned into "/".
// Dir, not Name, is what identifies such a folder on disk.
//
// Dovecot deletes a folder by emptying it, renaming it to trashDir and
// removing that: trashDir is never a folder.
func ListFolders(root string) ([]FolderDir, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("cannot list folders: %w", err)
	}
	folders := []FolderDir{{Name: Inbox}}
	for _, e := range entries {
		dir := e.Name()
		if !strings.HasPrefix(dir, ".") || dir == "." || dir == ".." || dir == trashDir {
			continue
		}
		switch {
		case e.Type()&os.ModeSymlink != 0:
			if fi, err := os.Stat(filepath.Join(root, dir)); err != nil || !fi.IsDir() {
				continue
			}
		case !e.Type().IsDir() || !isMaildir(filepath.Join(root, dir)):
			continue
		}
		name, err := DecodeFolderDir(dir)
		if err != nil {
			name = strings.ReplaceAll(dir[1:], ".", "/")
		}
		folders = append(folders, FolderDir{Name: name, Dir: dir})
	}
	return folders, nil
}

// isMaildir reports whether dir has cur/ or new/. When that cannot be told
// (permission denied, say) it answers yes, so that ScanFolder gets to report
// the real problem instead of the folder silently missing from a backup.
func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		fi, err := os.Lstat(filepath.Join(dir, sub))
		if (err == nil && fi.IsDir()) || (err != nil && !notExist(err)) {
			return true
		}
	}
	return false
}

// DecodeFolderDir turns a Maildir++ directory name into a folder name:
// ".Archive.2002" is "Archive/2002", ".Entw&APw-rfe" is "Entwürfe", and ""
// is INBOX.
func DecodeFolderDir(dir string) (string, error) {
	if dir == "" {
		return Inbox, nil
	}
	if !strings.HasPrefix(dir, ".") || dir == "." || dir == ".." {
		return "", fmt.Errorf("folder directory %q: not a Maildir++ folder name", dir)
	}
	parts := strings.Split(dir[1:], ".")
	for i, p := range parts {
		if p == "" {
			return "", fmt.Errorf("folder directory %q: empty level", dir)
		}
		s, err := DecodeMUTF7(p)
		if err != nil {
			return "", fmt.Errorf("folder directory %q: %w", dir, err)
		}
		parts[i] = s
	}
	return strings.Join(parts, "/"), nil
}

// EncodeFolderName is the inverse of DecodeFolderDir: "Archive/2002" is
// ".Archive.2002" and INBOX is "". Maildir++ cannot hold a "." inside a level
// (Dovecot refuses such names), so one here comes back as a level separator.
func EncodeFolderName(name string) string {
	if name == Inbox {
		return ""
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = EncodeMUTF7(p)
	}
	return "." + strings.Join(parts, ".")
}

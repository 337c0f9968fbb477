package maildir

import (
	"errors"

	"golang.org/x/sys/unix"
)

// moveNoReplace renames a file without ever replacing one: EEXIST if toName
// is taken. renameat2(RENAME_NOREPLACE) does it in one step; file systems
// without it (NFS, older kernels) get link and unlink.
func moveNoReplace(from dir, fromName string, to dir, toName string) error {
	err := unix.Renameat2(from.fd, fromName, to.fd, toName, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOTSUP) {
		return linkNoReplace(from, fromName, to, toName)
	}
	return err
}

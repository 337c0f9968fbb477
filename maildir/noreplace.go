package maildir

import (
	"errors"

	"golang.org/x/sys/unix"
)

// linkNoReplace moves a file by link(2) and unlink(2): link fails with
// EEXIST rather than replace a file, which rename(2) would do silently.
// If the link fails the old name is left for the caller to remove.
func linkNoReplace(from dir, fromName string, to dir, toName string) error {
	if err := unix.Linkat(from.fd, fromName, to.fd, toName, 0); err != nil {
		return err
	}
	if err := unix.Unlinkat(from.fd, fromName, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// Package fs serves a repository as a read-only FUSE file system:
//
//	MOUNTPOINT/<server>/<group>/<user>/<folder path>/{cur,new,tmp}/<message file>
//
// showing the latest backup of each user. Every folder directory is a valid
// Maildir (mutt, mblaze and Dovecot can read it): message files keep their
// original names, sizes, mtimes and bytes, and the folder's Dovecot control
// files (dovecot-uidlist, dovecot-keywords …) lie beside cur/, new/ and tmp/
// as they were backed up. Subfolders are subdirectories (Archive/2002/).
//
// Beside it, MOUNTPOINT/.snapshots/<UTC time>/<server>/… holds every
// snapshot, and .snapshots/latest links to the newest.
//
// A user's tree in one snapshot never changes, so the kernel may cache its
// entries, attributes and pages for long; its directory inode numbers name
// the snapshot, so a new snapshot is a new directory. Message files take
// their inode numbers from the backed-up inode and bytes of the message
// (hard links share one), control files from their bytes: they are the
// same in every snapshot and across remounts, and an external backup of the
// mount re-reads only new messages. Nodes the kernel forgets are dropped.
//
// Round trips are what a walk of the mount costs (find, tar, rsync), so the
// kernel is told that files need no OPEN, RELEASE or FLUSH (fileNode.Open,
// Flush) and directories no OPENDIR or RELEASEDIR (raw.go), and a listing
// carries its subdirectories' attributes (READDIRPLUS), but not its
// files', for which the kernel would then hold an inode each, until a file
// of the user's tree is looked up: a reader that stats files gets them
// with the listing then (dirHandle.Lookup), and a directory it reads in
// order is stored into the kernel's page cache ahead of it (push.go). A
// walk of a group loads the next user's tree ahead (userTop).
//
// Who may read what is in access.go: the mounting user alone, or with
// AllowOther each user's tree owned by that mail's owner (from the store or
// an OwnerMap), with the kernel checking the modes (default_permissions).
//
// Only the directories above users (the root, servers, groups, .snapshots
// and its times) change, when snapshots are added while the mount runs: the
// mounting process ingests new archives (repo.Refresh) and calls
// FS.Changed, which lists those directories again and tells the kernel to
// drop what it cached of them. Backups never open the index the mount
// holds; see package repo.
package fs

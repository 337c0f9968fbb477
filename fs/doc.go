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
// The tree is immutable, so the kernel may cache entries, attributes and
// pages for long. Directories are loaded from the Source when first looked
// at; nodes the kernel forgets are dropped. Inode numbers are derived from
// the backed-up inode of a message (hard links share one) and from paths,
// so they are the same across remounts.
package fs

// Package maildir reads Dovecot Maildir++ stores for backup, and writes
// messages back into live ones for restore.
//
// The words used here:
//
//   - A Location is a Dovecot mail_location template such as
//     "maildir:/var/vmail/%d/%n/Maildir"; it finds the users of a store and
//     the Maildir root of each.
//   - A root is one user's Maildir directory. Its own cur/ and new/ hold the
//     INBOX; every other folder is a dot-directory below it (".Archive.2002"
//     is the folder "Archive/2002"), named in modified UTF-7.
//   - A message file's Name is "<base>,S=<size>,W=<vsize>:2,<flags>". The base
//     is the message's identity: Dovecot renames a file when its flags change
//     and moves it from new/ to cur/, but never changes the base.
//   - dovecot-uidlist maps bases to IMAP UIDs; dovecot-keywords maps the
//     keyword letters a–z in file names to keyword names. Both are kept
//     verbatim as control files, and parsed so each message carries its UID.
//
// The reading side never writes to the store, follows a symlink inside a
// folder, or reads a message body except ReadMessage and ContentHashes.
// Problems that affect one file or folder are returned as a []error next to
// the result, so a backup can go on and report them; only an unreadable
// folder directory is fatal for a folder.
//
// The store is live while it is read. A message is known by its base, so
// one renamed while a folder is listed or read is listed once and found
// under its new name; one expunged, or a folder deleted, meanwhile gives
// an error wrapping ErrVanished: the store moved on, nothing is lost.
//
// The writing side (CreateFolder, WriteControl, Target, UIDListLock) never
// replaces a file (ErrExists instead), follows no symlink anywhere on a
// path, and gives everything it creates the store's Owner. A folder that
// does not exist is recreated as backed up: control files verbatim, then
// the messages under their names, so Dovecot sees the same UIDVALIDITY,
// UIDs and keywords. Into an existing folder messages are added under
// Dovecot's own dotlock, dovecot-uidlist.lock: UIDList.Append gives them
// UIDs after the folder's, MergeKeywords and RemapFlags carry keywords over,
// and UIDListLock.Commit replaces dovecot-uidlist as Dovecot does.
package maildir

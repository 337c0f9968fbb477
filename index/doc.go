// Package index is the badger catalog of a repository: which snapshot holds
// which server, group, user, folder and message, and where each message's
// bytes lie.
//
// The index is a cache. Archives are the truth: each carries its own
// catalog in its trailer, and the index can always be rebuilt from them
// (see repo.Rebuild). A process that opens the index brings it up to date
// by ingesting the archives it has not seen; badger allows one writer per
// directory, so a process that finds the index held leaves that work to the
// holder.
//
// Glossary: an archive is one file written by one run for one group; a
// snapshot is what one run recorded of one group of one server, named by
// the run's start time; a listing is the content of one folder (message
// files and control files), shared by every snapshot in which the folder
// was the same; a blob is the bytes of one message, named by its sha-256.
//
// # Key layout
//
// Keys start with one prefix byte. Strings are encoded as components that
// keep byte order and may hold any byte: 0x00 is written 00 FF and every
// component ends with 00 01. Times are unix nanoseconds, big-endian with
// the sign bit flipped so that they sort. Values are uvarint-encoded
// records (records.go).
//
//	key                                          value
//	'V'                                          FormatVersion
//	'A' name                                     ArchiveInfo (number, size, header, frame table)
//	'S' server time group                        archive number, users, folders, messages, bytes
//	'U' server group user time                   archive number, folders, messages, bytes
//	'D' server group user time folder            Folder (uidlist fields, owner, listing id)
//	'M' listing                                  marks that the listing is stored: empty when whole,
//	                                             base listing id and its message count for a delta
//	'M' listing subdir name                      Message (size, mtime, mode, uid, blob, link);
//	                                             in a delta, empty when the base's file is removed
//	'C' listing name                             control file (mode, mtime, bytes)
//	'B' sha-256                                  Blob (archive number, logical offset, length)
//	'G' name                                     GoneArchive: an archive that left archives/
//	'X' change id                                listing id, messages, bytes of a folder told as that change
//
// A change id is the first 16 bytes of a sha-256 over a listing id and a
// change of it (archive.Folder.Origin): a folder carried over with the
// same change in run after run is then ingested with one lookup, not by
// reading its origin's listing again. Listings are never removed but with
// the whole index, so a change id always names one that is there.
// A listing id is the first 16 bytes of a sha-256 over the listing's keys
// and values, so an unchanged folder adds one 'D' key per snapshot and no
// message keys.
//
// A folder told as a small change gets a delta listing, named by its
// change id: the message keys the change adds or replaces, an empty value
// for each file it removes, and its control files whole, over the keys
// of a whole base listing (delta.go). A delta is never of a delta, and
// holds at most half as many keys as its base; Messages merges the two.
package index

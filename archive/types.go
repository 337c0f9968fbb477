package archive

// Hash is the sha-256 of a blob's bytes; blobs are addressed by it.
type Hash [32]byte

// Header opens every archive. It says what the archive holds, so that a
// reader of a pipe knows before the first message.
type Header struct {
	Version  uint16   // format version, 1
	ID       [16]byte // random; names the archive in the index and in logs
	Created  int64    // unix nanoseconds; the snapshot time of the run
	Server   string   // the backed-up server's name, e.g. "mail1"
	Group    string   // the backup group, e.g. "staff"
	Scope    string   // the scope the run was limited to, "/" for all
	Snapshot string   // the run's snapshot id (UTC time, RFC 3339)
	Flags    uint32   // FlagFull and friends
}

// Header flags.
const (
	// FlagFull marks an archive that holds every blob its folders name.
	FlagFull uint32 = 1 << 0
)

// Folder is the complete state of one mail folder of one user at backup
// time: everything needed to put it back exactly.
type Folder struct {
	User string // user id, e.g. "alice@example.org"
	Name string // folder path with "/" between levels, "INBOX" for the root
	Dir  string // the directory name in the store, "" for INBOX, ".Archive.2002"

	UIDValidity uint32
	NextUID     uint32
	GUID        string   // mailbox GUID from dovecot-uidlist, hex
	Keywords    []string // dovecot-keywords, index i is keyword letter 'a'+i

	// Mode, UID and GID of the folder directory in the store.
	Mode     uint32
	OwnerUID uint32
	OwnerGID uint32

	// Modification times (unix ns) of cur/ and new/, so a later run can tell
	// whether the folder changed.
	CurMtime int64
	NewMtime int64

	// Files are the folder's control files (dovecot-uidlist,
	// dovecot-keywords, maildirfolder, subscriptions ...), byte for byte.
	Files []File

	Messages []Message
}

// File is a small control file kept verbatim.
type File struct {
	Name  string
	Mode  uint32
	Mtime int64 // unix ns
	Data  []byte
}

// Message is one message file of a folder.
type Message struct {
	Subdir string // "cur" or "new"
	Name   string // exact file name, flags and ,S=/,W= included
	Size   int64
	Mtime  int64 // unix ns; Dovecot's received date
	Mode   uint32
	UID    uint32 // from dovecot-uidlist, 0 when not yet assigned
	Blob   Hash
	// Link names the file's inode in the store (a hash of its device and
	// inode numbers): message files with equal Links were hard links of one
	// file. It stays the same across flag renames, so it also gives the mount
	// inode numbers that are stable from one snapshot to the next.
	Link uint64
	// Nlink is the file's link count in the store.
	Nlink uint32
}

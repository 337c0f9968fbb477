package archive

import "crypto/sha256"

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
	// FlagSince marks a snapshot limited to the messages received since a
	// time (backup --since): its folders list only those messages, so it
	// is not a complete state of the store.
	FlagSince uint32 = 1 << 1
	// FlagForgotten marks the rewrite of a forgotten snapshot's archive
	// (mailvault prune): it keeps all the snapshot's folder records, which
	// later snapshots tell their folders as changes of, and only the blobs
	// the snapshots still kept need. The snapshot itself is not shown,
	// restored or built on.
	FlagForgotten uint32 = 1 << 2
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

	// Origin, when set, says the folder is told as a change of the same
	// folder (same user and name) in an earlier snapshot of the same server
	// and group: the one taken at Origin (unix ns), whose archive lists the
	// folder whole in its OriginIndex'th folder record. Messages then holds
	// the message files added since (or changed: a flag change is a rename),
	// Removed the origin's files that are gone, and Files only the control
	// files that differ from the origin's (the set of names is the same);
	// Apply gives the whole folder. Incremental runs write this, so a
	// snapshot costs what changed, not what the store holds.
	Origin      int64
	OriginIndex uint32
	Removed     []string // "cur/<name>" or "new/<name>" of the origin's files
}

// Apply returns the whole folder that f tells as a change of origin, the
// record its Origin names.
func (f *Folder) Apply(origin *Folder) *Folder {
	out := *f
	out.Origin, out.OriginIndex, out.Removed = 0, 0, nil
	out.Files = append([]File(nil), origin.Files...)
	for _, c := range f.Files {
		for i := range out.Files {
			if out.Files[i].Name == c.Name {
				out.Files[i] = c
			}
		}
	}
	gone := make(map[string]bool, len(f.Removed)+len(f.Messages))
	for _, r := range f.Removed {
		gone[r] = true
	}
	for i := range f.Messages {
		gone[f.Messages[i].Path()] = true // a changed file replaces the origin's
	}
	out.Messages = make([]Message, 0, len(origin.Messages)+len(f.Messages))
	for _, m := range origin.Messages {
		if !gone[m.Path()] {
			out.Messages = append(out.Messages, m)
		}
	}
	out.Messages = append(out.Messages, f.Messages...)
	return &out
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
	// Parts, when set, name the blobs that hold the message's bytes, joined
	// in order; Blob is then PartsHash(Parts...), not a blob of its own. The writer splits a message's per-recipient trace lines
	// from the rest, so copies of one delivery share the rest.
	Parts []Hash
}

// Path is the message file's place in its folder, "cur/<name>" or
// "new/<name>".
func (m *Message) Path() string { return m.Subdir + "/" + m.Name }

// PartsHash is the Blob of a message stored in parts: the sha-256 of the
// part hashes, so it names the message without hashing its bytes again.
func PartsHash(parts ...Hash) Hash {
	h := sha256.New()
	h.Write([]byte("mailvault parts\n"))
	for _, p := range parts {
		h.Write(p[:])
	}
	return Hash(h.Sum(nil))
}

// JoinParts reads the parts of a message with read and joins them.
func JoinParts(parts []Hash, read func(Hash) ([]byte, error)) ([]byte, error) {
	var out []byte
	for _, p := range parts {
		b, err := read(p)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// NotStored is the Blob of a message listed without its bytes: backup
// --max-size left it out of a run that had no room for it, and a later run
// stores it. No blob has this hash (it is not the sha-256 of anything
// known), so older readers see a message whose blob is missing.
var NotStored Hash

// LeftOut reports whether the message is listed without its bytes (see
// NotStored).
func (m *Message) LeftOut() bool { return len(m.Parts) == 0 && m.Blob == NotStored }

// Blobs returns the blobs that hold the message's bytes.
func (m *Message) Blobs() []Hash {
	if m.LeftOut() {
		return nil
	}
	if len(m.Parts) > 0 {
		return m.Parts
	}
	return []Hash{m.Blob}
}

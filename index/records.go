package index

import "github.com/mailvault/mailvault/archive"

// ListingID names the content of one folder (its messages and control
// files). Snapshots of a folder that did not change share one listing, so
// its message keys are written once.
type ListingID [16]byte

// ArchiveInfo is what the index keeps of an archive file.
type ArchiveInfo struct {
	Name   string // file name inside the repository's archives/ folder
	Num    uint32 // short number used in blob locations
	Size   int64
	Header archive.Header
	Frames []archive.Frame
}

// Snapshot is one group's part of one run.
type Snapshot struct {
	Server  string
	Group   string
	Time    int64 // unix ns
	Archive uint32
	Users   int
	Folders int
	Msgs    int
	Bytes   int64
	Partial bool // messages received since a time only (backup --since)
}

// User is one user in one snapshot.
type User struct {
	Server, Group, Name string
	Time                int64
	Archive             uint32
	Folders             int
	Msgs                int
	Bytes               int64
}

// Folder is one folder of a user in one snapshot.
type Folder struct {
	Name        string
	Dir         string
	UIDValidity uint32
	NextUID     uint32
	GUID        string
	Keywords    []string
	Mode        uint32
	OwnerUID    uint32
	OwnerGID    uint32
	CurMtime    int64
	NewMtime    int64
	Listing     ListingID
	Msgs        int
	Bytes       int64
}

// Message is one message file of a listing.
type Message struct {
	Subdir string
	Name   string
	Size   int64
	Mtime  int64
	Mode   uint32
	UID    uint32
	Blob   archive.Hash
	Link   uint64
	Nlink  uint32
}

// LeftOut reports whether the snapshot lists the message without its
// bytes (archive.NotStored: backup --max-size left it for a later run).
func (m *Message) LeftOut() bool { return m.Blob == archive.NotStored }

// Blob says where a blob's bytes lie: in one archive at Loc, or, for a
// message stored in parts (see archive.Message.Parts), in the blobs
// named by Parts, joined in order.
type Blob struct {
	Archive uint32
	Loc     archive.Location
	Parts   []archive.Hash
}

func encodeArchive(a *ArchiveInfo) []byte {
	var e enc
	e.uint(uint64(a.Num))
	e.int(a.Size)
	h := a.Header
	e.uint(uint64(h.Version))
	e.fixed(h.ID[:])
	e.int(h.Created)
	e.str(h.Server)
	e.str(h.Group)
	e.str(h.Scope)
	e.str(h.Snapshot)
	e.uint(uint64(h.Flags))
	e.uint(uint64(len(a.Frames)))
	for _, f := range a.Frames {
		e.int(f.FileOffset)
		e.int(f.CompressedLen)
		e.int(f.Len)
		e.int(f.LogicalOffset)
	}
	return e.b
}

func decodeArchive(name string, b []byte) (*ArchiveInfo, error) {
	d := dec{b: b}
	a := &ArchiveInfo{Name: name}
	a.Num = uint32(d.uint())
	a.Size = d.int()
	h := &a.Header
	h.Version = uint16(d.uint())
	d.fixed(h.ID[:])
	h.Created = d.int()
	h.Server = d.str()
	h.Group = d.str()
	h.Scope = d.str()
	h.Snapshot = d.str()
	h.Flags = uint32(d.uint())
	n := d.uint()
	if n > uint64(len(d.b)) {
		return nil, errBadValue
	}
	a.Frames = make([]archive.Frame, 0, n)
	for range n {
		a.Frames = append(a.Frames, archive.Frame{
			FileOffset: d.int(), CompressedLen: d.int(), Len: d.int(), LogicalOffset: d.int(),
		})
	}
	return a, d.err
}

func encodeCounts(archiveNum uint32, users, folders, msgs int, bytes int64) []byte {
	var e enc
	e.uint(uint64(archiveNum))
	e.uint(uint64(users))
	e.uint(uint64(folders))
	e.uint(uint64(msgs))
	e.int(bytes)
	return e.b
}

func decodeCounts(b []byte) (archiveNum uint32, users, folders, msgs int, bytes int64, err error) {
	d := dec{b: b}
	archiveNum = uint32(d.uint())
	users = int(d.uint())
	folders = int(d.uint())
	msgs = int(d.uint())
	bytes = d.int()
	return archiveNum, users, folders, msgs, bytes, d.err
}

func encodeFolder(f *Folder) []byte {
	var e enc
	e.str(f.Dir)
	e.uint(uint64(f.UIDValidity))
	e.uint(uint64(f.NextUID))
	e.str(f.GUID)
	e.strs(f.Keywords)
	e.uint(uint64(f.Mode))
	e.uint(uint64(f.OwnerUID))
	e.uint(uint64(f.OwnerGID))
	e.int(f.CurMtime)
	e.int(f.NewMtime)
	e.fixed(f.Listing[:])
	e.uint(uint64(f.Msgs))
	e.int(f.Bytes)
	return e.b
}

func decodeFolder(name string, b []byte) (*Folder, error) {
	d := dec{b: b}
	f := &Folder{Name: name}
	f.Dir = d.str()
	f.UIDValidity = uint32(d.uint())
	f.NextUID = uint32(d.uint())
	f.GUID = d.str()
	f.Keywords = d.strs()
	f.Mode = uint32(d.uint())
	f.OwnerUID = uint32(d.uint())
	f.OwnerGID = uint32(d.uint())
	f.CurMtime = d.int()
	f.NewMtime = d.int()
	d.fixed(f.Listing[:])
	f.Msgs = int(d.uint())
	f.Bytes = d.int()
	return f, d.err
}

// encodeChange is the value of a change key: what a folder told as that
// change has of its listing.
func encodeChange(f *Folder) []byte {
	var e enc
	e.fixed(f.Listing[:])
	e.uint(uint64(f.Msgs))
	e.int(f.Bytes)
	return e.b
}

func decodeChange(f *Folder, b []byte) error {
	d := dec{b: b}
	d.fixed(f.Listing[:])
	f.Msgs = int(d.uint())
	f.Bytes = d.int()
	return d.err
}

func encodeMessage(m *Message) []byte {
	var e enc
	e.int(m.Size)
	e.int(m.Mtime)
	e.uint(uint64(m.Mode))
	e.uint(uint64(m.UID))
	e.fixed(m.Blob[:])
	e.uint(m.Link)
	e.uint(uint64(m.Nlink))
	return e.b
}

func decodeMessage(subdir, name string, b []byte) (Message, error) {
	d := dec{b: b}
	m := Message{Subdir: subdir, Name: name}
	m.Size = d.int()
	m.Mtime = d.int()
	m.Mode = uint32(d.uint())
	m.UID = uint32(d.uint())
	d.fixed(m.Blob[:])
	m.Link = d.uint()
	m.Nlink = uint32(d.uint())
	return m, d.err
}

func encodeControl(f *archive.File) []byte {
	var e enc
	e.uint(uint64(f.Mode))
	e.int(f.Mtime)
	e.bytes(f.Data)
	return e.b
}

func decodeControl(name string, b []byte) (archive.File, error) {
	d := dec{b: b}
	f := archive.File{Name: name}
	f.Mode = uint32(d.uint())
	f.Mtime = d.int()
	f.Data = append([]byte(nil), d.bytes()...)
	return f, d.err
}

func encodeBlob(b Blob) []byte {
	var e enc
	e.uint(uint64(b.Archive))
	e.int(b.Loc.Offset)
	e.int(b.Loc.Length)
	e.uint(uint64(len(b.Parts)))
	for _, p := range b.Parts {
		e.fixed(p[:])
	}
	return e.b
}

func decodeBlob(v []byte) (Blob, error) {
	d := dec{b: v}
	b := Blob{Archive: uint32(d.uint())}
	b.Loc.Offset = d.int()
	b.Loc.Length = d.int()
	n := d.uint()
	if n > uint64(len(d.b))/32 {
		d.fail()
	}
	for range n {
		var p archive.Hash
		d.fixed(p[:])
		b.Parts = append(b.Parts, p)
	}
	return b, d.err
}

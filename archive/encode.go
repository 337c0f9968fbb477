package archive

// The encodings of the format's structures. Each is a structure (see
// fields) whose fields appear in the order below; a later version may only
// append fields. Field counts of format v1:
const (
	headerFields  = 8
	folderFields  = 17 // 14 when Origin is not set
	fileFields    = 4
	messageFields = 10 // 9 in archives that store every message whole
	trailerFields = 5
)

func encodeHeader(e *enc, h *Header) {
	s := e.begin(headerFields)
	e.uvarint(uint64(h.Version))
	e.fixed(h.ID[:])
	e.varint(h.Created)
	e.str(h.Server)
	e.str(h.Group)
	e.str(h.Scope)
	e.str(h.Snapshot)
	e.uvarint(uint64(h.Flags))
	e.end(s)
}

func decodeHeader(d *dec, h *Header) {
	s := d.begin()
	h.Version = s.u16()
	s.fixed(h.ID[:])
	h.Created = s.varint()
	h.Server = s.str()
	h.Group = s.str()
	h.Scope = s.str()
	h.Snapshot = s.str()
	h.Flags = s.u32()
	d.end(&s)
}

func encodeFolder(e *enc, f *Folder) {
	n := folderFields
	if f.Origin == 0 {
		n -= 3 // the v1 encoding, byte for byte
	}
	s := e.begin(n)
	e.str(f.User)
	e.str(f.Name)
	e.str(f.Dir)
	e.uvarint(uint64(f.UIDValidity))
	e.uvarint(uint64(f.NextUID))
	e.str(f.GUID)
	e.uvarint(uint64(len(f.Keywords)))
	for _, k := range f.Keywords {
		e.str(k)
	}
	e.uvarint(uint64(f.Mode))
	e.uvarint(uint64(f.OwnerUID))
	e.uvarint(uint64(f.OwnerGID))
	e.varint(f.CurMtime)
	e.varint(f.NewMtime)
	e.uvarint(uint64(len(f.Files)))
	for i := range f.Files {
		encodeFile(e, &f.Files[i])
	}
	e.uvarint(uint64(len(f.Messages)))
	for i := range f.Messages {
		encodeMessage(e, &f.Messages[i])
	}
	if f.Origin != 0 {
		e.varint(f.Origin)
		e.uvarint(uint64(f.OriginIndex))
		e.uvarint(uint64(len(f.Removed)))
		for _, r := range f.Removed {
			e.str(r)
		}
	}
	e.end(s)
}

// decodeFolder decodes a folder; empty lists decode as nil.
func decodeFolder(d *dec, f *Folder) {
	s := d.begin()
	f.User = s.str()
	f.Name = s.str()
	f.Dir = s.str()
	f.UIDValidity = s.u32()
	f.NextUID = s.u32()
	f.GUID = s.str()
	f.Keywords = decodeList(&s, 1, func(d *dec, k *string) { *k = d.str() })
	f.Mode = s.u32()
	f.OwnerUID = s.u32()
	f.OwnerGID = s.u32()
	f.CurMtime = s.varint()
	f.NewMtime = s.varint()
	f.Files = decodeList(&s, 2, decodeFile)
	f.Messages = decodeList(&s, 2, decodeMessage)
	f.Origin = s.varint()
	f.OriginIndex = s.u32()
	f.Removed = decodeList(&s, 1, func(d *dec, r *string) { *r = d.str() })
	if f.Origin == 0 && (f.OriginIndex != 0 || f.Removed != nil) {
		// what only a change has, without the origin it changes
		s.d.fail("folder %q: origin record or removed files but no origin", f.Name)
	}
	d.end(&s)
}

func encodeFile(e *enc, f *File) {
	s := e.begin(fileFields)
	e.str(f.Name)
	e.uvarint(uint64(f.Mode))
	e.varint(f.Mtime)
	e.bytes(f.Data)
	e.end(s)
}

func decodeFile(d *dec, f *File) {
	s := d.begin()
	f.Name = s.str()
	f.Mode = s.u32()
	f.Mtime = s.varint()
	f.Data = s.bytes()
	d.end(&s)
}

func encodeMessage(e *enc, m *Message) {
	n := messageFields
	if len(m.Parts) == 0 {
		n-- // the v1 encoding, byte for byte
	}
	s := e.begin(n)
	e.str(m.Subdir)
	e.str(m.Name)
	e.varint(m.Size)
	e.varint(m.Mtime)
	e.uvarint(uint64(m.Mode))
	e.uvarint(uint64(m.UID))
	if len(m.Parts) > 0 {
		e.fixed(make([]byte, len(m.Blob))) // implied by the parts; zeros compress away
	} else {
		e.fixed(m.Blob[:])
	}
	e.u64(m.Link)
	e.uvarint(uint64(m.Nlink))
	if len(m.Parts) > 0 {
		e.uvarint(uint64(len(m.Parts)))
		for _, p := range m.Parts {
			e.fixed(p[:])
		}
	}
	e.end(s)
}

func decodeMessage(d *dec, m *Message) {
	s := d.begin()
	m.Subdir = s.str()
	m.Name = s.str()
	m.Size = s.varint()
	m.Mtime = s.varint()
	m.Mode = s.u32()
	m.UID = s.u32()
	s.fixed(m.Blob[:])
	m.Link = s.u64()
	m.Nlink = s.u32()
	m.Parts = decodeList(&s, len(Hash{}), func(d *dec, h *Hash) { d.fixed(h[:]) })
	if len(m.Parts) > 0 {
		m.Blob = PartsHash(m.Parts...)
	}
	d.end(&s)
}

// encodeTrailer writes the trailer's tables. File offsets of frames are
// implied (frames follow the header back to back), logical offsets of blobs
// and folders are stored as the gap since the end of the previous entry.
func encodeTrailer(e *enc, t *Trailer) {
	s := e.begin(trailerFields)
	encodeHeader(e, &t.Header)
	e.uvarint(uint64(t.dataLen()))
	e.uvarint(uint64(len(t.Frames)))
	for _, f := range t.Frames {
		e.uvarint(uint64(f.CompressedLen))
		e.uvarint(uint64(f.Len))
	}
	e.uvarint(uint64(len(t.Blobs)))
	var end int64
	for _, b := range t.Blobs {
		e.fixed(b.Hash[:])
		e.uvarint(uint64(b.Loc.Offset - end))
		e.uvarint(uint64(b.Loc.Length))
		end = b.Loc.Offset + b.Loc.Length
	}
	e.uvarint(uint64(len(t.Folders)))
	end = 0
	for _, f := range t.Folders {
		e.uvarint(uint64(f.Offset - end))
		e.uvarint(uint64(f.Length))
		end = f.Offset + f.Length
	}
	e.end(s)
}

// decodeTrailer decodes the trailer's tables and checks them against each
// other: frames within the limits, locations within the data. dataStart is
// the file offset of the first data frame.
func decodeTrailer(d *dec, t *Trailer, dataStart int64) {
	s := d.begin()
	if s.next() {
		decodeHeader(&s.d, &t.Header)
	}
	dataLen := int64(s.uvarint())
	if dataLen < 0 {
		s.d.fail("data length overflows")
	}
	off, logical := dataStart, int64(0)
	t.Frames = decodeList(&s, 2, func(d *dec, f *Frame) {
		f.FileOffset, f.LogicalOffset = off, logical
		f.CompressedLen = int64(d.uvarint())
		f.Len = int64(d.uvarint())
		if err := checkFrame(f); err != "" {
			d.fail("frame at offset %d: %s", f.FileOffset, err)
		}
		off += f.CompressedLen
		logical += f.Len
	})
	if s.d.err == nil && logical != dataLen {
		s.d.fail("frames hold %d bytes, the trailer says %d", logical, dataLen)
	}
	var end int64
	readLoc := func(d *dec, what string) Location {
		gap, n := d.uvarint(), d.uvarint()
		if gap > uint64(dataLen-end) || n > uint64(dataLen-end)-gap {
			d.fail("%s of %d bytes at %d past the end of the data (%d bytes)", what, n, end+int64(gap), dataLen)
			return Location{}
		}
		loc := Location{Offset: end + int64(gap), Length: int64(n)}
		end = loc.Offset + loc.Length
		return loc
	}
	t.Blobs = decodeList(&s, 34, func(d *dec, b *BlobEntry) {
		d.fixed(b.Hash[:])
		b.Loc = readLoc(d, "blob")
	})
	end = 0
	t.Folders = decodeList(&s, 2, func(d *dec, f *Location) { *f = readLoc(d, "folder") })
	d.end(&s)
}

// checkFrame checks a frame table entry against the limits; "" means fine.
func checkFrame(f *Frame) string {
	switch {
	case f.Len <= 0 || f.Len > MaxFrameSize:
		return "bad decompressed length"
	case f.CompressedLen <= 0 || f.CompressedLen > maxFrameCompressed:
		return "bad compressed length"
	case f.FileOffset < 0 || f.LogicalOffset < 0:
		return "bad offset"
	}
	return ""
}

package archive

// Location is where a blob's bytes or a folder record's payload lie in the
// logical stream (the concatenated decompressed data frames).
type Location struct {
	Offset int64
	Length int64
}

// BlobEntry is one row of the trailer's blob table.
type BlobEntry struct {
	Hash Hash
	Loc  Location
}

// Frame is one row of the frame table: a zstd frame of the data section.
type Frame struct {
	FileOffset    int64 // where the compressed frame starts in the file
	CompressedLen int64
	Len           int64 // decompressed length
	LogicalOffset int64 // where its content starts in the logical stream
}

// Trailer is the archive's table of contents, the last record.
type Trailer struct {
	Header  Header // the header again, so a reader can check the two agree
	Frames  []Frame
	Blobs   []BlobEntry
	Folders []Location // folder record payloads, in the order written
}

// dataLen is the length of the logical stream before the trailer.
func (t *Trailer) dataLen() int64 {
	if len(t.Frames) == 0 {
		return 0
	}
	f := t.Frames[len(t.Frames)-1]
	return f.LogicalOffset + f.Len
}

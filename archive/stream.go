package archive

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Record is one record of the stream: exactly one of Blob and Folder is set.
type Record struct {
	Blob   *BlobRecord
	Folder *Folder
}

// BlobRecord is a blob read from the stream; Data has been checked against
// Hash.
type BlobRecord struct {
	Hash Hash
	Data []byte
	Loc  Location
}

// StreamReader reads an archive from start to end without seeking, as from
// a pipe. It splits the stream into zstd frames itself, so that it can
// bound each frame's memory and check the frame table, the trailer and the
// footer against what it read.
type StreamReader struct {
	in  *bufio.Reader
	off int64 // file offset of the next byte from in

	header    Header
	dataStart int64  // file offset of the first data frame
	zbuf      []byte // the current frame, compressed
	frame     []byte // the current frame, decoded
	pos       int    // next unread byte of frame
	logical   int64  // logical offset of frame[0]
	seen      Trailer
	err       error // sticky; io.EOF after the footer
}

// NewStreamReader reads the header from r.
func NewStreamReader(r io.Reader) (*StreamReader, error) {
	s := &StreamReader{in: bufio.NewReaderSize(r, 64<<10)}
	var b [16]byte
	n, err := io.ReadFull(s.in, b[:])
	if n == 0 || !isHeaderPrefix(b[:n]) {
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, err
		}
		return nil, notArchivef("no archive header at offset 0")
	}
	if err != nil {
		return nil, s.readErr(err, "the header")
	}
	l := int64(binary.LittleEndian.Uint32(b[4:]))
	if l < 8 || l > maxHeader {
		return nil, corruptf("header: bad payload length %d", l)
	}
	p := make([]byte, l-8)
	if _, err := io.ReadFull(s.in, p); err != nil {
		return nil, s.readErr(err, "the header")
	}
	if s.header, err = parseHeader(p); err != nil {
		return nil, err
	}
	s.off = 8 + l
	s.dataStart = s.off
	s.seen.Header = s.header
	return s, nil
}

// readErr maps a short read to ErrTruncated and wraps other errors.
func (s *StreamReader) readErr(err error, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return truncatedf("stream ends near offset %d, inside %s", s.off, what)
	}
	return fmt.Errorf("cannot read archive at offset %d: %w", s.off, err)
}

// Header returns the archive's header.
func (s *StreamReader) Header() Header { return s.header }

// Next returns the next blob or folder record. After the trailer and
// footer have been read and checked against the stream, it returns io.EOF.
// Errors are sticky.
func (s *StreamReader) Next() (*Record, error) {
	if s.err != nil {
		return nil, s.err
	}
	rec, err := s.next()
	if err != nil {
		s.err = err
		return nil, err
	}
	return rec, nil
}

func (s *StreamReader) next() (*Record, error) {
	if s.pos == len(s.frame) {
		if err := s.nextFrame(true); err != nil {
			return nil, err
		}
	}
	at := s.logical + int64(s.pos)
	kind := s.frame[s.pos]
	s.pos++
	if kind == kindTrailer {
		return nil, s.readTrailer()
	}
	// Only the trailer frame may exceed the data frame limits.
	if f := s.seen.Frames[len(s.seen.Frames)-1]; f.Len > MaxFrameSize || f.CompressedLen > maxFrameCompressed {
		return nil, corruptf("frame at offset %d: %d bytes (%d compressed), too large for a data frame", f.FileOffset, f.Len, f.CompressedLen)
	}
	n, err := s.uvarint()
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindBlob:
		if n < 32 || n-32 > MaxRecord {
			return nil, corruptf("blob record at logical offset %d: bad length %d", at, n)
		}
		var h Hash
		if _, err := s.read(h[:0], len(h)); err != nil { // fills h in place
			return nil, err
		}
		loc := Location{Offset: s.logical + int64(s.pos), Length: int64(n - 32)}
		data, err := s.read(make([]byte, 0, min(n-32, 1<<20)), int(n-32))
		if err != nil {
			return nil, err
		}
		if Hash(sha256.Sum256(data)) != h {
			return nil, corruptf("blob %x at logical offset %d: sha-256 mismatch", h[:8], loc.Offset)
		}
		s.seen.Blobs = append(s.seen.Blobs, BlobEntry{Hash: h, Loc: loc})
		return &Record{Blob: &BlobRecord{Hash: h, Data: data, Loc: loc}}, nil
	case kindFolder:
		if n > MaxRecord {
			return nil, corruptf("folder record at logical offset %d: bad length %d", at, n)
		}
		loc := Location{Offset: s.logical + int64(s.pos), Length: int64(n)}
		p, err := s.read(nil, int(n))
		if err != nil {
			return nil, err
		}
		f := &Folder{}
		d := dec{b: p, what: fmt.Sprintf("folder at logical offset %d", loc.Offset)}
		decodeFolder(&d, f)
		d.done()
		if d.err != nil {
			return nil, d.err
		}
		s.seen.Folders = append(s.seen.Folders, loc)
		return &Record{Folder: f}, nil
	}
	return nil, corruptf("record at logical offset %d: unknown kind %#x", at, kind)
}

// uvarint reads a record length, which may span frames.
func (s *StreamReader) uvarint() (uint64, error) {
	var b [binary.MaxVarintLen64]byte
	for i := range b {
		p, err := s.read(b[:i], 1)
		if err != nil {
			return 0, err
		}
		if p[i] < 0x80 {
			d := dec{b: p, what: fmt.Sprintf("record length at logical offset %d", s.logical+int64(s.pos)-int64(i)-1)}
			return d.uvarint(), d.err
		}
	}
	return 0, corruptf("record length at logical offset %d: bad varint", s.logical+int64(s.pos))
}

// read appends n bytes of the logical stream to dst, pulling frames as
// needed. dst grows with the bytes that arrive, not with what n claims.
func (s *StreamReader) read(dst []byte, n int) ([]byte, error) {
	for n > 0 {
		if s.pos == len(s.frame) {
			if err := s.nextFrame(false); err != nil {
				return nil, err
			}
		}
		k := min(n, len(s.frame)-s.pos)
		dst = append(dst, s.frame[s.pos:s.pos+k]...)
		s.pos += k
		n -= k
	}
	return dst, nil
}

// nextFrame reads and decodes the next zstd frame. Only a frame that
// starts at a record boundary may be the trailer and larger than
// MaxFrameSize; next checks that it is.
func (s *StreamReader) nextFrame(boundary bool) error {
	start := s.off
	var m [4]byte
	if _, err := io.ReadFull(s.in, m[:]); err != nil {
		if err == io.EOF && boundary {
			return truncatedf("stream ends at offset %d, before the trailer", start)
		}
		return s.readErr(err, "a record")
	}
	switch binary.LittleEndian.Uint32(m[:]) {
	case zstdMagic:
	case footerMagic:
		return corruptf("footer at offset %d before the trailer", start)
	default:
		return corruptf("offset %d: no zstd frame", start)
	}
	limit := int64(maxFrameCompressed)
	if boundary {
		// A frame at a record boundary may be the trailer, which is no
		// larger than the tables of what the stream held so far.
		limit = max(limit, s.trailerBound()+s.trailerBound()/64+64<<10)
	}
	src := streamSource{r: s.in, buf: append(s.zbuf[:0], m[:]...), limit: int(limit)}
	_, err := walkFrame(&src)
	s.zbuf = src.buf
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return truncatedf("stream ends inside the frame at offset %d", start)
	}
	if err != nil {
		return corruptf("frame at offset %d: %v", start, err)
	}
	s.off += int64(len(s.zbuf))
	limit = MaxFrameSize
	if boundary {
		limit = max(limit, min(trailerLimit(int64(len(s.zbuf))), s.trailerBound()))
	}
	p, err := decodeFrame(s.zbuf, s.frame, limit, -1)
	if err != nil {
		return corruptf("frame at offset %d: %v", start, err)
	}
	if len(p) == 0 {
		return corruptf("frame at offset %d is empty", start)
	}
	s.logical += int64(len(s.frame))
	s.frame, s.pos = p, 0
	s.seen.Frames = append(s.seen.Frames, Frame{FileOffset: start, CompressedLen: int64(len(s.zbuf)),
		Len: int64(len(p)), LogicalOffset: s.logical})
	return nil
}

// trailerBound is the most a trailer record can take after the records
// read so far: the header, and each frame, blob and folder table entry at
// most 64 bytes. A stream cannot make the reader buffer a larger "trailer"
// without first sending the records it would list.
func (s *StreamReader) trailerBound() int64 {
	n := int64(len(s.seen.Frames) + len(s.seen.Blobs) + len(s.seen.Folders) + 1)
	return min(MaxTrailer, maxHeader+1<<20+64*n)
}

// readTrailer checks the trailer record, which must fill a frame of its
// own, against what the stream held, then the footer, then the end.
func (s *StreamReader) readTrailer() error {
	tf := s.seen.Frames[len(s.seen.Frames)-1]
	if s.pos != 1 {
		return corruptf("trailer record at logical offset %d does not start a frame", tf.LogicalOffset+int64(s.pos)-1)
	}
	s.seen.Frames = s.seen.Frames[:len(s.seen.Frames)-1]
	d := dec{b: s.frame[1:], off: 1, what: fmt.Sprintf("trailer frame at offset %d", tf.FileOffset)}
	if n := d.uvarint(); d.err == nil && n != uint64(len(d.b)) {
		d.fail("trailer record of %d bytes in %d", n, len(d.b))
	}
	var t Trailer
	decodeTrailer(&d, &t, s.dataStart)
	d.done()
	if d.err != nil {
		return d.err
	}
	if err := s.check(&t, tf); err != nil {
		return err
	}

	b := make([]byte, FooterSize)
	if _, err := io.ReadFull(s.in, b); err != nil {
		return s.readErr(err, "the footer")
	}
	ft, err := parseFooter(b, s.off)
	if err != nil {
		return err
	}
	if ft != (footer{tf.FileOffset, tf.CompressedLen, tf.Len}) {
		return corruptf("footer at offset %d does not point at the trailer", s.off)
	}
	s.off += FooterSize
	if _, err := s.in.ReadByte(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("cannot read archive at offset %d: %w", s.off, err)
		}
		return corruptf("data after the footer at offset %d", s.off)
	}
	return io.EOF
}

// check compares the trailer with what the stream held.
func (s *StreamReader) check(t *Trailer, tf Frame) error {
	what := ""
	switch {
	case t.Header != s.header:
		what = "header"
	case !slices.Equal(t.Frames, s.seen.Frames):
		what = fmt.Sprintf("frame table (%d frames, %d in the stream)", len(t.Frames), len(s.seen.Frames))
	case !slices.Equal(t.Blobs, s.seen.Blobs):
		what = fmt.Sprintf("blob table (%d blobs, %d in the stream)", len(t.Blobs), len(s.seen.Blobs))
	case !slices.Equal(t.Folders, s.seen.Folders):
		what = fmt.Sprintf("folder table (%d folders, %d in the stream)", len(t.Folders), len(s.seen.Folders))
	default:
		return nil
	}
	return corruptf("trailer at offset %d: %s does not match the stream", tf.FileOffset, what)
}

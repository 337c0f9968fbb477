package archive

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
)

// Reader reads an archive at random: folders and blobs by location. It is
// safe for concurrent use.
type Reader struct {
	r       io.ReaderAt
	header  Header
	trailer *Trailer
	dataLen int64
	err     error // a bad frame table given to OpenFrames; every read returns it
	cache   *frameCache
	shared  bool // cache is a FrameCache of several Readers
}

// Open reads the footer, the trailer and the header of an archive of size
// bytes and checks that they agree.
func Open(r io.ReaderAt, size int64) (*Reader, error) {
	h, dataStart, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	if size < dataStart+FooterSize {
		return nil, truncatedf("file of %d bytes ends before the footer", size)
	}
	b, err := readAt(r, size-FooterSize, FooterSize)
	if err != nil {
		return nil, err
	}
	ft, err := parseFooter(b, size-FooterSize)
	if err != nil {
		return nil, err
	}
	if ft.offset < dataStart || ft.clen > size || ft.offset+ft.clen != size-FooterSize {
		return nil, corruptf("footer: trailer at offset %d of %d bytes does not end at the footer", ft.offset, ft.clen)
	}
	t, err := readTrailer(r, ft, dataStart)
	if err != nil {
		return nil, err
	}
	if t.Header != h {
		return nil, corruptf("trailer at offset %d: its header differs from the file's", ft.offset)
	}
	end := dataStart
	if n := len(t.Frames); n > 0 {
		end = t.Frames[n-1].FileOffset + t.Frames[n-1].CompressedLen
	}
	if end != ft.offset {
		return nil, corruptf("trailer at offset %d: data frames end at %d", ft.offset, end)
	}
	return newReader(r, h, t), nil
}

// OpenFrames returns a Reader for ReadBlob, ReadFolder and BlobReader from
// a frame table stored elsewhere (by the index), without reading the
// header or trailer. Its Header is zero and its Trailer holds only the
// frames. A bad table makes every read fail with ErrCorrupt. The frames
// must not be modified afterwards.
func OpenFrames(r io.ReaderAt, frames []Frame) *Reader {
	rd := newReader(r, Header{}, &Trailer{Frames: frames})
	var logical int64
	for i := range frames {
		f := &frames[i]
		msg := checkFrame(f)
		if msg == "" && f.LogicalOffset != logical {
			msg = "logical offsets not contiguous"
		}
		if msg != "" {
			rd.err = corruptf("frame table entry %d: %s", i, msg)
			break
		}
		logical += f.Len
	}
	return rd
}

func newReader(r io.ReaderAt, h Header, t *Trailer) *Reader {
	return &Reader{r: r, header: h, trailer: t, dataLen: t.dataLen(), cache: newFrameCache(DefaultCacheFrames)}
}

// Header returns the archive's header.
func (r *Reader) Header() Header { return r.header }

// Trailer returns the archive's tables; they must not be modified.
func (r *Reader) Trailer() *Trailer { return r.trailer }

// SetCacheFrames sets how many decoded frames the Reader keeps (default
// DefaultCacheFrames, in a cache of its own); 0 turns the cache off.
func (r *Reader) SetCacheFrames(n int) {
	if r.shared {
		r.cache, r.shared = newFrameCache(n), false
		return
	}
	r.cache.setMax(n)
}

// UseCache makes the Reader keep its decoded frames in c, shared with other
// Readers, instead of a cache of its own. Call it before the first read.
func (r *Reader) UseCache(c *FrameCache) { r.cache, r.shared = c.c, true }

// Forget drops the Reader's frames from a shared cache, when the Reader is
// no longer used.
func (r *Reader) Forget() {
	if r.shared {
		r.cache.forget(r)
	}
}

// readAt reads n bytes at off; a file that ends first is truncated.
func readAt(r io.ReaderAt, off, n int64) ([]byte, error) {
	var b []byte
	return readInto(r, off, n, &b)
}

// readInto is readAt into *buf, which it grows when it is too small.
func readInto(r io.ReaderAt, off, n int64, buf *[]byte) ([]byte, error) {
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	m, err := r.ReadAt(b, off)
	if m == len(b) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		return nil, truncatedf("file ends at offset %d, inside %d bytes wanted at %d", off+int64(m), n, off)
	}
	return nil, fmt.Errorf("cannot read archive at offset %d: %w", off, err)
}

// readHeader reads the header frame and returns the header and the offset
// after it, where the data frames start.
func readHeader(r io.ReaderAt, size int64) (Header, int64, error) {
	b, err := readAt(r, 0, min(size, 16))
	if err != nil {
		return Header{}, 0, err
	}
	if len(b) == 0 || !isHeaderPrefix(b) {
		return Header{}, 0, notArchivef("no archive header at offset 0")
	}
	if len(b) < 16 {
		return Header{}, 0, truncatedf("file of %d bytes ends inside the header", size)
	}
	n := int64(binary.LittleEndian.Uint32(b[4:]))
	if n < 8 || n > maxHeader {
		return Header{}, 0, corruptf("header: bad payload length %d", n)
	}
	if size < 8+n {
		return Header{}, 0, truncatedf("file of %d bytes ends inside the header", size)
	}
	p, err := readAt(r, 16, n-8)
	if err != nil {
		return Header{}, 0, err
	}
	h, err := parseHeader(p)
	return h, 8 + n, err
}

// isHeaderPrefix reports whether b could be the start of an archive: the
// skippable frame magic, any length, then the header id.
func isHeaderPrefix(b []byte) bool {
	var want [16]byte
	binary.LittleEndian.PutUint32(want[:], headerMagic)
	copy(want[8:], headerID)
	for i, c := range b {
		if (i < 4 || i >= 8) && c != want[i] {
			return false
		}
	}
	return true
}

// parseHeader decodes the header payload after its id.
func parseHeader(p []byte) (Header, error) {
	var h Header
	d := dec{b: p, off: 16, what: "header"}
	decodeHeader(&d, &h)
	d.done()
	if d.err != nil {
		return Header{}, d.err
	}
	if h.Version != Version {
		return Header{}, notArchivef("archive format version %d; this build reads version %d", h.Version, Version)
	}
	return h, nil
}

// readTrailer reads and decodes the trailer frame the footer points at.
func readTrailer(r io.ReaderAt, ft footer, dataStart int64) (*Trailer, error) {
	if ft.dlen > trailerLimit(ft.clen) {
		return nil, corruptf("footer: trailer of %d bytes claims %d decompressed", ft.clen, ft.dlen)
	}
	z, err := readAt(r, ft.offset, ft.clen)
	if err != nil {
		return nil, err
	}
	p, err := decodeFrame(z, nil, ft.dlen, ft.dlen)
	if err != nil {
		return nil, corruptf("trailer frame at offset %d: %v", ft.offset, err)
	}
	d := dec{b: p, what: fmt.Sprintf("trailer frame at offset %d", ft.offset)}
	if kind := d.take(1, "record kind"); d.err == nil && kind[0] != kindTrailer {
		d.fail("record kind %q, not a trailer", kind[0])
	}
	if n := d.uvarint(); d.err == nil && n != uint64(len(d.b)) {
		d.fail("trailer record of %d bytes in %d", n, len(d.b))
	}
	t := &Trailer{}
	decodeTrailer(&d, t, dataStart)
	d.done()
	if d.err != nil {
		return nil, d.err
	}
	return t, nil
}

// frame returns the decoded frame i, from the cache when it is there; the
// caller calls release when it is done with the bytes.
func (r *Reader) frame(i int) (data []byte, release func(), err error) {
	return r.cache.get(frameKey{r, i}, func(buf []byte) ([]byte, error) {
		f := r.trailer.Frames[i]
		zp, _ := compressedBuffers.Get().(*[]byte)
		if zp == nil {
			zp = new([]byte)
		}
		defer compressedBuffers.Put(zp)
		z, err := readInto(r.r, f.FileOffset, f.CompressedLen, zp)
		if err != nil {
			return nil, err
		}
		p, err := decodeFrame(z, buf, f.Len, f.Len)
		if err != nil {
			return nil, corruptf("frame %d at offset %d: %v", i, f.FileOffset, err)
		}
		return p, nil
	})
}

// compressedBuffers holds buffers for the compressed bytes of frames,
// which are done with once decoded.
var compressedBuffers sync.Pool // of *[]byte

// checkLoc checks that loc lies within the data.
func (r *Reader) checkLoc(loc Location, what string) error {
	if r.err != nil {
		return r.err
	}
	if loc.Offset < 0 || loc.Length < 0 || loc.Length > MaxRecord || loc.Offset > r.dataLen-loc.Length {
		return corruptf("%s at logical offset %d of %d bytes: outside the %d bytes of data", what, loc.Offset, loc.Length, r.dataLen)
	}
	return nil
}

// frameAt returns the index of the frame that holds logical offset off.
func (r *Reader) frameAt(off int64) int {
	fr := r.trailer.Frames
	return sort.Search(len(fr), func(i int) bool { return fr[i].LogicalOffset+fr[i].Len > off })
}

// read appends the bytes at loc, which checkLoc has passed, to dst.
func (r *Reader) read(dst []byte, loc Location) ([]byte, error) {
	off, end := loc.Offset, loc.Offset+loc.Length
	for i := r.frameAt(off); off < end; i++ {
		p, release, err := r.frame(i)
		if err != nil {
			release()
			return nil, err
		}
		f := r.trailer.Frames[i]
		p = p[off-f.LogicalOffset : min(end-f.LogicalOffset, f.Len)]
		if len(dst)+len(p) > cap(dst) {
			// Double, up to the end of loc: what decoded so far is real,
			// and doubling copies a large blob a few times, not dozens.
			want := max(2*cap(dst), len(dst)+len(p))
			want = int(min(int64(want), int64(len(dst))+end-off))
			dst = slices.Grow(dst, want-len(dst))
		}
		dst = append(dst, p...)
		release()
		off += int64(len(p))
	}
	return dst, nil
}

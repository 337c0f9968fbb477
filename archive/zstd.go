package archive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// One decoder serves every reader: DecodeAll is safe for concurrent use.
// The cap limit makes each call decode at most cap(dst) bytes, which is how
// the callers bound memory per frame.
var decoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(MaxTrailer),
		zstd.WithDecoderMaxWindow(MaxFrameSize),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		panic(err) // the options are constants
	}
	return d
})

// newEncoder returns an encoder of a level for one Writer, which drops it
// at Close: its match history (the window, per compressor) is the largest
// thing a Writer holds, and a process that goes on after a backup (to
// index the archive) should not keep it. The window is MaxFrameSize so
// that every frame, the trailer too, decodes within the readers' window
// limit. Lower memory sizes that history by the window, not twice it;
// the output is the same.
func newEncoder(level zstd.EncoderLevel) (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderCRC(true),
		zstd.WithWindowSize(MaxFrameSize),
		zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderConcurrency(compressors))
}

// decodeFrame decodes src, which must be exactly one zstd frame with a
// checksum, into at most limit bytes. want is the exact size expected, or
// -1. The result reuses dst's memory when it is large enough.
func decodeFrame(src, dst []byte, limit, want int64) ([]byte, error) {
	if len(src) < 4 || binary.LittleEndian.Uint32(src) != zstdMagic {
		return nil, errors.New("no zstd frame")
	}
	r := sliceSource{b: src[4:]}
	info, err := walkFrame(&r)
	switch {
	case err != nil:
		return nil, err
	case len(r.b) > 0:
		return nil, fmt.Errorf("%d bytes after the frame", len(r.b))
	case !info.checksum:
		return nil, errors.New("frame has no checksum")
	case info.size > limit:
		return nil, fmt.Errorf("frame declares %d bytes, more than %d", info.size, limit)
	case info.size > info.bound:
		return nil, fmt.Errorf("frame declares %d bytes, its blocks hold at most %d", info.size, info.bound)
	case want >= 0 && info.size >= 0 && info.size != want:
		return nil, fmt.Errorf("frame declares %d bytes, the table %d", info.size, want)
	}
	limit = min(limit, info.bound)
	if info.size >= 0 {
		limit = info.size
	}
	if int64(cap(dst)) < limit {
		dst = make([]byte, 0, limit)
	}
	out, err := decoder().DecodeAll(src, dst[:0:limit])
	if err != nil {
		return nil, fmt.Errorf("zstd: %v", err)
	}
	if want >= 0 && int64(len(out)) != want {
		return nil, fmt.Errorf("frame holds %d bytes, the table says %d", len(out), want)
	}
	return out, nil
}

// frameSource yields the bytes of a frame piece by piece; a frame cut
// short gives io.ErrUnexpectedEOF.
type frameSource interface {
	next(n int) ([]byte, error)
}

// sliceSource walks a frame in memory.
type sliceSource struct{ b []byte }

func (s *sliceSource) next(n int) ([]byte, error) {
	if n > len(s.b) {
		return nil, io.ErrUnexpectedEOF
	}
	p := s.b[:n]
	s.b = s.b[n:]
	return p, nil
}

// streamSource reads a frame from a stream into buf, at most limit bytes.
type streamSource struct {
	r     io.Reader
	buf   []byte
	limit int
}

func (s *streamSource) next(n int) ([]byte, error) {
	if len(s.buf)+n > s.limit {
		return nil, errFrameTooLarge
	}
	s.buf = slices.Grow(s.buf, n)
	p := s.buf[len(s.buf) : len(s.buf)+n]
	if _, err := io.ReadFull(s.r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	s.buf = s.buf[:len(s.buf)+n]
	return p, nil
}

// frameInfo is what a zstd frame header says.
type frameInfo struct {
	size     int64 // declared content size, -1 when absent
	bound    int64 // most the blocks can decode to, from their headers
	checksum bool
}

var errFrameTooLarge = errors.New("frame larger than a frame can be here (a data frame, or a trailer listing the records read so far)")

// walkFrame reads the rest of a zstd frame whose magic number has been
// read already. It follows the block headers without decompressing, so that
// a caller knows the frame's extent, and can bound its memory, before the
// decoder sees it.
func walkFrame(src frameSource) (frameInfo, error) {
	info := frameInfo{size: -1}
	p, err := src.next(1)
	if err != nil {
		return info, err
	}
	fhd := p[0]
	single := fhd&0x20 != 0
	info.checksum = fhd&0x04 != 0
	if fhd&0x08 != 0 {
		return info, errors.New("reserved bit set in frame header")
	}
	if fhd&0x03 != 0 {
		return info, errors.New("frame uses a dictionary")
	}
	if !single {
		// The window descriptor; the decoder checks it against its limit.
		if _, err := src.next(1); err != nil {
			return info, err
		}
	}
	fcs := [4]int{0, 2, 4, 8}[fhd>>6]
	if fcs == 0 && single {
		fcs = 1
	}
	if fcs > 0 {
		p, err := src.next(fcs)
		if err != nil {
			return info, err
		}
		var v uint64
		for i := len(p) - 1; i >= 0; i-- {
			v = v<<8 | uint64(p[i])
		}
		if fcs == 2 {
			v += 256
		}
		// Clamp to a size larger than any limit that still fits an int64.
		info.size = int64(min(v, 2*MaxTrailer))
	}
	for {
		p, err := src.next(3)
		if err != nil {
			return info, err
		}
		h := uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16
		size := int(h >> 3)
		if size > 128<<10 {
			return info, errors.New("block larger than 128 KiB")
		}
		// A raw block holds its size in bytes, an RLE block one byte that
		// decodes to size bytes, a compressed block decodes to at most a
		// full block.
		n, out := size, int64(size)
		switch h >> 1 & 3 {
		case 1:
			n = 1
		case 2:
			out = 128 << 10
		case 3:
			return info, errors.New("reserved block type")
		}
		if _, err := src.next(n); err != nil {
			return info, err
		}
		info.bound += out
		if h&1 != 0 {
			break
		}
	}
	if info.checksum {
		if _, err := src.next(4); err != nil {
			return info, err
		}
	}
	return info, nil
}

// appendSkippable appends a zstd skippable frame.
func appendSkippable(dst []byte, magic uint32, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, magic)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// footer points at the trailer frame.
type footer struct {
	offset, clen, dlen int64
}

func (f footer) appendTo(dst []byte) []byte {
	p := make([]byte, 0, footerPayload)
	p = append(p, footerID...)
	p = binary.LittleEndian.AppendUint64(p, uint64(f.offset))
	p = binary.LittleEndian.AppendUint64(p, uint64(f.clen))
	p = binary.LittleEndian.AppendUint64(p, uint64(f.dlen))
	p = binary.LittleEndian.AppendUint32(p, crc32.Checksum(p, castagnoli))
	return appendSkippable(dst, footerMagic, p)
}

// parseFooter parses the last FooterSize bytes of a file. Anything but a
// footer there means the file was cut short (ErrTruncated); a footer whose
// checksum fails is damaged (ErrCorrupt).
func parseFooter(b []byte, at int64) (footer, error) {
	le := binary.LittleEndian
	if len(b) != FooterSize || le.Uint32(b) != footerMagic ||
		le.Uint32(b[4:]) != footerPayload || string(b[8:16]) != footerID {
		return footer{}, truncatedf("no footer at offset %d: the archive was not closed or is cut short", at)
	}
	p := b[8:]
	if crc32.Checksum(p[:footerPayload-4], castagnoli) != le.Uint32(p[footerPayload-4:]) {
		return footer{}, corruptf("footer at offset %d: checksum mismatch", at)
	}
	f := footer{int64(le.Uint64(p[8:])), int64(le.Uint64(p[16:])), int64(le.Uint64(p[24:]))}
	if f.offset < 0 || f.clen <= 0 || f.dlen <= 0 {
		return footer{}, corruptf("footer at offset %d: bad trailer position", at)
	}
	return f, nil
}

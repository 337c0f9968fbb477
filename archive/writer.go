package archive

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// WriterOptions tune a Writer; the zero value gives the defaults.
type WriterOptions struct {
	// FrameSize is the uncompressed size at which the writer cuts a data
	// frame: DefaultFrameSize if 0, at most MaxFrameSize.
	FrameSize int
	// Level is the zstd level, zstd.SpeedDefault if 0.
	Level zstd.EncoderLevel
	// Copies writes a blob record for every AddBlob, also for a hash the
	// archive holds already, so that each folder's messages can be read
	// from the stream without the others'.
	Copies bool
	// FolderSpool, if set, is a directory for a temporary file that keeps
	// the folder records until Close, which writes them together in frames
	// of their own before the trailer: a later run then reads every folder
	// of the archive without decompressing a blob frame.
	FolderSpool string
}

// WriterStats count what a Writer wrote so far.
type WriterStats struct {
	Blobs        int   // distinct blobs
	BlobBytes    int64 // their uncompressed size
	Folders      int
	Frames       int   // data frames written
	BytesWritten int64 // file bytes written
}

// Writer writes an archive to a stream, never seeking: the header first,
// then the data frames, the trailer and the footer at Close. A Writer is
// not safe for concurrent use.
//
// The caller's goroutine fills one frame buffer while background goroutines
// compress the previous ones, one per core, and another writes them in
// order, so reading and hashing messages overlap with compression. Close
// must be called, also after an error, to stop those goroutines.
type Writer struct {
	w      io.Writer
	zenc   *zstd.Encoder
	size   int // frame size
	copies bool
	spool  *folderSpool // nil: folders are written where they are added

	// Used by the caller's goroutine only.
	cur     []byte // the frame being filled
	logical int64  // logical offset of the end of cur
	blobs   map[Hash]struct{}
	trailer Trailer // Blobs and Folders; Frames are added at Close
	scratch enc
	stats   WriterStats
	err     error // sticky
	closed  bool

	jobs    chan frameJob // to the compressors
	order   chan frameJob // the same jobs in order, to the output goroutine
	free    chan []byte   // frame buffers back from the compressors
	done    chan struct{} // closed when the output goroutine returns
	workers sync.WaitGroup

	mu      sync.Mutex // guards the fields below, set by the output goroutine
	frames  []Frame
	written int64
	werr    error
}

type frameJob struct {
	data    []byte
	logical int64
	length  int64       // len(data), which the compressor hands back
	out     chan []byte // the compressed frame
}

// compressors is how many frames are compressed at once; one more frame
// buffer is being filled.
var compressors = min(runtime.GOMAXPROCS(0), 4)

var errClosed = errors.New("archive writer is closed")

// NewWriter writes the header to w and returns a Writer for the rest.
// A zero h.Version means the current version.
func NewWriter(w io.Writer, h Header, opt WriterOptions) (*Writer, error) {
	if h.Version == 0 {
		h.Version = Version
	}
	if h.Version != Version {
		return nil, fmt.Errorf("cannot write archive format version %d", h.Version)
	}
	size := opt.FrameSize
	if size == 0 {
		size = DefaultFrameSize
	}
	if size < 0 || size > MaxFrameSize {
		return nil, fmt.Errorf("frame size %d out of range (1 to %d)", size, MaxFrameSize)
	}
	level := opt.Level
	if level == 0 {
		level = zstd.SpeedDefault
	}
	zenc, err := newEncoder(level)
	if err != nil {
		return nil, err
	}
	var e enc
	e.fixed([]byte(headerID))
	encodeHeader(&e, &h)
	hdr := appendSkippable(nil, headerMagic, e.b)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	var spool *folderSpool
	if opt.FolderSpool != "" {
		if spool, err = newFolderSpool(opt.FolderSpool); err != nil {
			return nil, err
		}
	}
	wr := &Writer{
		w: w, zenc: zenc, size: size, copies: opt.Copies, spool: spool,
		cur:     make([]byte, 0, size),
		blobs:   map[Hash]struct{}{},
		trailer: Trailer{Header: h},
		jobs:    make(chan frameJob, compressors),
		order:   make(chan frameJob, compressors+1),
		free:    make(chan []byte, compressors+1),
		done:    make(chan struct{}),
		written: int64(len(hdr)),
	}
	for range compressors {
		wr.free <- make([]byte, 0, size)
		wr.workers.Add(1)
		go wr.compress()
	}
	go wr.output()
	return wr, nil
}

// compress compresses frames as they come and hands their buffers back.
func (w *Writer) compress() {
	defer w.workers.Done()
	for j := range w.jobs {
		j.out <- w.zenc.EncodeAll(j.data, nil)
		w.free <- j.data[:0]
	}
}

// output writes the compressed frames in the order they were cut. After a
// write error it only drains them.
func (w *Writer) output() {
	defer close(w.done)
	for j := range w.order {
		z := <-j.out
		w.mu.Lock()
		if w.werr == nil {
			w.mu.Unlock()
			_, err := w.w.Write(z)
			w.mu.Lock()
			if err != nil {
				w.werr = err
			} else {
				w.frames = append(w.frames, Frame{FileOffset: w.written, CompressedLen: int64(len(z)),
					Len: j.length, LogicalOffset: j.logical})
				w.written += int64(len(z))
			}
		}
		w.mu.Unlock()
	}
}

// send hands a full frame buffer to the compressors.
func (w *Writer) send(data []byte) {
	j := frameJob{data: data, logical: w.logical - int64(len(data)), length: int64(len(data)), out: make(chan []byte, 1)}
	w.order <- j
	w.jobs <- j
}

// check returns the sticky error, picking up the compressor's.
func (w *Writer) check() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errClosed
	}
	w.mu.Lock()
	w.err = w.werr
	w.mu.Unlock()
	return w.err
}

// write appends to the logical stream, cutting a frame each time the
// buffer is full; records may span frames.
func (w *Writer) write(p []byte) {
	for len(p) > 0 {
		n := min(len(p), w.size-len(w.cur))
		w.cur = append(w.cur, p[:n]...)
		p = p[n:]
		w.logical += int64(n)
		if len(w.cur) == w.size {
			w.send(w.cur)
			w.cur = <-w.free
		}
	}
}

// writeRecordHeader writes a record's kind and payload length and returns
// the logical offset of the payload.
func (w *Writer) writeRecordHeader(kind byte, n int) int64 {
	var e enc
	e.b = append(make([]byte, 0, 11), kind)
	e.uvarint(uint64(n))
	w.write(e.b)
	return w.logical
}

// HasBlob reports whether the archive holds the blob already.
func (w *Writer) HasBlob(h Hash) bool {
	_, ok := w.blobs[h]
	return ok
}

// AddBlob writes a blob unless the archive holds it already; added tells
// which. The caller guarantees that h is the sha-256 of data.
func (w *Writer) AddBlob(h Hash, data []byte) (added bool, err error) {
	if err := w.check(); err != nil {
		return false, err
	}
	if w.HasBlob(h) && !w.copies {
		return false, nil
	}
	if len(data) > MaxRecord-len(h) {
		return false, fmt.Errorf("blob of %d bytes is larger than the format allows", len(data))
	}
	w.writeRecordHeader(kindBlob, len(h)+len(data))
	w.write(h[:])
	loc := Location{Offset: w.logical, Length: int64(len(data))}
	w.write(data)
	w.blobs[h] = struct{}{}
	w.trailer.Blobs = append(w.trailer.Blobs, BlobEntry{Hash: h, Loc: loc})
	w.stats.Blobs++
	w.stats.BlobBytes += int64(len(data))
	return true, nil
}

// AddFolder writes a folder record. Its blobs may come before or after it.
func (w *Writer) AddFolder(f *Folder) error {
	if err := w.check(); err != nil {
		return err
	}
	w.scratch.b = w.scratch.b[:0]
	encodeFolder(&w.scratch, f)
	if len(w.scratch.b) > MaxRecord {
		return fmt.Errorf("folder %s of %s: record of %d bytes is larger than the format allows", f.Name, f.User, len(w.scratch.b))
	}
	w.stats.Folders++
	if w.spool != nil {
		if err := w.spool.add(w.scratch.b); err != nil {
			w.err = err
		}
		return w.err
	}
	w.writeFolder(w.scratch.b)
	return nil
}

func (w *Writer) writeFolder(payload []byte) {
	off := w.writeRecordHeader(kindFolder, len(payload))
	w.write(payload)
	w.trailer.Folders = append(w.trailer.Folders, Location{Offset: off, Length: int64(len(payload))})
}

// cutFrame hands the frame being filled to the compressor.
func (w *Writer) cutFrame() {
	if len(w.cur) > 0 {
		w.send(w.cur)
		w.cur = <-w.free
	}
}

// writeSpooled writes the spooled folder records, starting a frame.
func (w *Writer) writeSpooled() error {
	w.cutFrame()
	return w.spool.each(func(payload []byte) error {
		w.writeFolder(payload)
		return w.check()
	})
}

// Close writes the last data frame, the trailer and the footer. It does
// not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	if w.spool != nil {
		if w.err == nil {
			w.err = w.writeSpooled()
		}
		w.spool.close()
	}
	if w.err == nil && len(w.cur) > 0 {
		w.send(w.cur)
	}
	close(w.jobs)
	close(w.order)
	w.workers.Wait()
	<-w.done
	w.mu.Lock()
	if w.err == nil {
		w.err = w.werr
	}
	w.mu.Unlock()
	w.closed = true
	if w.err == nil {
		w.err = w.finish()
	}
	w.zenc = nil
	return w.err
}

// finish writes the trailer, in a frame of its own, and the footer.
func (w *Writer) finish() error {
	w.trailer.Frames = w.frames
	var e enc
	encodeTrailer(&e, &w.trailer)
	rec := enc{b: []byte{kindTrailer}}
	rec.uvarint(uint64(len(e.b)))
	rec.fixed(e.b)
	if int64(len(rec.b)) > MaxTrailer {
		return fmt.Errorf("trailer of %d bytes is larger than the format allows", len(rec.b))
	}
	z := w.zenc.EncodeAll(rec.b, nil)
	if int64(len(rec.b)) > trailerLimit(int64(len(z))) {
		// Readers would take it for a zstd bomb.
		return fmt.Errorf("trailer of %d bytes compresses to %d, too well to be read back", len(rec.b), len(z))
	}
	ft := footer{offset: w.written, clen: int64(len(z)), dlen: int64(len(rec.b))}
	z = ft.appendTo(z)
	if _, err := w.w.Write(z); err != nil {
		return err
	}
	w.written += int64(len(z))
	return nil
}

// Stats returns what the writer wrote so far.
func (w *Writer) Stats() WriterStats {
	s := w.stats
	w.mu.Lock()
	s.Frames = len(w.frames)
	s.BytesWritten = w.written
	w.mu.Unlock()
	return s
}

package archive

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
)

// Folders decodes every folder record, in the order written.
func (r *Reader) Folders() ([]*Folder, error) {
	out := make([]*Folder, 0, len(r.trailer.Folders))
	for _, loc := range r.trailer.Folders {
		f, err := r.ReadFolder(loc)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// ReadFolder decodes the folder record whose payload is at loc.
func (r *Reader) ReadFolder(loc Location) (*Folder, error) {
	if err := r.checkLoc(loc, "folder"); err != nil {
		return nil, err
	}
	p, err := r.read(make([]byte, 0, min(loc.Length, 8<<20)), loc)
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
	return f, nil
}

// ReadBlob returns the bytes of the blob at loc, checked against h.
func (r *Reader) ReadBlob(h Hash, loc Location) ([]byte, error) {
	if err := r.checkLoc(loc, "blob"); err != nil {
		return nil, err
	}
	// Grow with what decodes rather than trusting the length up front.
	return r.AppendBlob(make([]byte, 0, min(loc.Length, 8<<20)), h, loc)
}

// AppendBlob appends the bytes of the blob at loc to dst, checked against
// h. A caller that knows the size of what it joins (a message stored in
// parts) gives dst that capacity, so that a large message is held once,
// not copied as it grows.
func (r *Reader) AppendBlob(dst []byte, h Hash, loc Location) ([]byte, error) {
	if err := r.checkLoc(loc, "blob"); err != nil {
		return nil, err
	}
	start := len(dst)
	b, err := r.read(dst, loc)
	if err != nil {
		return nil, err
	}
	if Hash(sha256.Sum256(b[start:])) != h {
		return nil, corruptf("blob %x at logical offset %d: sha-256 mismatch", h[:8], loc.Offset)
	}
	return b, nil
}

// BlobReader streams the blob at loc, one frame at a time, for blobs too
// large to hold. The hash is checked at the end: a mismatch gives an
// ErrCorrupt error instead of io.EOF.
func (r *Reader) BlobReader(h Hash, loc Location) io.Reader {
	return &blobReader{r: r, h: h, off: loc.Offset, loc: loc, sum: sha256.New(), err: r.checkLoc(loc, "blob")}
}

type blobReader struct {
	r   *Reader
	h   Hash
	loc Location
	off int64 // logical offset of the next byte
	sum hash.Hash
	err error // sticky; io.EOF at the end
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	end := b.loc.Offset + b.loc.Length
	if b.off == end {
		b.err = io.EOF
		if Hash(b.sum.Sum(nil)) != b.h {
			b.err = corruptf("blob %x at logical offset %d: sha-256 mismatch", b.h[:8], b.loc.Offset)
		}
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	i := b.r.frameAt(b.off)
	data, release, err := b.r.frame(i)
	defer release()
	if err != nil {
		b.err = err
		return 0, err
	}
	f := b.r.trailer.Frames[i]
	n := copy(p, data[b.off-f.LogicalOffset:min(end-f.LogicalOffset, f.Len)])
	b.sum.Write(p[:n])
	b.off += int64(n)
	return n, nil
}

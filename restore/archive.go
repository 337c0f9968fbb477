package restore

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/mailvault/mailvault/archive"
)

// ErrNotInArchive means a message's bytes are not in the archive being
// restored from (it was stored by an earlier run).
var ErrNotInArchive = errors.New("message bytes are not in this archive; restore from the repository that holds the earlier archives")

// ArchiveBlobs reads the blobs of a seekable archive file.
type ArchiveBlobs struct {
	r    *archive.Reader
	locs map[archive.Hash]archive.Location
}

// NewArchiveBlobs indexes the blobs of an open archive.
func NewArchiveBlobs(r *archive.Reader) *ArchiveBlobs {
	locs := map[archive.Hash]archive.Location{}
	for _, b := range r.Trailer().Blobs {
		locs[b.Hash] = b.Loc
	}
	return &ArchiveBlobs{r: r, locs: locs}
}

func (a *ArchiveBlobs) ReadBlob(h archive.Hash) ([]byte, error) {
	return a.AppendBlob(nil, h)
}

// AppendBlob appends the bytes of a blob to dst.
func (a *ArchiveBlobs) AppendBlob(dst []byte, h archive.Hash) ([]byte, error) {
	loc, ok := a.locs[h]
	if !ok {
		return nil, fmt.Errorf("blob %x: %w", h[:8], ErrNotInArchive)
	}
	if dst == nil {
		return a.r.ReadBlob(h, loc)
	}
	return a.r.AppendBlob(dst, h, loc)
}

// BlobLen returns the size of a blob, 0 for one not in the archive.
func (a *ArchiveBlobs) BlobLen(h archive.Hash) int64 { return a.locs[h].Length }

// BlobPlace returns where a blob lies in the archive (number 0). The
// archive's folders name the parts of their messages themselves.
func (a *ArchiveBlobs) BlobPlace(h archive.Hash) (uint32, archive.Location, []archive.Hash, error) {
	loc, ok := a.locs[h]
	if !ok {
		return 0, archive.Location{}, nil, fmt.Errorf("blob %x: %w", h[:8], ErrNotInArchive)
	}
	return 0, loc, nil, nil
}

// Spool keeps the blobs of an archive read from a pipe in a temporary file,
// so that a restore needs one pass over the stream even when a message of
// one user was stored in another user's part of it.
type Spool struct {
	f    *os.File
	locs map[archive.Hash]spooled
	end  int64
}

type spooled struct{ off, n int64 }

// ReadStream reads a whole archive stream, keeping its folder listings in
// memory and its blobs in a spool file under dir. The stream is checked to
// its trailer: a truncated or damaged stream is an error.
func ReadStream(sr *archive.StreamReader, dir string) ([]*archive.Folder, *Spool, error) {
	f, err := os.CreateTemp(dir, "mailvault-restore-*.spool")
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create spool file: %w", err)
	}
	os.Remove(f.Name()) // gone when closed, even after a crash
	sp := &Spool{f: f, locs: map[archive.Hash]spooled{}}
	var folders []*archive.Folder
	for {
		rec, err := sr.Next()
		if err == io.EOF {
			return folders, sp, nil
		}
		if err != nil {
			sp.Close()
			return nil, nil, err
		}
		switch {
		case rec.Folder != nil:
			folders = append(folders, rec.Folder)
		case rec.Blob != nil:
			if _, dup := sp.locs[rec.Blob.Hash]; dup {
				continue
			}
			if _, err := f.Write(rec.Blob.Data); err != nil {
				sp.Close()
				return nil, nil, fmt.Errorf("cannot write spool file: %w", err)
			}
			sp.locs[rec.Blob.Hash] = spooled{off: sp.end, n: int64(len(rec.Blob.Data))}
			sp.end += int64(len(rec.Blob.Data))
		}
	}
}

// ReadBlob reads a spooled blob back, checked against its hash.
func (sp *Spool) ReadBlob(h archive.Hash) ([]byte, error) {
	return sp.AppendBlob(nil, h)
}

// AppendBlob appends a spooled blob to dst, checked against its hash.
func (sp *Spool) AppendBlob(dst []byte, h archive.Hash) ([]byte, error) {
	s, ok := sp.locs[h]
	if !ok {
		return nil, fmt.Errorf("blob %x: %w", h[:8], ErrNotInArchive)
	}
	start := len(dst)
	dst = slices.Grow(dst, int(s.n))[:start+int(s.n)]
	data := dst[start:]
	if _, err := sp.f.ReadAt(data, s.off); err != nil {
		return nil, fmt.Errorf("cannot read spool file: %w", err)
	}
	if sha256.Sum256(data) != h {
		return nil, fmt.Errorf("blob %x changed in the spool file", h[:8])
	}
	return dst, nil
}

// BlobLen returns the size of a spooled blob, 0 for one not spooled.
func (sp *Spool) BlobLen(h archive.Hash) int64 { return sp.locs[h].n }

// ReadPlaced reads a blob at the place BlobPlace gave.
func (a *ArchiveBlobs) ReadPlaced(h archive.Hash, _ uint32, loc archive.Location) ([]byte, error) {
	return a.r.ReadBlob(h, loc)
}

// BlobPlace returns where a blob lies in the spool file (number 0).
func (sp *Spool) BlobPlace(h archive.Hash) (uint32, archive.Location, []archive.Hash, error) {
	s, ok := sp.locs[h]
	if !ok {
		return 0, archive.Location{}, nil, fmt.Errorf("blob %x: %w", h[:8], ErrNotInArchive)
	}
	return 0, archive.Location{Offset: s.off, Length: s.n}, nil, nil
}

// Close removes the spool.
func (sp *Spool) Close() error { return sp.f.Close() }

// ReadPlaced reads a spooled blob; the spool finds it by its hash alone.
func (sp *Spool) ReadPlaced(h archive.Hash, _ uint32, _ archive.Location) ([]byte, error) {
	return sp.ReadBlob(h)
}

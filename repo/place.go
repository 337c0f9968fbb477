package repo

import (
	"fmt"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// BlobPlace tells where a blob lies: the number of its archive and its
// location there, or, for a message stored in parts, its parts. A
// restore sorts its reads by it, so that each compressed frame is
// decoded once.
func (r *Repo) BlobPlace(h archive.Hash) (uint32, archive.Location, []archive.Hash, error) {
	b, err := r.Catalog.Blob(h)
	switch {
	case err != nil:
		return 0, archive.Location{}, nil, err
	case len(b.Parts) > 0 && archive.PartsHash(b.Parts...) != h:
		return 0, archive.Location{}, nil, errOtherParts(h)
	}
	return b.Archive, b.Loc, b.Parts, nil
}

// ReadPlaced is ReadBlob of a blob whose place BlobPlace gave, without
// looking it up again.
func (r *Repo) ReadPlaced(h archive.Hash, num uint32, loc archive.Location) ([]byte, error) {
	return r.readAt(h, index.Blob{Archive: num, Loc: loc})
}

// errOtherParts is a message whose parts, as the index names them, do not
// hash to it.
func errOtherParts(h archive.Hash) error {
	return fmt.Errorf("blob %x: the index names parts of another message; run 'mailvault index rebuild'", h[:8])
}

// errNestedParts is a part that the index says is stored in parts itself.
func errNestedParts(p archive.Hash) error {
	return fmt.Errorf("blob %x: a part that has parts: %w", p[:8], archive.ErrCorrupt)
}

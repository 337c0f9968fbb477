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

// BlobPlaces is BlobPlace of many blobs, looked up in the index's order
// in one transaction: each block of the index is read once, not once per
// blob (a restore looks up every blob of a batch of folders).
func (r *Repo) BlobPlaces(hs []archive.Hash) (nums []uint32, locs []archive.Location, parts [][]archive.Hash, errs []error) {
	recs, errs := r.Catalog.Blobs(hs)
	nums, locs, parts = make([]uint32, len(hs)), make([]archive.Location, len(hs)), make([][]archive.Hash, len(hs))
	for i, b := range recs {
		switch {
		case errs[i] != nil:
		case len(b.Parts) > 0 && archive.PartsHash(b.Parts...) != hs[i]:
			errs[i] = errOtherParts(hs[i])
		default:
			nums[i], locs[i], parts[i] = b.Archive, b.Loc, b.Parts
		}
	}
	return nums, locs, parts, errs
}

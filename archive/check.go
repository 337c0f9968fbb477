package archive

import "fmt"

// CheckFrame reads data frame i and decodes it, checking its zstd
// structure, its size against the frame table and its content checksum,
// without keeping it in the cache: what a full check of an archive does
// for every frame.
func (r *Reader) CheckFrame(i int) error {
	if r.err != nil {
		return r.err
	}
	fr := r.trailer.Frames
	if i < 0 || i >= len(fr) {
		return fmt.Errorf("no data frame %d: the archive has %d", i, len(fr))
	}
	f := fr[i]
	z, err := readAt(r.r, f.FileOffset, f.CompressedLen)
	if err != nil {
		return fmt.Errorf("frame %d at offset %d: %w", i, f.FileOffset, err)
	}
	if _, err := decodeFrame(z, nil, f.Len, f.Len); err != nil {
		return corruptf("frame %d at offset %d: %v", i, f.FileOffset, err)
	}
	return nil
}

package archive

import (
	"errors"
	"fmt"
)

// Errors returned by this package wrap one of these and say where in the
// archive the problem was found.
var (
	// ErrNotArchive: the file does not start with a mailvault archive header.
	ErrNotArchive = errors.New("not a mailvault archive")
	// ErrTruncated: the archive ends early, before its trailer or footer.
	ErrTruncated = errors.New("archive is truncated")
	// ErrCorrupt: a checksum, hash or structure does not match.
	ErrCorrupt = errors.New("archive is corrupt")
)

// Limits that bound what a reader allocates, whatever the file claims.
const (
	// MaxFrameSize is the largest decompressed size of a data frame.
	MaxFrameSize = 4 << 20
	// DefaultFrameSize is the writer's default frame size.
	DefaultFrameSize = 2 << 20
	// MaxRecord is the largest payload of a blob or folder record.
	MaxRecord = 1 << 30
	// MaxTrailer is the largest decompressed size of the trailer frame.
	MaxTrailer = 1 << 30
	// DefaultCacheFrames is how many decoded frames a Reader keeps.
	DefaultCacheFrames = 16
)

// Version is the format version this package writes and reads.
const Version = 1

const (
	headerMagic = 0x184D2A5E // zstd skippable frame, user nibble E
	footerMagic = 0x184D2A5F // zstd skippable frame, user nibble F
	zstdMagic   = 0xFD2FB528

	headerID = "MVLTARC1"
	footerID = "MVLTEND1"

	// The footer payload: id, trailer offset, compressed and decompressed
	// length, crc32c.
	footerPayload = 8 + 8 + 8 + 8 + 4
	// FooterSize is the fixed size of the footer frame at the end of a file.
	FooterSize = 8 + footerPayload

	maxHeader = 64 << 10 // header payload; a few names and numbers

	// A data frame is at most its content plus per-block and frame overhead.
	maxFrameCompressed = MaxFrameSize + 64<<10

	kindBlob    = 'B'
	kindFolder  = 'F'
	kindTrailer = 'T'
)

// trailerLimit bounds the decompressed size of a trailer frame of n
// compressed bytes. The tables are mostly hashes and varints, which compress
// little (a real trailer shrinks by less than a third), so a much larger
// claim is a zstd bomb, not a trailer: a file cannot make a reader allocate
// more than 32 times its size, plus 1 MiB.
func trailerLimit(n int64) int64 {
	return min(MaxTrailer, 32*n+1<<20)
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func truncatedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrTruncated, fmt.Sprintf(format, args...))
}

func notArchivef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotArchive, fmt.Sprintf(format, args...))
}

// Package archive reads and writes mailvault archive files, format v1:
// the complete state of a set of mail folders at one backup run, and the
// message contents they name, in one immutable zstd-compressed file.
// FORMAT.md describes the bytes and the reasons for them.
//
// Words used here:
//
//   - blob: the bytes of one message file, named by their sha-256 (Hash).
//     An archive holds each blob at most once.
//   - folder: one user's mail folder, its control files and the list of its
//     messages (Folder); messages point at blobs by hash.
//   - logical stream: the records (blobs, folders, trailer) one after the
//     other, as `zstd -d` prints them. Locations are offsets in it.
//   - frame: an independent zstd frame holding a slice of the logical
//     stream; records may span frames.
//   - trailer: the last record, the archive's table of contents: the frame
//     table, the blob table and the folder table.
//   - footer: a fixed-size frame at the very end pointing at the trailer.
//
// A Writer writes an archive to any io.Writer, a pipe too: the footer comes
// last, so an archive whose writer failed or was killed is recognisable as
// truncated. Open reads an archive at random through io.ReaderAt, starting
// from the footer; OpenFrames serves blob reads from a frame table the index
// kept. A StreamReader reads an archive front to back without seeking and
// checks the trailer and footer against what it read.
//
// All errors about the file's contents wrap ErrNotArchive, ErrTruncated or
// ErrCorrupt and say where: file offset, frame, logical offset. Readers
// bound what they allocate by the limits of the format (MaxFrameSize,
// MaxRecord, MaxTrailer), whatever the file claims.
package archive

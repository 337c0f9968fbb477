package index

import (
	badger "github.com/dgraph-io/badger/v4"

	"github.com/mailvault/mailvault/archive"
)

// A forgotten snapshot (mailvault forget) stays in the index, since later
// snapshots tell their folders as changes of its folder records, but it is
// hidden: Snapshots, Users and EachFolder leave it out, and so does
// everything that browses, restores, locates or verifies. Its archive is
// marked by archive.FlagForgotten in the ArchiveInfo's header, either
// because the archive says so (a rewrite by prune) or because the
// repository has a tombstone for it (MarkForgotten).

// MarkForgotten marks an ingested archive's snapshot forgotten. It reports
// whether anything changed.
func (c *Catalog) MarkForgotten(name string) (bool, error) {
	c.mu.Lock()
	var info *ArchiveInfo
	for _, a := range c.archives {
		if a.Name == name {
			info = a
		}
	}
	if info == nil || info.Header.Flags&archive.FlagForgotten != 0 {
		c.mu.Unlock()
		return false, nil
	}
	marked := *info
	marked.Header.Flags |= archive.FlagForgotten
	c.mu.Unlock()
	err := c.db.Update(func(txn *badger.Txn) error { return txn.Set(archiveKey(name), encodeArchive(&marked)) })
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	c.archives[marked.Num] = &marked
	c.mu.Unlock()
	return true, nil
}

// Relocate points the blobs whose bytes the index locates in one of the
// archives gone (archives prune deleted) at another archive that holds
// them, num at the locations of its blob table. Blobs located elsewhere
// are left.
func (c *Catalog) Relocate(gone map[uint32]bool, num uint32, blobs []archive.BlobEntry) error {
	wb := c.db.NewWriteBatch()
	defer wb.Cancel()
	for _, b := range blobs {
		cur, err := c.Blob(b.Hash)
		if err != nil || len(cur.Parts) > 0 || !gone[cur.Archive] {
			continue
		}
		if err := wb.Set(blobKey(b.Hash), encodeBlob(Blob{Archive: num, Loc: b.Loc})); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// snapID names a snapshot: server, group and time.
type snapID struct {
	server, group string
	time          int64
}

// hidden returns the snapshots of forgotten archives, for the listings to
// leave out.
func (c *Catalog) hidden() map[snapID]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[snapID]bool{}
	for _, a := range c.archives {
		if a.Header.Flags&archive.FlagForgotten != 0 {
			out[snapID{a.Header.Server, a.Header.Group, a.Header.Created}] = true
		}
	}
	return out
}

// Forgotten reports whether the archive numbered num holds a forgotten
// snapshot.
func (c *Catalog) Forgotten(num uint32) bool {
	a, ok := c.Archive(num)
	return ok && a.Header.Flags&archive.FlagForgotten != 0
}

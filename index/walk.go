package index

import (
	"fmt"

	"github.com/mailvault/mailvault/archive"
)

// FolderRef names one folder of one user in one snapshot.
type FolderRef struct {
	Server, Group, User string
	Time                int64
}

// EachFolder calls fn for every folder of every snapshot but the forgotten
// ones, in key order (server, group, user, time, folder).
func (c *Catalog) EachFolder(fn func(ref FolderRef, f *Folder) error) error {
	hidden := c.hidden() // forgotten snapshots
	return c.scan([]byte{prefixFolder}, func(k, v []byte) error {
		comps, rest, err := splitComps(k[1:], 3)
		if err != nil {
			return err
		}
		t, rest, err := readTime(rest)
		if err != nil {
			return err
		}
		name, _, err := splitComps(rest, 1)
		if err != nil {
			return err
		}
		if hidden[snapID{comps[0], comps[1], t}] {
			return nil
		}
		f, err := decodeFolder(name[0], v)
		if err != nil {
			return fmt.Errorf("folder %s of %s: %w", name[0], comps[2], err)
		}
		return fn(FolderRef{Server: comps[0], Group: comps[1], User: comps[2], Time: t}, f)
	})
}

// EachBlob calls fn for every blob location, in hash order: one scan,
// much cheaper than a Blob lookup per message when all are wanted.
func (c *Catalog) EachBlob(fn func(h archive.Hash, b Blob) error) error {
	return c.scan([]byte{prefixBlob}, func(k, v []byte) error {
		if len(k) != 1+len(archive.Hash{}) {
			return fmt.Errorf("%w: %q", errBadKey, k)
		}
		b, err := decodeBlob(v)
		if err != nil {
			return fmt.Errorf("blob %x: %w", k[1:9], err)
		}
		return fn(archive.Hash(k[1:]), b)
	})
}

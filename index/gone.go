package index

import (
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/mailvault/mailvault/archive"
)

// GoneArchive is an archive the index had ingested that is no longer in
// the repository's archives/. The index is rebuilt when that happens, and
// would forget the archive with the rest; this record keeps what it knew,
// so that 'mailvault verify' can still name the archive and the messages
// whose bytes went with it.
type GoneArchive struct {
	Info    ArchiveInfo // as ingested; Num is the number it had then
	Noticed int64       // unix ns when the index found it gone
	Lost    []LostMessage
}

// LostMessage is a message file whose bytes, or some part of them, were
// in a gone archive and in no other.
type LostMessage struct {
	Path  string         // server/group/user/folder/cur|new/name
	Times []int64        // the snapshots that list it, unix ns
	Blobs []archive.Hash // the blobs that hold its bytes
}

func goneKey(name string) []byte { return key(prefixGone, name) }

// PutGone records an archive that left archives/.
func (c *Catalog) PutGone(g *GoneArchive) error {
	var e enc
	e.bytes(encodeArchive(&g.Info))
	e.int(g.Noticed)
	e.uint(uint64(len(g.Lost)))
	for _, m := range g.Lost {
		e.str(m.Path)
		e.uint(uint64(len(m.Times)))
		for _, t := range m.Times {
			e.int(t)
		}
		e.uint(uint64(len(m.Blobs)))
		for _, h := range m.Blobs {
			e.fixed(h[:])
		}
	}
	return c.db.Update(func(txn *badger.Txn) error { return txn.Set(goneKey(g.Info.Name), e.b) })
}

// Gone lists the archives recorded as gone, by name.
func (c *Catalog) Gone() ([]*GoneArchive, error) {
	var out []*GoneArchive
	err := c.scan([]byte{prefixGone}, func(k, v []byte) error {
		comps, _, err := splitComps(k[1:], 1)
		if err != nil {
			return err
		}
		g, err := decodeGone(comps[0], v)
		if err != nil {
			return fmt.Errorf("gone archive %s: %w", comps[0], err)
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

func decodeGone(name string, v []byte) (*GoneArchive, error) {
	d := dec{b: v}
	info, err := decodeArchive(name, d.bytes())
	if err != nil {
		return nil, err
	}
	g := &GoneArchive{Info: *info, Noticed: d.int()}
	n := d.uint()
	if n > uint64(len(d.b)) {
		return nil, errBadValue
	}
	for range n {
		m := LostMessage{Path: d.str()}
		nt := d.uint()
		if nt > uint64(len(d.b)) {
			return nil, errBadValue
		}
		for range nt {
			m.Times = append(m.Times, d.int())
		}
		nb := d.uint()
		if nb > uint64(len(d.b))/32 {
			return nil, errBadValue
		}
		for range nb {
			var h archive.Hash
			d.fixed(h[:])
			m.Blobs = append(m.Blobs, h)
		}
		g.Lost = append(g.Lost, m)
	}
	return g, d.err
}

// ForgetGone drops the record of a gone archive: it is back, or its loss
// was meant.
func (c *Catalog) ForgetGone(name string) error {
	return c.db.Update(func(txn *badger.Txn) error { return txn.Delete(goneKey(name)) })
}

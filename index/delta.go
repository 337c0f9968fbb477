package index

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/mailvault/mailvault/archive"
)

// A folder told as a change of its origin (archive.Folder.Origin) gets a
// listing of its own. When the change is small it is stored as a delta of
// a whole listing, its base: the message keys the change adds or replaces,
// and an empty value for each file of the base it removes. A run after a
// delivery then writes the new messages of a busy INBOX, not all of them,
// and reads none of the old ones. A delta is always of a whole listing
// (a change of a delta is merged into it), so reading one costs its base
// and its own keys, and a delta that would hold more than half of its
// base is stored whole instead.

// head is what the marker of a listing tells: whole, or a delta of base.
type head struct {
	delta    bool
	base     ListingID // the listing itself when whole
	baseMsgs int       // message files of the base
}

func encodeHead(h head) []byte {
	if !h.delta {
		return nil
	}
	var e enc
	e.fixed(h.base[:])
	e.uint(uint64(h.baseMsgs))
	return e.b
}

func decodeHead(id ListingID, v []byte) (head, error) {
	if len(v) == 0 {
		return head{base: id}, nil
	}
	d := dec{b: v}
	h := head{delta: true}
	d.fixed(h.base[:])
	h.baseMsgs = int(d.uint())
	return h, d.err
}

// readHead reads the marker of a listing; a listing that is not stored
// reads as whole and empty, as its keys do.
func readHead(txn *badger.Txn, id ListingID) (head, error) {
	item, err := txn.Get(listingPrefix(prefixMessage, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return head{base: id}, nil
	}
	if err != nil {
		return head{}, err
	}
	var h head
	err = item.Value(func(v []byte) error {
		h, err = decodeHead(id, v)
		return err
	})
	if err == nil && h.delta && h.base == id {
		err = fmt.Errorf("listing %x is a delta of itself: %w", id[:8], errBadValue)
	}
	return h, err
}

// entry is a message key of a listing without the listing's prefix, and
// its value; an empty value in a delta removes the base's file.
type entry struct{ k, v []byte }

// eachEntry calls fn for every message key of a listing, in order, the
// marker left out.
func eachEntry(txn *badger.Txn, id ListingID, fn func(k, v []byte) error) error {
	prefix := listingPrefix(prefixMessage, id)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		k := item.Key()
		if len(k) == len(prefix) {
			continue
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if err := fn(k[len(prefix):], v); err != nil {
			return err
		}
	}
	return nil
}

// messages lists a listing's message files in key order (cur/ before
// new/, each by name): a whole one as stored, a delta merged with its
// base.
func messages(txn *badger.Txn, id ListingID, fn func(k, v []byte) error) error {
	h, err := readHead(txn, id)
	if err != nil || !h.delta {
		if err != nil {
			return err
		}
		return eachEntry(txn, id, fn)
	}
	var own []entry
	if err := eachEntry(txn, id, func(k, v []byte) error {
		own = append(own, entry{bytes.Clone(k), v})
		return nil
	}); err != nil {
		return err
	}
	emit := func(e entry) error {
		if len(e.v) == 0 {
			return nil // removed
		}
		return fn(e.k, e.v)
	}
	err = eachEntry(txn, h.base, func(k, v []byte) error {
		for len(own) > 0 && bytes.Compare(own[0].k, k) < 0 {
			if err := emit(own[0]); err != nil {
				return err
			}
			own = own[1:]
		}
		if len(own) > 0 && bytes.Equal(own[0].k, k) {
			e := own[0]
			own = own[1:]
			return emit(e) // replaced or removed
		}
		return fn(k, v)
	})
	for _, e := range own {
		if err == nil {
			err = emit(e)
		}
	}
	return err
}

// lookup finds one message file of a listing: in a delta's own keys, else
// in its base.
func lookup(txn *badger.Txn, id ListingID, h head, k []byte) (Message, bool, error) {
	get := func(l ListingID) ([]byte, bool, error) {
		item, err := txn.Get(append(listingPrefix(prefixMessage, l), k...))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		v, err := item.ValueCopy(nil)
		return v, true, err
	}
	v, ok, err := get(id)
	if err == nil && !ok && h.delta {
		v, ok, err = get(h.base)
	}
	if err != nil || !ok || len(v) == 0 {
		return Message{}, false, err
	}
	comps, _, err := splitComps(k, 2)
	if err != nil {
		return Message{}, false, err
	}
	m, err := decodeMessage(comps[0], comps[1], v)
	return m, err == nil, err
}

// putDelta writes the listing id of a folder told as change f of the
// listing origin.Listing, whose control files are controls, as a delta,
// and returns the folder's record; nil if the change is too large for a
// delta and the listing must be stored whole.
func (c *Catalog) putDelta(wb *badger.WriteBatch, id ListingID, origin *Folder, controls []archive.File, f *archive.Folder) (*Folder, error) {
	fr := folderOf(f)
	fr.Listing = id
	var h head
	own := map[string][]byte{}
	err := c.db.View(func(txn *badger.Txn) error {
		oh, err := readHead(txn, origin.Listing)
		if err != nil {
			return err
		}
		h = head{delta: true, base: oh.base, baseMsgs: origin.Msgs}
		if oh.delta {
			// A change of a delta: the origin's own keys, then the change.
			h.baseMsgs = oh.baseMsgs
			if err := eachEntry(txn, origin.Listing, func(k, v []byte) error {
				own[string(k)] = v
				return nil
			}); err != nil {
				return err
			}
		}
		// What the change touches leaves the origin; what it adds comes in.
		fr.Msgs, fr.Bytes = origin.Msgs, origin.Bytes
		touched := map[string]bool{}
		for _, r := range f.Removed {
			sub, name, ok := strings.Cut(r, "/")
			if !ok {
				return fmt.Errorf("folder %s of %s: removed file %q: %w", f.Name, f.User, r, archive.ErrCorrupt)
			}
			touched[string(appendComp(appendComp(nil, sub), name))] = true
		}
		for i := range f.Messages {
			touched[string(appendComp(appendComp(nil, f.Messages[i].Subdir), f.Messages[i].Name))] = true
		}
		for k := range touched {
			m, ok, err := lookup(txn, origin.Listing, oh, []byte(k))
			if err != nil {
				return err
			}
			if ok {
				fr.Msgs--
				fr.Bytes -= m.Size
				own[k] = nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range f.Messages {
		m := &f.Messages[i]
		fr.Msgs++
		fr.Bytes += m.Size
		im := Message{Subdir: m.Subdir, Name: m.Name, Size: m.Size, Mtime: m.Mtime, Mode: m.Mode, UID: m.UID, Blob: m.Blob, Link: m.Link, Nlink: m.Nlink}
		own[string(appendComp(appendComp(nil, m.Subdir), m.Name))] = encodeMessage(&im)
	}
	if 2*len(own) > h.baseMsgs {
		return nil, nil // most of it changed: as cheap to store whole
	}
	prefix := listingPrefix(prefixMessage, id)
	for _, k := range slices.Sorted(maps.Keys(own)) {
		if err := wb.Set(append(bytes.Clone(prefix), k...), own[k]); err != nil {
			return nil, err
		}
	}
	// Control files are a handful: the delta holds them whole.
	for _, cf := range f.Apply(&archive.Folder{Files: controls}).Files {
		if err := wb.Set(controlKey(id, cf.Name), encodeControl(&cf)); err != nil {
			return nil, err
		}
	}
	if err := putParts(wb, f.Messages); err != nil {
		return nil, err
	}
	return fr, wb.Set(prefix, encodeHead(h))
}

// putParts makes a message stored in parts findable by its hash like any
// blob.
func putParts(wb *badger.WriteBatch, msgs []archive.Message) error {
	for i := range msgs {
		if m := &msgs[i]; len(m.Parts) > 0 {
			if err := wb.Set(blobKey(m.Blob), encodeBlob(Blob{Parts: m.Parts})); err != nil {
				return err
			}
		}
	}
	return nil
}

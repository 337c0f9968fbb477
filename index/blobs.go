package index

import (
	"errors"
	"fmt"
	"sort"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/mailvault/mailvault/archive"
)

// Blobs says where each of many blobs lies, like Blob for each, in one
// read transaction and in key order: a reader that wants a folder's
// messages looks them up together, and neighbouring keys share the
// index's blocks. errs[i] is nil where out[i] was found.
func (c *Catalog) Blobs(hs []archive.Hash) (out []Blob, errs []error) {
	out, errs = make([]Blob, len(hs)), make([]error, len(hs))
	order := make([]int, len(hs))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return string(hs[order[a]][:]) < string(hs[order[b]][:]) })
	err := c.db.View(func(txn *badger.Txn) error {
		for _, i := range order {
			h := hs[i]
			item, err := txn.Get(blobKey(h))
			if errors.Is(err, badger.ErrKeyNotFound) {
				errs[i] = fmt.Errorf("blob %x: %w", h[:8], ErrNotFound)
				continue
			}
			if err != nil {
				errs[i] = err
				continue
			}
			errs[i] = item.Value(func(v []byte) error {
				var err error
				out[i], err = decodeBlob(v)
				return err
			})
		}
		return nil
	})
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return out, errs
}

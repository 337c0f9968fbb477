package index

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/mailvault/mailvault/archive"
)

func TestBlobsAnswersAsBlob(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, n := testArchive(t, "mail1", "staff", 100, map[string][]string{
		"alice@example.org": {"INBOX", "Sent"}, "bob@example.org": {"INBOX"}})
	if err := c.Ingest("a.mva", n, r); err != nil {
		t.Fatal(err)
	}
	var hs []archive.Hash
	c.EachBlob(func(h archive.Hash, _ Blob) error {
		hs = append(hs, h)
		return nil
	})
	missing := archive.Hash(sha256.Sum256([]byte("not stored")))
	// Out of key order, repeated, and one not there.
	hs = append([]archive.Hash{missing, hs[len(hs)-1]}, append(hs, hs[0])...)
	got, errs := c.Blobs(hs)
	for i, h := range hs {
		want, werr := c.Blob(h)
		if (errs[i] == nil) != (werr == nil) || werr != nil && errs[i].Error() != werr.Error() {
			t.Errorf("blob %d: Blobs says %v, Blob %v", i, errs[i], werr)
		}
		if werr == nil && (got[i].Archive != want.Archive || got[i].Loc != want.Loc) {
			t.Errorf("blob %d: Blobs gives %+v, Blob %+v", i, got[i], want)
		}
	}
	if !errors.Is(errs[0], ErrNotFound) {
		t.Errorf("missing blob: %v", errs[0])
	}
}

// BenchmarkBlobs looks up 2 000 blob locations, one transaction each and
// all in one, as the mount's read-ahead does.
func BenchmarkBlobs(b *testing.B) {
	c, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var hs []archive.Hash
	wb := c.db.NewWriteBatch()
	for i := range 2000 {
		h := archive.Hash(sha256.Sum256([]byte{byte(i), byte(i >> 8)}))
		hs = append(hs, h)
		if err := wb.Set(blobKey(h), encodeBlob(Blob{Archive: 1, Loc: archive.Location{Offset: int64(i) * 5000, Length: 5000}})); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	b.Run("Blob", func(b *testing.B) {
		for b.Loop() {
			for _, h := range hs {
				if _, err := c.Blob(h); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("Blobs", func(b *testing.B) {
		for b.Loop() {
			c.Blobs(hs)
		}
	})
}

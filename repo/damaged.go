package repo

import (
	"fmt"
	"sort"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// badMessage is a message file some of whose bytes cannot be read.
type badMessage struct {
	path  string  // server/group/user/folder/cur|new/name
	times []int64 // the snapshots that list it
	blobs []archive.Hash
	why   string
}

// blobJudge says why the bytes of blob h, where the index locates them,
// cannot be read, or "" when they can.
type blobJudge func(h archive.Hash, b index.Blob) string

// badMessages walks every folder of every snapshot in the index and
// returns the message files whose bytes, or some part of them, judge
// finds bad or the index does not locate, sorted by path. Folders of
// several snapshots that share a listing are judged once.
//
// Messages listed without their bytes (archive.NotStored: backup --max-size
// left them for a later run) are no damage; they are counted in *leftOut
// (per snapshot, as walked) when leftOut is not nil.
func (r *Repo) badMessages(judge blobJudge, leftOut *int) ([]*badMessage, int, error) {
	table, err := r.blobTable()
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read the index: %w", err)
	}
	verdicts := map[archive.Hash]string{}
	blobVerdict := func(h archive.Hash) (index.Blob, string, error) {
		b, ok := table[h]
		if !ok {
			return b, "its bytes are in no archive of the repository", nil
		}
		if len(b.Parts) > 0 {
			return b, "", nil
		}
		why, ok := verdicts[h]
		if !ok {
			why = judge(h, b)
			verdicts[h] = why
		}
		return b, why, nil
	}
	type listingBad struct {
		path, why string // path below the folder: cur|new/name
		blobs     []archive.Hash
	}
	listings := map[index.ListingID][]listingBad{}
	notStored := map[index.ListingID]int{}
	byPath := map[string]*badMessage{}
	walked := 0
	err = r.Catalog.EachFolder(func(ref index.FolderRef, f *index.Folder) error {
		walked += f.Msgs
		bad, ok := listings[f.Listing]
		if !ok {
			msgs, err := r.Catalog.Messages(f.Listing)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				if m.Blob == archive.NotStored {
					notStored[f.Listing]++
					continue
				}
				b, why, err := blobVerdict(m.Blob)
				if err != nil {
					return err
				}
				blobs := []archive.Hash{m.Blob}
				if len(b.Parts) > 0 {
					blobs = b.Parts
					for _, p := range b.Parts {
						if _, why, err = blobVerdict(p); err != nil {
							return err
						}
						if why != "" {
							break
						}
					}
				}
				if why != "" {
					bad = append(bad, listingBad{m.Subdir + "/" + m.Name, why, blobs})
				}
			}
			listings[f.Listing] = bad
		}
		if leftOut != nil {
			*leftOut += notStored[f.Listing]
		}
		for _, b := range bad {
			p := fmt.Sprintf("%s/%s/%s/%s/%s", ref.Server, ref.Group, ref.User, f.Name, b.path)
			m := byPath[p]
			if m == nil {
				m = &badMessage{path: p, blobs: b.blobs, why: b.why}
				byPath[p] = m
			}
			m.times = append(m.times, ref.Time)
		}
		return nil
	})
	if err != nil {
		return nil, walked, fmt.Errorf("cannot read the index: %w", err)
	}
	out := make([]*badMessage, 0, len(byPath))
	for _, m := range byPath {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, walked, nil
}

// blobTable reads every blob location of the index at once.
func (r *Repo) blobTable() (map[archive.Hash]index.Blob, error) {
	out := map[archive.Hash]index.Blob{}
	err := r.Catalog.EachBlob(func(h archive.Hash, b index.Blob) error {
		out[h] = b
		return nil
	})
	return out, err
}

// rebuildWithout rebuilds the index after archives it had left archives/,
// and records each gone archive with the messages whose bytes went with
// it: the index would forget them otherwise, and with them what verify
// must report.
func (r *Repo) rebuildWithout(gone []*index.ArchiveInfo) ([]Problem, error) {
	nums := map[uint32]*index.ArchiveInfo{}
	for _, a := range gone {
		nums[a.Num] = a
	}
	lost, _, err := r.badMessages(func(h archive.Hash, b index.Blob) string {
		if a, ok := nums[b.Archive]; ok {
			return a.Name
		}
		return ""
	}, nil)
	if err != nil {
		lost = nil // an unreadable index remembers nothing; rebuild anyway
	}
	problems, err := r.Rebuild()
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	records := map[string]*index.GoneArchive{}
	for _, a := range gone {
		records[a.Name] = &index.GoneArchive{Info: *a, Noticed: now}
	}
	for _, m := range lost {
		g := records[m.why]
		if g == nil || r.readable(m.blobs) {
			continue // not of a gone archive, or its bytes are elsewhere too
		}
		g.Lost = append(g.Lost, index.LostMessage{Path: m.path, Times: m.times, Blobs: m.blobs})
	}
	for _, a := range gone {
		if err := r.Catalog.PutGone(records[a.Name]); err != nil {
			return nil, err
		}
	}
	return problems, nil
}

// readable reports whether the index locates every blob in an archive it
// has.
func (r *Repo) readable(blobs []archive.Hash) bool {
	for _, h := range blobs {
		b, err := r.Catalog.Blob(h)
		if err != nil || len(b.Parts) > 0 {
			return false
		}
		if _, ok := r.Catalog.Archive(b.Archive); !ok {
			return false
		}
	}
	return true
}

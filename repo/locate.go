package repo

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// LocateQuery names what a restore would read: a server, optionally one
// group, one user, one folder and one message file of it, as of the
// latest snapshot of each user taken at or before At (0: the latest).
type LocateQuery struct {
	Server, Group, User string
	// Rest is a folder name ("Archive/2002"), possibly followed by "/" and
	// a message file with or without its "cur/" or "new/"; "" for every
	// folder. It is matched as restore matches it: the longest folder name
	// it starts with.
	Rest string
	At   int64
	// Archive, if set, keeps only the users whose snapshot is in the
	// archive of that name (what an import brought in).
	Archive string
}

// Located is what a restore of a query needs, archive by archive.
type Located struct {
	Archives []ArchiveNeed // sorted by name
	Users    int
	Folders  int
	Messages int
	Bytes    int64 // the messages' sizes
	// Missing counts the messages whose bytes (or some part of them) are
	// in no archive of the repository: an incremental archive was imported
	// without the earlier archives that hold them.
	Missing MissingBlobs
	// LeftOut counts the messages listed without their bytes (backup
	// --max-size left them for a later run): no archive holds them.
	LeftOut      int
	LeftOutBytes int64
}

// ArchiveNeed is what a restore reads from one archive.
type ArchiveNeed struct {
	Name     string // file name under archives/
	Folders  int    // folder records held (the snapshot's archive)
	Messages int    // messages whose bytes, or some part of them, lie here
	Bytes    int64  // blob bytes read from here, each blob counted once
}

// MissingBlobs are the messages of a query that no archive holds.
type MissingBlobs struct {
	Messages int
	Bytes    int64          // the missing messages' sizes
	Blobs    []archive.Hash // the blobs not found, each once, sorted
}

// blobFinder says where a blob lies; the catalog is one.
type blobFinder interface {
	Blob(h archive.Hash) (index.Blob, error)
}

// Locate lists the archive files that a restore of the query needs: the
// archive of each user's snapshot (it holds the folder records) and the
// archives that hold the messages' bytes, with how much each gives.
func (r *Repo) Locate(q LocateQuery) (*Located, error) {
	groups := []string{q.Group}
	if q.Group == "" {
		var err error
		if groups, err = r.Groups(q.Server); err != nil {
			return nil, err
		}
	}
	out := &Located{}
	needs := map[uint32]*ArchiveNeed{}
	need := func(num uint32) *ArchiveNeed {
		n := needs[num]
		if n == nil {
			n = &ArchiveNeed{Name: r.ArchiveName(num)}
			needs[num] = n
		}
		return n
	}
	res := resolver{bf: r.Catalog, known: func(num uint32) bool { _, ok := r.Catalog.Archive(num); return ok }, seen: map[seenBlob]bool{}}
	missing := map[archive.Hash]bool{}
	origins := originFinder{r: r, byArchive: map[uint32]map[userFolder]int64{}}
	for _, g := range groups {
		users, err := r.Users(q.Server, g, q.At)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if q.User != "" && u.Name != q.User {
				continue
			}
			if q.Archive != "" && r.ArchiveName(u.Archive) != q.Archive {
				continue
			}
			folders, err := r.Folders(u.Server, u.Group, u.Name, u.Time)
			if err != nil {
				return nil, err
			}
			sel, msg, err := selectFolder(folders, q.Rest, u.Name)
			if err != nil {
				return nil, err
			}
			out.Users++
			// A full archive holds every blob its folders name: a restore
			// of its snapshot needs no other archive, whichever archive
			// the index names for a blob that several hold.
			var full uint32
			if a, ok := r.Catalog.Archive(u.Archive); ok && a.Header.Flags&archive.FlagFull != 0 {
				full = u.Archive
			}
			for _, f := range sel {
				msgs, err := r.Messages(f.Listing)
				if err != nil {
					return nil, err
				}
				if msg != "" {
					if msgs = pickMessage(msgs, msg); len(msgs) == 0 {
						return nil, fmt.Errorf("folder %s of %s has no message file %q in the backup", f.Name, u.Name, msg)
					}
				}
				out.Folders++
				need(u.Archive).Folders++
				// A folder told as a change needs the whole record it
				// changes, in the archive of an earlier snapshot.
				if full == 0 {
					num, ok, err := origins.archive(u, f.Name)
					if err != nil {
						return nil, err
					}
					if ok && num != u.Archive {
						need(num).Folders++
					}
				}
				for _, m := range msgs {
					out.Messages++
					out.Bytes += m.Size
					if m.LeftOut() {
						out.LeftOut++
						out.LeftOutBytes += m.Size
						continue
					}
					where, miss, err := res.resolve(m.Blob, full)
					if err != nil {
						return nil, fmt.Errorf("message %s/%s of %s, folder %s: %w", m.Subdir, m.Name, u.Name, f.Name, err)
					}
					for num, n := range where {
						a := need(num)
						a.Messages++
						a.Bytes += n
					}
					if len(miss) > 0 {
						out.Missing.Messages++
						out.Missing.Bytes += m.Size
						for _, h := range miss {
							missing[h] = true
						}
					}
				}
			}
		}
	}
	if out.Users == 0 {
		return nil, fmt.Errorf("nothing in the repository matches %s", q)
	}
	for _, n := range needs {
		out.Archives = append(out.Archives, *n)
	}
	sort.Slice(out.Archives, func(i, j int) bool { return out.Archives[i].Name < out.Archives[j].Name })
	for h := range missing {
		out.Missing.Blobs = append(out.Missing.Blobs, h)
	}
	sort.Slice(out.Missing.Blobs, func(i, j int) bool { return string(out.Missing.Blobs[i][:]) < string(out.Missing.Blobs[j][:]) })
	return out, nil
}

func (q LocateQuery) String() string {
	s := "/" + q.Server
	for _, p := range []string{q.Group, q.User, q.Rest} {
		if p == "" {
			break
		}
		s += "/" + p
	}
	return s
}

// resolver finds the archives that hold a message's bytes. A blob read
// once from an archive is not counted again: a restore reads it once.
type resolver struct {
	bf    blobFinder
	known func(num uint32) bool // whether an archive number is in the repository
	seen  map[seenBlob]bool     // blobs already counted
}

type seenBlob struct {
	archive uint32
	hash    archive.Hash
}

// resolve returns, for the message whose bytes have hash h, the bytes to
// read from each archive (blobs counted before give 0 but still name the
// archive), and the blobs that are in no archive. If full is not 0, it is
// a full archive that holds them all: the bytes are read from there.
func (s *resolver) resolve(h archive.Hash, full uint32) (map[uint32]int64, []archive.Hash, error) {
	b, err := s.bf.Blob(h)
	if errors.Is(err, index.ErrNotFound) {
		return nil, []archive.Hash{h}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	where := map[uint32]int64{}
	var missing []archive.Hash
	if len(b.Parts) == 0 {
		if !s.add(where, h, b, full) {
			return nil, []archive.Hash{h}, nil
		}
		return where, nil, nil
	}
	for _, p := range b.Parts {
		pb, err := s.bf.Blob(p)
		switch {
		case errors.Is(err, index.ErrNotFound):
			missing = append(missing, p)
		case err != nil:
			return nil, nil, err
		case len(pb.Parts) > 0:
			return nil, nil, fmt.Errorf("part %x of blob %x is itself in parts: %w", p[:8], h[:8], archive.ErrCorrupt)
		default:
			if !s.add(where, p, pb, full) {
				missing = append(missing, p)
			}
		}
	}
	return where, missing, nil
}

// add counts blob h at b (or in the full archive) in where, unless its
// archive is gone.
func (s *resolver) add(where map[uint32]int64, h archive.Hash, b index.Blob, full uint32) bool {
	num := b.Archive
	if full != 0 {
		num = full
	} else if s.known != nil && !s.known(num) {
		return false
	}
	n := where[num]
	if k := (seenBlob{num, h}); !s.seen[k] {
		s.seen[k] = true
		n += b.Loc.Length
	}
	where[num] = n
	return true
}

// selectFolder picks the folders that rest names: all of them, one
// folder, or one folder and a message file in it. The longest folder name
// that rest starts with wins, so that "Archive/2002" is not taken for
// folder "Archive" and message "2002".
func selectFolder(folders []*index.Folder, rest, user string) ([]*index.Folder, string, error) {
	if rest == "" {
		return folders, "", nil
	}
	sorted := append([]*index.Folder(nil), folders...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i].Name) > len(sorted[j].Name) })
	for _, f := range sorted {
		if rest == f.Name {
			return []*index.Folder{f}, "", nil
		}
		if msg, ok := strings.CutPrefix(rest, f.Name+"/"); ok {
			return []*index.Folder{f}, msg, nil
		}
	}
	return nil, "", fmt.Errorf("user %s has no folder %q in the backup", user, rest)
}

// pickMessage selects one message file by name, with or without its
// subdirectory.
func pickMessage(msgs []index.Message, name string) []index.Message {
	for _, m := range msgs {
		if name == m.Name || name == m.Subdir+"/"+m.Name {
			return []index.Message{m}
		}
	}
	return nil
}

type userFolder struct{ user, folder string }

// originFinder finds the archive that holds the whole record of a folder
// told as a change (archive.Folder.Origin). The index keeps the folder's
// listing, not where its records came from, so the folder records of the
// snapshot's archive are read, once per archive.
type originFinder struct {
	r         *Repo
	byArchive map[uint32]map[userFolder]int64 // the Origin of each folder told as a change
	snaps     map[snapID]uint32               // archive of each snapshot, loaded on first use
}

type snapID struct {
	group string
	time  int64
}

// archive returns the archive of the snapshot that folder of u is told
// against, and false when the folder is recorded whole.
func (o *originFinder) archive(u index.User, folder string) (uint32, bool, error) {
	m, ok := o.byArchive[u.Archive]
	if !ok {
		var err error
		if m, err = o.read(u.Archive); err != nil {
			return 0, false, err
		}
		o.byArchive[u.Archive] = m
	}
	t, ok := m[userFolder{u.Name, folder}]
	if !ok {
		return 0, false, nil
	}
	if o.snaps == nil {
		snaps, err := o.r.Snapshots(u.Server)
		if err != nil {
			return 0, false, err
		}
		o.snaps = map[snapID]uint32{}
		for _, s := range snaps {
			o.snaps[snapID{s.Group, s.Time}] = s.Archive
		}
	}
	num, ok := o.snaps[snapID{u.Group, t}]
	if !ok {
		return 0, false, fmt.Errorf("folder %s of %s is told as a change of the snapshot of %s, which is not in the index: %w",
			folder, u.Name, time.Unix(0, t).UTC().Format(time.RFC3339Nano), index.ErrNotFound)
	}
	return num, true, nil
}

// read lists the folders of an archive that are told as a change.
func (o *originFinder) read(num uint32) (map[userFolder]int64, error) {
	name := o.r.ArchiveName(num)
	ar, err := archive.OpenFile(o.r.ArchivePath(name))
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	m := map[userFolder]int64{}
	for _, loc := range ar.Trailer().Folders {
		f, err := ar.ReadFolder(loc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if f.Origin != 0 {
			m[userFolder{f.User, f.Name}] = f.Origin
		}
	}
	return m, nil
}

package backup

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/repo"
)

// state is what a run needs to know of the repository: which blobs it holds
// and each group's last complete snapshot. It is read from the archives
// themselves (their trailers and folder records), never from the index, so
// a backup neither waits for nor disturbs the process that holds the index
// (a running mount), and runs of different groups go on side by side.
type state struct {
	known []archive.Hash // blobs in the repository's archives, sorted, each once
	// first[p] is the index in known of the first hash whose first two
	// bytes are at least p (nil when known is empty): hashes are uniform,
	// so a lookup searches a bucket of a few, not all of them. A no-change
	// run looks up every blob of the base snapshot.
	first []int32
	bases map[string]string           // group → archive of its last complete snapshot
	snaps map[string]map[int64]string // group → snapshot time → archive, of the server
}

// loadState reads the trailers of the server's archives. Archives that
// cannot be read are reported and left out: their blobs are written again
// and no snapshot builds on them.
func loadState(l repo.Layout, server string) (*state, []repo.Problem) {
	st := &state{bases: map[string]string{}, snaps: map[string]map[int64]string{}}
	names, err := l.ArchiveNames()
	if err != nil {
		return st, []repo.Problem{{Object: l.ArchivesDir(), Err: err}}
	}
	var problems []repo.Problem
	// A forgotten snapshot is never a base: prune may have dropped blobs
	// its folders name. Its archive still serves as an origin (snaps).
	dead, err := l.Tombstones()
	if err != nil {
		problems = append(problems, repo.Problem{Object: l.ForgottenDir(), Err: err})
	}
	created := map[string]int64{}
	for _, n := range names {
		f, err := archive.OpenFile(l.ArchivePath(n))
		if err != nil {
			problems = append(problems, repo.Problem{Object: l.ArchivePath(n), Err: fmt.Errorf("%w; its messages are stored again", err)})
			continue
		}
		for _, b := range f.Trailer().Blobs {
			st.known = append(st.known, b.Hash)
		}
		h := f.Header()
		if h.Server == server {
			if st.snaps[h.Group] == nil {
				st.snaps[h.Group] = map[int64]string{}
			}
			st.snaps[h.Group][h.Created] = n
		}
		forgotten := dead[n] || h.Flags&archive.FlagForgotten != 0
		if h.Server == server && h.Flags&archive.FlagSince == 0 && !forgotten && h.Created >= created[h.Group] {
			created[h.Group], st.bases[h.Group] = h.Created, n
		}
		f.Close()
	}
	// A sorted slice holds the hashes in a third of the memory of a map
	// (they are most of a run's live heap), and a lookup costs about 18
	// comparisons.
	slices.SortFunc(st.known, func(a, b archive.Hash) int { return bytes.Compare(a[:], b[:]) })
	st.known = slices.Clip(slices.Compact(st.known))
	st.indexKnown()
	return st, problems
}

func bucketOf(h archive.Hash) int { return int(h[0])<<8 | int(h[1]) }

func (st *state) indexKnown() {
	if len(st.known) == 0 {
		return
	}
	st.first = make([]int32, 1<<16+1)
	j := 0
	for p := range 1 << 16 {
		for j < len(st.known) && bucketOf(st.known[j]) < p {
			j++
		}
		st.first[p] = int32(j)
	}
	st.first[1<<16] = int32(len(st.known))
}

func (st *state) has(h archive.Hash) bool {
	known := st.known
	if st.first != nil {
		p := bucketOf(h)
		known = known[st.first[p]:st.first[p+1]]
	}
	_, ok := slices.BinarySearchFunc(known, h, func(a, b archive.Hash) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// base reads a group's last complete snapshot user by user, in the order
// the run visits users (sorted by id, as runs write them).
type base struct {
	f       *archive.Opened
	next    int          // next folder record to read
	pending *priorFolder // read but of a later user
	time    int64        // when that snapshot was taken
}

// priorFolder is a folder record of the base snapshot and its position in
// the archive's folder table.
type priorFolder struct {
	*archive.Folder
	index uint32

	origin, whole *archive.Folder // set by origins.resolve
	resolveErr    error           // or why they cannot be
}

// originRef is where a new record of this folder that is told as a change
// points: the whole record the base's record points to, or the base's
// record itself when it is whole. Every change is told against a whole
// record, so reading a folder never follows a chain.
func (pf *priorFolder) originRef(baseTime int64) (int64, uint32) {
	if pf.Origin != 0 {
		return pf.Origin, pf.OriginIndex
	}
	return baseTime, pf.index
}

func openBase(l repo.Layout, name string) (*base, error) {
	f, err := archive.OpenFile(l.ArchivePath(name))
	if err != nil {
		return nil, err
	}
	f.SetCacheFrames(2) // folder records are read in order
	return &base{f: f, time: f.Header().Created}, nil
}

// user returns the folders of one user in the base snapshot. Users must be
// asked for in increasing order.
func (b *base) user(id string) (map[string]*priorFolder, error) {
	if b == nil {
		return nil, nil
	}
	out := map[string]*priorFolder{}
	for {
		f := b.pending
		if f == nil {
			locs := b.f.Trailer().Folders
			if b.next == len(locs) {
				return out, nil
			}
			af, err := b.f.ReadFolder(locs[b.next])
			if err != nil {
				return out, err
			}
			f = &priorFolder{Folder: af, index: uint32(b.next)}
			b.next++
		}
		switch c := cmp.Compare(f.User, id); {
		case c < 0:
			b.pending = nil // a user who is gone
		case c > 0:
			b.pending = f
			return out, nil
		default:
			b.pending = nil
			out[f.Name] = f
		}
	}
}

func (b *base) close() {
	if b != nil {
		b.f.Close()
	}
}

// origins reads folder records of the earlier archives that carried-over
// folders point to, keeping each archive open for the run.
type origins struct {
	l     repo.Layout
	snaps map[int64]string // snapshot time → archive
	open  map[string]*archive.Opened
}

// resolve sets pf.origin, the whole record of the folder that pf is told
// against (pf itself when it is whole), and pf.whole, the folder as pf
// tells it.
func (o *origins) resolve(pf *priorFolder) error {
	if pf.whole != nil || pf.resolveErr != nil {
		return pf.resolveErr
	}
	if pf.Origin == 0 {
		pf.origin, pf.whole = pf.Folder, pf.Folder
		return nil
	}
	f, err := o.read(pf)
	if err != nil {
		pf.resolveErr = err
		return err
	}
	pf.origin, pf.whole = f, pf.Apply(f)
	return nil
}

func (o *origins) read(pf *priorFolder) (*archive.Folder, error) {
	name := o.snaps[pf.Origin]
	if name == "" {
		return nil, fmt.Errorf("folder %s of %s: the snapshot of %d it is told against is gone", pf.Name, pf.User, pf.Origin)
	}
	a := o.open[name]
	if a == nil {
		var err error
		if a, err = archive.OpenFile(o.l.ArchivePath(name)); err != nil {
			return nil, err
		}
		a.SetCacheFrames(2)
		if o.open == nil {
			o.open = map[string]*archive.Opened{}
		}
		o.open[name] = a
	}
	locs := a.Trailer().Folders
	if int(pf.OriginIndex) >= len(locs) {
		return nil, fmt.Errorf("%s: folder record %d: %w", name, pf.OriginIndex, archive.ErrCorrupt)
	}
	f, err := a.ReadFolder(locs[pf.OriginIndex])
	if err != nil {
		return nil, err
	}
	if f.User != pf.User || f.Name != pf.Name || f.Origin != 0 {
		return nil, fmt.Errorf("%s: folder record %d is not %s of %s: %w", name, pf.OriginIndex, pf.Name, pf.User, archive.ErrCorrupt)
	}
	return f, nil
}

func (o *origins) close() {
	for _, a := range o.open {
		a.Close()
	}
}

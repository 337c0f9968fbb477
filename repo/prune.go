package repo

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mailvault/mailvault/archive"
)

// Prune frees the space of what no kept snapshot needs.
//
// It reads every archive (no index is needed, so it runs beside a mount)
// and computes the blobs the kept snapshots need: every message of every
// folder, a folder told as a change resolved against the record it names,
// every part of a message in parts. Then, for each archive of a forgotten
// snapshot:
//
//   - nothing of it needed: the file is deleted;
//   - some blobs needed, or its folder records are the origins of kept
//     snapshots' folders: a replacement is written under tmp/, flagged
//     archive.FlagForgotten, with the same snapshot time, the needed blobs
//     and all its folder records in their order (those told as a change
//     become empty whole records: no kept folder is told against them,
//     and the replacement then depends on no other archive);
//   - all of it needed, and no record told as a change: it stays as it is.
//
// The steps are ordered so that a kill at any point loses nothing kept:
// every replacement is synced and renamed into archives/ before any file
// is deleted, and a blob another archive holds too is dropped only where
// the plan keeps it elsewhere. Both copies present is fine (duplicates
// are harmless), and a rerun of prune finishes the work. Prune holds the
// repository's prune lock, so no backup runs meanwhile: a backup counts
// the blobs the repository holds when it starts and does not store them
// again.

// PruneOptions say how to prune.
type PruneOptions struct {
	DryRun bool
	// Plan, if set, is called with the plan before anything is changed.
	Plan func(*PruneReport)
}

// Prune actions.
const (
	PruneDelete  = "delete"
	PruneRewrite = "rewrite"
	PruneKeep    = "keep"
)

// PruneAction is what prune does with the archive of a forgotten snapshot.
type PruneAction struct {
	Archive       string // file name under archives/
	Server, Group string
	Time          int64
	Action        string // PruneDelete, PruneRewrite, PruneKeep
	Size          int64  // bytes of the archive
	Blobs         int    // distinct blobs it holds
	KeptBlobs     int    // blobs the kept snapshots need from it
	Origin        bool   // kept snapshots' folders are told as changes of its records
	NewArchive    string // PruneRewrite: the replacement, once written
	NewSize       int64
}

// PruneReport is the plan of a prune and, after it, what was done.
type PruneReport struct {
	Actions   []PruneAction
	Archives  int // archives in the repository before
	Kept      int // archives of kept snapshots
	Bytes     int64
	Freed     int64 // bytes freed (planned, until done)
	Deleted   int
	Rewritten int
	Problems  []Problem
	Done      bool
}

type pruneArchive struct {
	name      string
	size      int64
	h         archive.Header
	blobs     []archive.BlobEntry
	forgotten bool
	flagged   bool
}

type snapKey struct {
	server, group string
	time          int64
}

func (a *pruneArchive) key() snapKey { return snapKey{a.h.Server, a.h.Group, a.h.Created} }

// Prune plans and, unless opt.DryRun, does the prune.
func (l Layout) Prune(opt PruneOptions) (*PruneReport, error) {
	if err := check(string(l)); err != nil {
		return nil, err
	}
	if !opt.DryRun {
		lock, err := l.lockPrune(true)
		if err != nil {
			return nil, err
		}
		defer lock.Close()
		l.removePruneLeftovers()
	}
	rep, plan, err := l.planPrune()
	if err != nil {
		return nil, err
	}
	if opt.Plan != nil {
		opt.Plan(rep)
	}
	if opt.DryRun {
		return rep, nil
	}
	return rep, l.doPrune(rep, plan)
}

// planned is the work of one action.
type planned struct {
	a    *pruneArchive
	keep []archive.BlobEntry
}

func (l Layout) planPrune() (*PruneReport, []planned, error) {
	names, err := l.ArchiveNames()
	if err != nil {
		return nil, nil, err
	}
	dead, err := l.Tombstones()
	if err != nil {
		return nil, nil, err
	}
	rep := &PruneReport{Archives: len(names)}
	var all []*pruneArchive
	byKey := map[snapKey][]*pruneArchive{}
	for _, n := range names {
		f, err := archive.OpenFile(l.ArchivePath(n))
		if err != nil {
			if dead[n] {
				rep.Problems = append(rep.Problems, Problem{Object: l.ArchivePath(n), Err: fmt.Errorf("%w; a forgotten snapshot's archive that cannot be read is left as it is", err)})
				continue
			}
			return nil, nil, fmt.Errorf("%w: archives/%s cannot be read (%v), so prune cannot tell what its snapshot needs; run 'mailvault verify', and import a good copy or remove the file", ErrDamaged, n, err)
		}
		h := f.Header()
		a := &pruneArchive{name: n, size: f.Size(), h: h, blobs: f.Trailer().Blobs,
			flagged: h.Flags&archive.FlagForgotten != 0}
		a.forgotten = a.flagged || dead[n]
		f.Close()
		rep.Bytes += a.size
		all = append(all, a)
		byKey[a.key()] = append(byKey[a.key()], a)
	}

	// What the kept snapshots need.
	o := &originReader{l: l, byKey: byKey, open: map[string]*archive.Opened{}, cache: map[originRef]*archive.Folder{}}
	defer o.close()
	needed := map[archive.Hash]bool{}
	covered := map[archive.Hash]bool{}
	originOf := map[snapKey]bool{}
	for _, a := range all {
		if a.forgotten {
			continue
		}
		rep.Kept++
		for _, b := range a.blobs {
			covered[b.Hash] = true
		}
		err := eachFolder(l, a.name, func(_ int, f *archive.Folder) error {
			whole := f
			if f.Origin != 0 {
				k := snapKey{a.h.Server, a.h.Group, f.Origin}
				originOf[k] = true
				origin, err := o.read(k, f)
				if err != nil {
					return err
				}
				whole = f.Apply(origin)
			}
			for i := range whole.Messages {
				for _, h := range whole.Messages[i].Blobs() {
					needed[h] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: archives/%s: %v; prune cannot tell what its snapshot needs, so it changes nothing (run 'mailvault verify')", ErrDamaged, a.name, err)
		}
	}

	// Who keeps what: rewrites of earlier prunes first, so a prune killed
	// after writing a replacement finishes with it.
	var cands []*pruneArchive
	for _, a := range all {
		if a.forgotten {
			cands = append(cands, a)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].flagged != cands[j].flagged {
			return cands[i].flagged
		}
		return cands[i].name < cands[j].name
	})
	provided := map[snapKey]bool{}
	var plan []planned
	for _, a := range cands {
		act := PruneAction{Archive: a.name, Server: a.h.Server, Group: a.h.Group, Time: a.h.Created, Size: a.size}
		var keep []archive.BlobEntry
		distinct := map[archive.Hash]bool{}
		for _, b := range a.blobs {
			distinct[b.Hash] = true
			if needed[b.Hash] && !covered[b.Hash] {
				keep = append(keep, b)
				covered[b.Hash] = true
			}
		}
		act.Blobs, act.KeptBlobs = len(distinct), len(keep)
		if k := a.key(); originOf[k] && !provided[k] {
			act.Origin, provided[k] = true, true
		}
		switch {
		case len(keep) == 0 && !act.Origin:
			act.Action = PruneDelete
			rep.Freed += a.size
		case len(keep) == len(distinct) && (a.flagged || allWhole(l, a.name)):
			act.Action = PruneKeep
		default:
			act.Action = PruneRewrite
			rep.Freed += a.size - estimate(a, keep)
		}
		rep.Actions = append(rep.Actions, act)
		plan = append(plan, planned{a: a, keep: keep})
	}
	return rep, plan, nil
}

// estimate guesses the size of a rewrite from the share of blob bytes it
// keeps, for the plan; the report gives the real size once written.
func estimate(a *pruneArchive, keep []archive.BlobEntry) int64 {
	var all, kept int64
	for _, b := range a.blobs {
		all += b.Loc.Length
	}
	for _, b := range keep {
		kept += b.Loc.Length
	}
	if all == 0 {
		return a.size
	}
	return a.size * kept / all
}

// allWhole reports whether no folder record of an archive is told as a
// change (or whether that cannot be read, which counts as no).
func allWhole(l Layout, name string) bool {
	whole := true
	err := eachFolder(l, name, func(_ int, f *archive.Folder) error {
		if f.Origin != 0 {
			whole = false
		}
		return nil
	})
	return err == nil && whole
}

func eachFolder(l Layout, name string, fn func(i int, f *archive.Folder) error) error {
	f, err := archive.OpenFile(l.ArchivePath(name))
	if err != nil {
		return err
	}
	defer f.Close()
	f.SetCacheFrames(2)
	for i, loc := range f.Trailer().Folders {
		af, err := f.ReadFolder(loc)
		if err != nil {
			return fmt.Errorf("folder record %d: %w", i, err)
		}
		if err := fn(i, af); err != nil {
			return err
		}
	}
	return nil
}

type originRef struct {
	key   snapKey
	index uint32
}

// originReader reads the whole records that folders told as a change
// name, from any archive of that snapshot.
type originReader struct {
	l     Layout
	byKey map[snapKey][]*pruneArchive
	open  map[string]*archive.Opened
	cache map[originRef]*archive.Folder
}

func (o *originReader) read(k snapKey, f *archive.Folder) (*archive.Folder, error) {
	ref := originRef{k, f.OriginIndex}
	if w, ok := o.cache[ref]; ok {
		return w, nil
	}
	var last error = fmt.Errorf("folder %s of %s is told as a change of the snapshot of %s, which is not in the repository",
		f.Name, f.User, time.Unix(0, k.time).UTC().Format(time.RFC3339Nano))
	for _, a := range o.byKey[k] {
		ar := o.open[a.name]
		if ar == nil {
			var err error
			if ar, err = archive.OpenFile(o.l.ArchivePath(a.name)); err != nil {
				last = err
				continue
			}
			ar.SetCacheFrames(2)
			o.open[a.name] = ar
		}
		locs := ar.Trailer().Folders
		if int(f.OriginIndex) >= len(locs) {
			last = fmt.Errorf("%s: folder record %d: %w", a.name, f.OriginIndex, archive.ErrCorrupt)
			continue
		}
		w, err := ar.ReadFolder(locs[f.OriginIndex])
		if err != nil {
			last = err
			continue
		}
		if w.User != f.User || w.Name != f.Name || w.Origin != 0 {
			last = fmt.Errorf("%s: folder record %d is not %s of %s: %w", a.name, f.OriginIndex, f.Name, f.User, archive.ErrCorrupt)
			continue
		}
		o.cache[ref] = w
		return w, nil
	}
	return nil, last
}

func (o *originReader) close() {
	for _, a := range o.open {
		a.Close()
	}
}

const prunePrefix = "prune-"

// removePruneLeftovers removes the unfinished replacements of a prune that
// was killed. Prune holds its lock, so no other prune writes them.
func (l Layout) removePruneLeftovers() {
	entries, _ := os.ReadDir(l.Tmp())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prunePrefix) && strings.HasSuffix(e.Name(), archiveExt) {
			os.Remove(filepath.Join(l.Tmp(), e.Name()))
		}
	}
}

func (l Layout) doPrune(rep *PruneReport, plan []planned) error {
	// First every replacement, on disk and in archives/.
	var remove []string
	for i, p := range plan {
		act := &rep.Actions[i]
		switch act.Action {
		case PruneRewrite:
			name, size, err := l.rewrite(p.a, p.keep)
			if err != nil {
				return fmt.Errorf("cannot rewrite archives/%s: %w (nothing was deleted; run prune again)", p.a.name, err)
			}
			act.NewArchive, act.NewSize = name, size
			rep.Rewritten++
			remove = append(remove, p.a.name)
		case PruneDelete:
			remove = append(remove, p.a.name)
		}
	}
	// A file deleted must have a tombstone, so the index knows its going
	// was meant (a rewrite has its flag, not a tombstone).
	if err := l.bury(remove); err != nil {
		return err
	}
	// Then the deletions: nothing kept needs the files any more.
	var errs []error
	for _, n := range remove {
		if err := os.Remove(l.ArchivePath(n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("cannot delete archives/%s: %w", n, err))
		}
	}
	if err := syncDir(l.ArchivesDir()); err != nil {
		errs = append(errs, err)
	}
	rep.Freed = 0
	for _, a := range rep.Actions {
		switch a.Action {
		case PruneDelete:
			rep.Deleted++
			rep.Freed += a.Size
		case PruneRewrite:
			rep.Freed += a.Size - a.NewSize
		}
	}
	rep.Done = len(errs) == 0
	return errors.Join(errs...)
}

// rewrite writes the replacement of a forgotten snapshot's archive: its
// header flagged FlagForgotten, the blobs keep, every folder record in
// order. It returns the new file's name and size once it is in archives/.
func (l Layout) rewrite(a *pruneArchive, keep []archive.BlobEntry) (string, int64, error) {
	src, err := archive.OpenFile(l.ArchivePath(a.name))
	if err != nil {
		return "", 0, err
	}
	defer src.Close()
	h := src.Header()
	rand.Read(h.ID[:])
	h.Flags = (h.Flags | archive.FlagForgotten) &^ archive.FlagFull
	name := ArchiveName(time.Unix(0, h.Created), h.Server, h.Group)
	tmp := filepath.Join(l.Tmp(), prunePrefix+name)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, err
	}
	fail := func(err error) (string, int64, error) {
		out.Close()
		os.Remove(tmp)
		return "", 0, err
	}
	w, err := archive.NewWriter(out, h, archive.WriterOptions{FolderSpool: l.Tmp()})
	if err != nil {
		return fail(err)
	}
	for _, b := range keep {
		data, err := src.ReadBlob(b.Hash, b.Loc)
		if err == nil {
			_, err = w.AddBlob(b.Hash, data)
		}
		if err != nil {
			w.Close()
			return fail(fmt.Errorf("blob %x: %w", b.Hash[:8], err))
		}
	}
	for i, loc := range src.Trailer().Folders {
		f, err := src.ReadFolder(loc)
		if err == nil {
			if f.Origin != 0 {
				f = placeholder(f)
			}
			err = w.AddFolder(f)
		}
		if err != nil {
			w.Close()
			return fail(fmt.Errorf("folder record %d: %w", i, err))
		}
	}
	if err := w.Close(); err != nil {
		return fail(err)
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	st, err := out.Stat()
	if err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, l.ArchivePath(name)); err != nil {
		os.Remove(tmp)
		return "", 0, err
	}
	return name, st.Size(), syncDir(l.ArchivesDir())
}

// placeholder stands in a replacement for a record told as a change: an
// empty whole record of the same folder. No kept folder is told against
// it (changes are told against whole records only), and it keeps the
// positions of the records after it.
func placeholder(f *archive.Folder) *archive.Folder {
	p := *f
	p.Origin, p.OriginIndex, p.Removed = 0, 0, nil
	p.Messages, p.Files = nil, nil
	return &p
}

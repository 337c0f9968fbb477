package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// Repo is an open repository with its index.
type Repo struct {
	Layout
	*index.Catalog

	// Note says how the index was opened when that is worth telling.
	Note string
	// Repaired says why the index was thrown away and rebuilt from the
	// archives when it was opened ("" when it was sound).
	Repaired string

	tmpIndex string // a private index built because the shared one was held

	relocated map[uint32]bool // pruned archives whose blobs Refresh found elsewhere

	mu      sync.Mutex // guards readers and frames
	readers map[uint32]*archiveFile
	frames  *archive.FrameCache // the decoded frames of all readers
}

// cachedFrames bounds the decoded frames a Repo keeps, whatever the number
// of archives read: about 32 MiB of frames of the default size. A mount
// keeps the messages it serves in a cache of its own.
const cachedFrames = 16

// Options say how to open a repository.
type Options struct {
	// Private allows building a private index from the archives when
	// another process holds the repository's index, instead of failing
	// with index.ErrLocked. Read-only commands use it, and their index is
	// kept compacted for reads (index.OpenForReads).
	Private bool
}

type archiveFile struct {
	f *os.File
	r *archive.Reader
}

// Problem is something that went wrong with one object while the work went
// on.
type Problem struct {
	Object string // what it was about, e.g. an archive file
	Err    error
}

func (p Problem) Error() string { return p.Object + ": " + p.Err.Error() }

// Open opens the repository in dir and its index, and brings the index up to
// date with the archives. A missing, stale or unreadable index is rebuilt.
// Problems with single archives (damaged, unreadable) are returned beside a
// working Repo; the archive is left out of the index.
func Open(dir string, opt Options) (*Repo, []Problem, error) {
	if err := check(dir); err != nil {
		return nil, nil, err
	}
	l := Layout(dir)
	l.removeStaleIndexes()
	l.removeStalePending()
	openIndex := index.Open
	if opt.Private {
		openIndex = index.OpenForReads
	}
	cat, err := openIndex(l.Index())
	if errors.Is(err, index.ErrLocked) && opt.Private {
		return openPrivate(l, openIndex)
	}
	if errors.Is(err, index.ErrLocked) {
		return nil, nil, err
	}
	repaired := ""
	if err != nil {
		// The index is a cache: throw it away and build it again.
		repaired = err.Error()
		if rerr := index.Remove(l.Index()); rerr != nil {
			return nil, nil, fmt.Errorf("%v; and cannot remove it: %w", err, rerr)
		}
		if cat, err = openIndex(l.Index()); err != nil {
			return nil, nil, err
		}
	}
	return start(&Repo{Layout: l, Catalog: cat, readers: map[uint32]*archiveFile{}, frames: archive.NewFrameCache(cachedFrames), Repaired: repaired})
}

func start(r *Repo) (*Repo, []Problem, error) {
	problems, err := r.Sync()
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, problems, nil
}

// openPrivate builds an index of its own under tmp/, for a reader that
// finds the repository's index held by another process (a running mount or
// backup). The archives are the truth, so this index is as good as the
// shared one; it is thrown away on Close.
func openPrivate(l Layout, openIndex func(string) (*index.Catalog, error)) (*Repo, []Problem, error) {
	dir, err := os.MkdirTemp(l.Tmp(), privateIndexPrefix)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create a private index: %w", err)
	}
	cat, err := openIndex(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	r := &Repo{Layout: l, Catalog: cat, readers: map[uint32]*archiveFile{}, frames: archive.NewFrameCache(cachedFrames), tmpIndex: dir,
		Note: "the index is held by another mailvault process; read the archives directly"}
	return start(r)
}

const privateIndexPrefix = "index-"

// removeStaleIndexes removes private indexes that crashed processes left
// behind; one still in use is locked by badger and stays.
func (l Layout) removeStaleIndexes() {
	entries, _ := os.ReadDir(l.Tmp())
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), privateIndexPrefix) {
			continue
		}
		dir := filepath.Join(l.Tmp(), e.Name())
		if c, err := index.Open(dir); err == nil {
			c.Close()
			os.RemoveAll(dir)
		}
	}
}

// Close closes the index and the archive files.
func (r *Repo) Close() error {
	r.closeReaders()
	err := r.Catalog.Close()
	if r.tmpIndex != "" {
		os.RemoveAll(r.tmpIndex)
	}
	return err
}

// Sync ingests the archives the index has not seen. If the index knows an
// archive that is no longer there, it is rebuilt, and remembers the gone
// archive and the messages whose bytes went with it (index.GoneArchive).
func (r *Repo) Sync() ([]Problem, error) {
	names, err := r.ArchiveNames()
	if err != nil {
		return nil, err
	}
	onDisk := map[string]bool{}
	for _, n := range names {
		onDisk[n] = true
	}
	dead, err := r.Tombstones()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	var gone []*index.ArchiveInfo
	pruned := false
	for _, a := range r.Catalog.Archives() {
		switch {
		case onDisk[a.Name]:
		case dead[a.Name]:
			pruned = true // left on purpose: not damage
		default:
			gone = append(gone, a)
		}
		known[a.Name] = true
	}
	if len(gone) > 0 {
		return r.rebuildWithout(gone)
	}
	if pruned {
		return r.Rebuild()
	}
	var todo []string
	for _, n := range names {
		if !known[n] {
			todo = append(todo, n)
		}
	}
	added, problems := r.ingestAll(todo)
	r.forgetReturned(added)
	if _, err := r.markForgotten(dead); err != nil {
		return problems, err
	}
	return problems, nil
}

// markForgotten marks in the index the archives that have tombstones,
// and returns those it marked now.
func (r *Repo) markForgotten(dead map[string]bool) ([]string, error) {
	var marked []string
	for _, a := range r.Catalog.Archives() {
		if !dead[a.Name] {
			continue
		}
		changed, err := r.Catalog.MarkForgotten(a.Name)
		if err != nil {
			return marked, fmt.Errorf("cannot write index: %w", err)
		}
		if changed {
			marked = append(marked, a.Name)
		}
	}
	return marked, nil
}

// forgetReturned drops the gone records of archives that are back.
func (r *Repo) forgetReturned(added []string) {
	gone, _ := r.Catalog.Gone()
	for _, g := range gone {
		if slices.Contains(added, g.Info.Name) {
			r.Catalog.ForgetGone(g.Info.Name)
		}
	}
}

// ingestAll ingests archives and returns those it took in. Names sort by
// the second of their snapshot; an archive that tells folders as changes
// of another of the same second may come first, so such an archive waits
// for another pass.
func (r *Repo) ingestAll(todo []string) (added []string, _ []Problem) {
	var problems, waiting []Problem
	for len(todo) > 0 {
		var later []string
		waiting = waiting[:0]
		for _, n := range todo {
			err := r.ingest(n)
			switch {
			case err == nil:
				added = append(added, n)
			case errors.Is(err, index.ErrNotFound):
				later = append(later, n)
				waiting = append(waiting, Problem{Object: r.ArchivePath(n), Err: err})
			default:
				problems = append(problems, Problem{Object: r.ArchivePath(n), Err: err})
			}
		}
		if len(later) == len(todo) {
			break
		}
		todo = later
	}
	return added, append(problems, waiting...)
}

func (r *Repo) ingest(name string) error {
	f, err := archive.OpenFile(r.ArchivePath(name))
	if err != nil {
		return err
	}
	defer f.Close()
	// An archive dropped into archives/ by hand is checked as an import
	// would check it: its server and group name directories of the mount.
	if err := validHeader(f.Header()); err != nil {
		return err
	}
	// Folder records are read once, in order: a frame or two is all the
	// cache that helps, and the default would hold 16 frames of 2 MiB.
	f.SetCacheFrames(2)
	return r.Catalog.Ingest(name, f.Size(), f.Reader)
}

// Rebuild throws the index away and builds it again from the archives.
// The records of gone archives are kept (see ForgetGone).
func (r *Repo) Rebuild() ([]Problem, error) {
	keep, _ := r.Catalog.Gone() // an unreadable index has nothing to keep
	r.closeReaders()
	if err := r.Catalog.Close(); err != nil {
		return nil, err
	}
	dir := r.Index()
	if r.tmpIndex != "" {
		dir = r.tmpIndex
	}
	if err := index.Remove(dir); err != nil {
		return nil, fmt.Errorf("cannot remove index: %w", err)
	}
	cat, err := index.Open(dir)
	if err != nil {
		return nil, err
	}
	r.Catalog = cat
	for _, g := range keep {
		if _, err := os.Stat(r.ArchivePath(g.Info.Name)); err == nil {
			continue // it is back
		}
		if err := cat.PutGone(g); err != nil {
			return nil, err
		}
	}
	return r.Sync()
}

// ForgetGone drops the records of gone archives, for an admin who removed
// them on purpose: 'mailvault verify' then stops reporting them.
func (r *Repo) ForgetGone() error {
	gone, err := r.Catalog.Gone()
	if err != nil {
		return err
	}
	for _, g := range gone {
		if err := r.Catalog.ForgetGone(g.Info.Name); err != nil {
			return err
		}
	}
	return nil
}

// closeReaders closes the open archive files; archive numbers change when
// the index is rebuilt, so the next read opens them afresh.
func (r *Repo) closeReaders() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.readers {
		a.r.Forget()
		a.f.Close()
	}
	r.readers = map[uint32]*archiveFile{}
}

// ReadBlob returns the bytes of a blob, checked against its hash, or of a
// message stored in parts, joined.
func (r *Repo) ReadBlob(h archive.Hash) ([]byte, error) {
	b, err := r.Catalog.Blob(h)
	if err != nil {
		return nil, err
	}
	if len(b.Parts) > 0 {
		if archive.PartsHash(b.Parts...) != h {
			return nil, errOtherParts(h)
		}
		return r.joinParts(b.Parts)
	}
	return r.readAt(h, b)
}

// joinParts reads the parts of a message into one buffer of the size
// the index gives, so that a large message is held once while it is read.
func (r *Repo) joinParts(parts []archive.Hash) ([]byte, error) {
	blobs := make([]index.Blob, len(parts))
	var total int64
	for i, p := range parts {
		b, err := r.Catalog.Blob(p)
		if err != nil {
			return nil, err
		}
		if len(b.Parts) > 0 {
			return nil, errNestedParts(p)
		}
		blobs[i] = b
		total += b.Loc.Length
	}
	out := make([]byte, 0, min(total, archive.MaxRecord))
	for i, p := range parts {
		ar, err := r.reader(blobs[i].Archive)
		if err != nil {
			return nil, err
		}
		if out, err = ar.AppendBlob(out, p, blobs[i].Loc); err != nil {
			return nil, fmt.Errorf("archive %s: %w", r.ArchiveName(blobs[i].Archive), err)
		}
	}
	return out, nil
}

func (r *Repo) readAt(h archive.Hash, b index.Blob) ([]byte, error) {
	ar, err := r.reader(b.Archive)
	if err != nil {
		return nil, err
	}
	data, err := ar.ReadBlob(h, b.Loc)
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", r.ArchiveName(b.Archive), err)
	}
	return data, nil
}

// SetCachedFrames sets how many decoded frames the Repo keeps (16 by
// default), for a reader that comes back to the same frames (a mount: a
// user's messages lie in a few dozen frames, shared with other users).
func (r *Repo) SetCachedFrames(n int) {
	r.closeReaders() // their frames go with the old cache
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = archive.NewFrameCache(n)
}

// reader returns a blob reader for an archive, opening it on first use.
func (r *Repo) reader(num uint32) (*archive.Reader, error) {
	a, err := r.openArchive(num)
	if err != nil {
		return nil, err
	}
	return a.r, nil
}

// openArchive returns the open file of an archive and its reader, opening
// them on first use.
func (r *Repo) openArchive(num uint32) (*archiveFile, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.readers[num]; ok {
		return a, nil
	}
	info, ok := r.Catalog.Archive(num)
	if !ok {
		return nil, fmt.Errorf("archive number %d: %w", num, index.ErrNotFound)
	}
	f, err := os.Open(r.ArchivePath(info.Name))
	if err != nil {
		return nil, err
	}
	a := &archiveFile{f: f, r: archive.OpenFrames(f, info.Frames)}
	a.r.UseCache(r.frames)
	r.readers[num] = a
	return a, nil
}

// ArchiveName returns the file name of an ingested archive.
func (r *Repo) ArchiveName(num uint32) string {
	if a, ok := r.Catalog.Archive(num); ok {
		return a.Name
	}
	return fmt.Sprintf("archive #%d", num)
}

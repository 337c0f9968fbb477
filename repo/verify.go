package repo

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// ErrDamaged means verify found damage: a damaged, missing or unindexable
// archive, or messages that cannot be read.
var ErrDamaged = errors.New("the repository is damaged")

// VerifyOptions say how much a verify reads.
type VerifyOptions struct {
	// ReadData checks every blob's sha-256 besides the archives' structure
	// and every frame's checksum.
	ReadData bool
	// Sample, between 0 and 100, checks only that share of the blobs (a
	// random choice, with their sha-256) and decodes only the frames they
	// and the folder records lie in; 0 checks everything.
	Sample float64
	// Jobs is how many archives are checked at once (default: the cores).
	Jobs int
}

// VerifyReport is what a verify found.
type VerifyReport struct {
	Archives  int   `json:"archives"`
	Bytes     int64 `json:"bytes"`      // archive bytes on disk
	Frames    int   `json:"frames"`     // data frames decoded and checked
	Blobs     int   `json:"blobs"`      // blobs in the archives' tables
	BlobsRead int   `json:"blobs_read"` // blobs whose sha-256 was checked
	Folders   int   `json:"folders"`    // folder records decoded
	Messages  int   `json:"messages"`   // message files of every snapshot, walked in the index
	// LeftOut counts the messages of Messages listed without their bytes:
	// backup --max-size left them for a later run. They are no damage.
	LeftOut int `json:"left_out,omitempty"`

	Damaged   []Damage         `json:"damaged,omitempty"`   // one line per damage found in an archive
	Gone      []GoneArchive    `json:"gone,omitempty"`      // archives the index had that left archives/
	Unindexed []Unindexed      `json:"unindexed,omitempty"` // archives the index cannot take in
	Affected  []AffectedObject `json:"affected,omitempty"`  // messages and folders that cannot be read whole

	// IndexProblems are what was wrong with the index; it was rebuilt
	// from the archives (IndexRepaired), which are the truth.
	IndexProblems []string `json:"index_problems,omitempty"`
	IndexRepaired bool     `json:"index_repaired,omitempty"`
	Note          string   `json:"note,omitempty"`
}

// Damage is one damaged place of an archive file.
type Damage struct {
	Archive string `json:"archive"` // file name under archives/
	Offset  int64  `json:"offset"`  // file offset of the damaged frame, -1 when the problem is of the whole file
	Frame   int    `json:"frame"`   // data frame number, -1 when not in a data frame
	Problem string `json:"problem"`
}

func (d Damage) String() string {
	if d.Frame >= 0 {
		return fmt.Sprintf("archives/%s: frame %d at offset %d: %s", d.Archive, d.Frame, d.Offset, d.Problem)
	}
	return fmt.Sprintf("archives/%s: %s", d.Archive, d.Problem)
}

// GoneArchive is an archive that the index had ingested and that is no
// longer in archives/.
type GoneArchive struct {
	Archive  string    `json:"archive"`
	Server   string    `json:"server"`
	Group    string    `json:"group"`
	Snapshot string    `json:"snapshot"`
	Noticed  time.Time `json:"noticed"`
}

// Unindexed is an archive that is readable but that the index cannot take
// in, with why (a folder told as a change of a snapshot that is gone).
type Unindexed struct {
	Archive string `json:"archive"`
	Problem string `json:"problem"`
}

// AffectedObject is a message file (or a whole folder, Path ending in
// "/") that cannot be read whole, and why.
type AffectedObject struct {
	Path      string   `json:"path"`      // server/group/user/folder/cur|new/name
	Snapshots []string `json:"snapshots"` // the snapshots that list it
	Why       string   `json:"why"`
}

// Clean reports whether verify found nothing wrong that is still wrong.
func (v *VerifyReport) Clean() bool {
	return len(v.Damaged) == 0 && len(v.Gone) == 0 && len(v.Unindexed) == 0 && len(v.Affected) == 0
}

// DamagedArchives lists the names of the archives with damage, sorted.
func (v *VerifyReport) DamagedArchives() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range v.Damaged {
		if !seen[d.Archive] {
			seen[d.Archive] = true
			out = append(out, d.Archive)
		}
	}
	sort.Strings(out)
	return out
}

// Verify checks the repository in dir: the structure of every archive
// (header, footer, trailer, tables, folder records), every data frame's
// checksum, with ReadData every blob's sha-256; the index against the
// archives (every archive indexed, every blob located where an archive
// holds it, the frame tables the same); archives the index had that are
// gone. It names every damaged archive and every message file that cannot
// be read because of it, in whatever snapshot. A damaged index is rebuilt
// from the archives. The error is for a repository that cannot be
// checked at all; damage is in the report.
func Verify(dir string, opt VerifyOptions) (*VerifyReport, error) {
	if opt.Sample >= 100 {
		opt.ReadData, opt.Sample = true, 0
	}
	r, problems, err := Open(dir, Options{Private: true})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rep := &VerifyReport{Note: r.Note}
	if r.tmpIndex != "" {
		rep.Note += "; archives gone from archives/ are remembered only by the repository's index, held by that process: verify again when it is free to have them checked"
	}
	if r.Repaired != "" {
		rep.IndexProblems = append(rep.IndexProblems, "the index could not be opened ("+r.Repaired+")")
		rep.IndexRepaired = true
	}
	names, err := r.ArchiveNames()
	if err != nil {
		return nil, err
	}
	byName := map[string]*index.ArchiveInfo{}
	for _, a := range r.Catalog.Archives() {
		byName[a.Name] = a
	}
	checks := r.checkArchives(names, byName, opt)
	for _, n := range names {
		c := checks[n]
		rep.Archives++
		rep.Bytes += c.size
		rep.Frames += c.frames
		rep.Blobs += c.blobs
		rep.BlobsRead += c.blobsRead
		rep.Folders += c.folders
		rep.Damaged = append(rep.Damaged, c.damage...)
	}

	// The index against the archives: anything wrong, and the index is
	// rebuilt; the archives are the truth.
	if ip := r.checkIndex(names, checks); len(ip) > 0 {
		rep.IndexProblems = append(rep.IndexProblems, ip...)
		rep.IndexRepaired = true
		if problems, err = r.Rebuild(); err != nil {
			return nil, fmt.Errorf("cannot rebuild the index: %w", err)
		}
	}
	for _, p := range problems {
		if c := checks[baseName(p.Object)]; c != nil && !c.opened {
			continue // damaged; reported as such
		}
		rep.Unindexed = append(rep.Unindexed, Unindexed{Archive: baseName(p.Object), Problem: p.Err.Error()})
		rep.Affected = append(rep.Affected, r.unindexedFolders(p.Object, p.Err)...)
	}

	indexWrong := "" // set when the index names an archive it does not have
	judge := func(h archive.Hash, b index.Blob) string {
		a, ok := r.Catalog.Archive(b.Archive)
		if !ok {
			indexWrong = fmt.Sprintf("blob %x is in archive #%d, which the index does not have", h[:8], b.Archive)
			return indexWrong
		}
		c := checks[a.Name]
		if c == nil {
			return fmt.Sprintf("archive %s is not in archives/", a.Name)
		}
		return c.verdict(h, b.Loc)
	}
	bad, walked, err := r.badMessages(judge, &rep.LeftOut)
	if err != nil || indexWrong != "" {
		// The index answered the checks above but fails or is wrong when
		// read whole.
		if err == nil {
			err = errors.New(indexWrong)
		}
		rep.IndexProblems = append(rep.IndexProblems, err.Error())
		rep.IndexRepaired = true
		if _, err := r.Rebuild(); err != nil {
			return nil, fmt.Errorf("cannot rebuild the index: %w", err)
		}
		rep.LeftOut = 0
		if bad, walked, err = r.badMessages(judge, &rep.LeftOut); err != nil {
			return nil, err
		}
	}
	rep.Messages = walked
	seen := map[string]bool{}
	for _, m := range bad {
		seen[m.path] = true
		rep.Affected = append(rep.Affected, AffectedObject{Path: m.path, Snapshots: snapshotNames(m.times), Why: m.why})
	}

	gone, err := r.Catalog.Gone()
	if err != nil {
		return nil, fmt.Errorf("cannot read the index: %w", err)
	}
	for _, g := range gone {
		h := g.Info.Header
		rep.Gone = append(rep.Gone, GoneArchive{Archive: g.Info.Name, Server: h.Server, Group: h.Group,
			Snapshot: snapshotName(h.Created), Noticed: time.Unix(0, g.Noticed).UTC()})
		for _, m := range g.Lost {
			if seen[m.Path] || r.readable(m.Blobs) {
				continue
			}
			seen[m.Path] = true
			rep.Affected = append(rep.Affected, AffectedObject{Path: m.Path, Snapshots: snapshotNames(m.Times),
				Why: fmt.Sprintf("its bytes were in archive %s, which is gone", g.Info.Name)})
		}
	}
	sort.Slice(rep.Affected, func(i, j int) bool { return rep.Affected[i].Path < rep.Affected[j].Path })
	return rep, nil
}

func baseName(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}

func snapshotName(t int64) string { return time.Unix(0, t).UTC().Format(time.RFC3339Nano) }

func snapshotNames(ts []int64) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = snapshotName(t)
	}
	return out
}

// archiveCheck is what checking one archive file found.
type archiveCheck struct {
	name    string
	size    int64
	opened  bool // archive.Open accepted it
	openErr error
	tables  []archive.BlobEntry // its blob table, when opened
	frameT  []archive.Frame     // its frame table, or the index's copy of it
	badFr   map[int]string      // damaged data frames
	badBlob map[archive.Hash]string
	damage  []Damage

	frames, blobs, blobsRead, folders int
}

// verdict says why the blob at loc of this archive cannot be read, or "".
func (c *archiveCheck) verdict(h archive.Hash, loc archive.Location) string {
	if len(c.frameT) == 0 && !c.opened {
		return fmt.Sprintf("archive %s cannot be read: %v", c.name, c.openErr)
	}
	for i := range c.badFr {
		f := c.frameT[i]
		if loc.Offset < f.LogicalOffset+f.Len && f.LogicalOffset < loc.Offset+loc.Length {
			return fmt.Sprintf("its bytes are in damaged frame %d (offset %d) of archive %s", i, f.FileOffset, c.name)
		}
	}
	if _, ok := c.badBlob[h]; ok {
		return fmt.Sprintf("its bytes in archive %s fail their sha-256 (logical offset %d)", c.name, loc.Offset)
	}
	if !c.opened {
		return fmt.Sprintf("archive %s cannot be opened (%v); its bytes read only through the index, which loses them when rebuilt", c.name, c.openErr)
	}
	return ""
}

// checkArchives checks the archive files, several at once.
func (r *Repo) checkArchives(names []string, byName map[string]*index.ArchiveInfo, opt VerifyOptions) map[string]*archiveCheck {
	jobs := opt.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	out := make(map[string]*archiveCheck, len(names))
	var mu sync.Mutex // guards out
	work := make(chan string)
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				c := checkArchive(r.ArchivePath(n), n, byName[n], opt)
				mu.Lock()
				out[n] = c
				mu.Unlock()
			}
		}()
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	return out
}

// checkArchive checks one archive file: its structure through Open, each
// data frame (through the index's frame table when Open refuses the
// file, so that what still reads is told apart from what does not), the
// folder records and, with ReadData or Sample, the blobs.
func checkArchive(path, name string, info *index.ArchiveInfo, opt VerifyOptions) *archiveCheck {
	c := &archiveCheck{name: name, badFr: map[int]string{}, badBlob: map[archive.Hash]string{}}
	whole := func(err error) {
		c.damage = append(c.damage, Damage{Archive: name, Offset: -1, Frame: -1, Problem: err.Error()})
	}
	f, err := os.Open(path)
	if err != nil {
		c.openErr = err
		whole(err)
		return c
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		c.openErr = err
		whole(err)
		return c
	}
	c.size = st.Size()
	var rd *archive.Reader
	if ar, err := archive.Open(f, c.size); err != nil {
		c.openErr = err
		whole(err)
		if info == nil {
			return c
		}
		rd = archive.OpenFrames(f, info.Frames)
	} else {
		rd, c.opened = ar, true
		c.tables = ar.Trailer().Blobs
	}
	rd.SetCacheFrames(0)
	c.frameT = rd.Trailer().Frames

	// What to decode: every frame, or with a sample the frames of the
	// sampled blobs and of the folder records.
	sampled := func(archive.BlobEntry) bool { return opt.ReadData }
	want := func(int) bool { return true }
	if opt.Sample > 0 && opt.Sample < 100 && c.opened {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(len(name))))
		pick := map[archive.Hash]bool{}
		for _, b := range c.tables {
			if rng.Float64()*100 < opt.Sample {
				pick[b.Hash] = true
			}
		}
		sampled = func(b archive.BlobEntry) bool { return pick[b.Hash] }
		frames := map[int]bool{}
		mark := func(loc archive.Location) {
			for i, fr := range c.frameT {
				if loc.Offset < fr.LogicalOffset+fr.Len && fr.LogicalOffset < loc.Offset+max(loc.Length, 1) {
					frames[i] = true
				}
			}
		}
		for _, b := range c.tables {
			if pick[b.Hash] {
				mark(b.Loc)
			}
		}
		for _, loc := range rd.Trailer().Folders {
			mark(loc)
		}
		want = func(i int) bool { return frames[i] }
	}
	for i, fr := range c.frameT {
		if !want(i) {
			continue
		}
		c.frames++
		if err := rd.CheckFrame(i); err != nil {
			c.badFr[i] = frameProblem(err, i, fr.FileOffset)
			problem := c.badFr[i]
			if c.opened && holdsFolders(fr, rd.Trailer().Folders) {
				problem += "; the frame holds folder records, which the index still has: an index rebuild would lose the snapshot"
			}
			c.damage = append(c.damage, Damage{Archive: name, Offset: fr.FileOffset, Frame: i, Problem: problem})
		}
	}
	if !c.opened {
		return c
	}
	rd.SetCacheFrames(archive.DefaultCacheFrames)
	for _, loc := range rd.Trailer().Folders {
		if c.overlapsBad(loc) {
			continue
		}
		c.folders++
		if _, err := rd.ReadFolder(loc); err != nil {
			c.damage = append(c.damage, Damage{Archive: name, Offset: -1, Frame: -1, Problem: err.Error()})
		}
	}
	c.blobs = len(c.tables)
	for _, b := range c.tables {
		if !sampled(b) || c.overlapsBad(b.Loc) {
			continue
		}
		c.blobsRead++
		if _, err := rd.ReadBlob(b.Hash, b.Loc); err != nil {
			c.badBlob[b.Hash] = err.Error()
			c.damage = append(c.damage, Damage{Archive: name, Offset: -1, Frame: -1, Problem: err.Error()})
		}
	}
	return c
}

// frameProblem is the error of a damaged frame without the frame and
// offset that Damage tells anyway.
func frameProblem(err error, i int, off int64) string {
	s := err.Error()
	for _, prefix := range []string{
		fmt.Sprintf("%v: frame %d at offset %d: ", archive.ErrCorrupt, i, off),
		fmt.Sprintf("frame %d at offset %d: ", i, off),
	} {
		if len(s) > len(prefix) && s[:len(prefix)] == prefix {
			return s[len(prefix):]
		}
	}
	return s
}

// holdsFolders reports whether frame f holds some of the folder records.
func holdsFolders(f archive.Frame, folders []archive.Location) bool {
	for _, loc := range folders {
		if loc.Offset < f.LogicalOffset+f.Len && f.LogicalOffset < loc.Offset+max(loc.Length, 1) {
			return true
		}
	}
	return false
}

func (c *archiveCheck) overlapsBad(loc archive.Location) bool {
	for i := range c.badFr {
		f := c.frameT[i]
		if loc.Offset < f.LogicalOffset+f.Len && f.LogicalOffset < loc.Offset+max(loc.Length, 1) {
			return true
		}
	}
	return false
}

// checkIndex compares the index with the archives that opened: each is
// indexed with its size and frame table, and every blob of its table is
// located in an archive the index has, here at the same place.
func (r *Repo) checkIndex(names []string, checks map[string]*archiveCheck) []string {
	var out []string
	byName := map[string]*index.ArchiveInfo{}
	for _, a := range r.Catalog.Archives() {
		byName[a.Name] = a
	}
	table, err := r.blobTable()
	if err != nil {
		return []string{fmt.Sprintf("cannot read the index: %v", err)}
	}
	for _, n := range names {
		c := checks[n]
		info := byName[n]
		if !c.opened || info == nil {
			continue // damaged, or not indexed: reported with the archive
		}
		if info.Size != c.size || !reflect.DeepEqual(info.Frames, c.frameT) {
			out = append(out, fmt.Sprintf("the index has another size or frame table for archive %s", n))
			continue
		}
		wrong := 0
		var first string
		for _, b := range c.tables {
			ib, found := table[b.Hash]
			msg := ""
			switch {
			case !found:
				msg = fmt.Sprintf("blob %x is not in the index", b.Hash[:8])
			case len(ib.Parts) > 0:
				msg = fmt.Sprintf("blob %x is a message in parts in the index", b.Hash[:8])
			case ib.Archive == info.Num && ib.Loc != b.Loc:
				msg = fmt.Sprintf("blob %x is at another place in the index", b.Hash[:8])
			default:
				if _, ok := r.Catalog.Archive(ib.Archive); !ok {
					msg = fmt.Sprintf("blob %x is in archive #%d, which the index does not have", b.Hash[:8], ib.Archive)
				}
			}
			if msg != "" {
				if wrong == 0 {
					first = msg
				}
				wrong++
			}
		}
		if wrong > 0 {
			out = append(out, fmt.Sprintf("archive %s: %d blobs wrong in the index (%s)", n, wrong, first))
		}
	}
	return out
}

// unindexedFolders names the folders of an archive the index cannot take
// in: none of them is in the index.
func (r *Repo) unindexedFolders(path string, cause error) []AffectedObject {
	ar, err := archive.OpenFile(path)
	if err != nil {
		return nil
	}
	defer ar.Close()
	h := ar.Header()
	var out []AffectedObject
	for _, loc := range ar.Trailer().Folders {
		f, err := ar.ReadFolder(loc)
		if err != nil {
			continue // reported as damage
		}
		out = append(out, AffectedObject{
			Path:      fmt.Sprintf("%s/%s/%s/%s/", h.Server, h.Group, f.User, f.Name),
			Snapshots: []string{snapshotName(h.Created)},
			Why:       fmt.Sprintf("archive %s is not in the index: %v", baseName(path), cause),
		})
	}
	return out
}

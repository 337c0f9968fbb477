package backup

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"reflect"
	"sort"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/maildir"
	"github.com/mailvault/mailvault/repo"
)

// racyMtime is how close to a snapshot a directory mtime may be and still
// be trusted by the next run: a change within the same tick of the file
// system's clock (up to 2 s on some) would leave the mtime as it was.
const racyMtime = int64(2 * time.Second)

// groupRun is the backup of one group in one run.
type groupRun struct {
	opt   Options
	group string
	start time.Time
	prog  *progress
	st    *state
	base  *base
	orig  *origins

	Totals
	problems []repo.Problem
	warnings []repo.Problem
	w        *archive.Writer
	external bool // the archive names blobs it does not hold

	// With a size limit (Options.MaxSize) the run is planned first:
	// planning collects the messages it would read, and store then names
	// those that fit (see budget.go).
	planning  *[]candidate
	store     map[string]bool
	leavesOut bool // the plan leaves out messages of this group
	leftOut   []LeftOut

	pending *repo.Pending
	lock    *repo.Lock
	err     error
}

func newGroupRun(opt Options, res *Result, group string, prog *progress, st *state) *groupRun {
	return &groupRun{opt: opt, group: group, start: res.Start, prog: prog, st: st}
}

func (g *groupRun) problem(object string, err error) {
	g.problems = append(g.problems, repo.Problem{Object: object, Err: err})
}

// warn records a problem of the repository that the run worked around.
func (g *groupRun) warn(object string, err error) {
	g.warnings = append(g.warnings, repo.Problem{Object: object, Err: err})
}

// toRepo writes the group's archive under the repository's tmp/; the
// caller commits it.
func (g *groupRun) toRepo(users []maildir.User) error {
	l := g.opt.Repo
	lock, err := l.LockGroup(g.opt.Server, g.group)
	if err != nil {
		return err
	}
	g.lock = lock
	defer g.openPrior()()
	p, err := l.Create(repo.ArchiveName(g.start, g.opt.Server, g.group))
	if err != nil {
		return err
	}
	if err := g.write(p, l.Tmp(), users); err != nil {
		p.Abort()
		return err
	}
	g.pending = p
	return nil
}

// openPrior opens the group's last complete snapshot, which the run builds
// on, and returns what closes it.
func (g *groupRun) openPrior() (closeAll func()) {
	l := g.opt.Repo
	name := g.st.bases[g.group]
	if name == "" || g.opt.Full || !g.opt.Since.IsZero() {
		return func() {}
	}
	var err error
	if g.base, err = openBase(l, name); err != nil {
		g.warn(l.ArchivePath(name), fmt.Errorf("%w; every folder is read again", err))
	}
	g.orig = &origins{l: l, snaps: g.st.snaps[g.group]}
	b := g.base
	return func() {
		b.close()
		g.orig.close()
	}
}

// write writes the archive of the group's users to out.
func (g *groupRun) write(out io.Writer, spool string, users []maildir.User) error {
	h := archive.Header{
		Version: 1, Created: g.start.UnixNano(), Server: g.opt.Server, Group: g.group,
		Scope: g.opt.Scope.String(), Snapshot: g.start.Format(time.RFC3339Nano),
	}
	if !g.opt.Since.IsZero() {
		h.Flags |= archive.FlagSince
	}
	if _, err := io.ReadFull(rand.Reader, h.ID[:]); err != nil {
		return err
	}
	// The header goes first, before we know what the archive will hold: a
	// run that has nothing to build on (a full run, or the first one) holds
	// every blob it names, and says so.
	if g.opt.Full || len(g.st.known) == 0 && g.base == nil && !g.leavesOut {
		h.Flags |= archive.FlagFull
	}
	w, err := archive.NewWriter(out, h, archive.WriterOptions{Copies: g.opt.Copies, FolderSpool: spool})
	if err != nil {
		return err
	}
	g.w = w
	la := startLookahead(users, g.base != nil, g.base, g.orig, g.st)
	defer la.close()
	for i, u := range users {
		if err := g.user(u, la.take(i)); err != nil {
			w.Close()
			return err
		}
		g.Users++
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("cannot write the archive of group %s: %w", g.group, err)
	}
	g.BytesStored += w.Stats().BytesWritten
	return nil
}

// user writes every folder of one user, with what the lookahead found of
// them if ahead is not nil. Only a failure of the archive itself is
// returned; problems with the store are recorded.
func (g *groupRun) user(u maildir.User, ahead *lookedAhead) error {
	var prior map[string]*priorFolder
	var err error
	if ahead != nil {
		prior, err = ahead.prior, ahead.baseErr
	} else {
		prior, err = g.base.user(u.ID)
	}
	if err != nil {
		// The base is closed with the run (openPrior): the lookahead
		// may have it still.
		g.warn(g.opt.Repo.ArchivePath(g.st.bases[g.group]), fmt.Errorf("%w; the rest is read from the store", err))
		g.base, prior = nil, nil
	}
	var dirs []maildir.FolderDir
	if ahead != nil {
		dirs, err = ahead.dirs, ahead.err
	} else {
		dirs, err = maildir.ListFolders(u.Root)
	}
	if err != nil {
		g.problem(u.ID, err)
		return nil
	}
	ur := &userRun{g: g, u: u, prior: prior, links: map[uint64]archive.Message{}, ahead: ahead}
	for _, fd := range dirs {
		af, err := ur.folder(fd)
		if err != nil {
			return err
		}
		if af == nil {
			continue
		}
		if g.planning != nil {
			continue // only the messages to read were wanted
		}
		if err := g.w.AddFolder(af); err != nil {
			return err
		}
		g.Folders++
		g.prog.update(g)
	}
	return nil
}

// userRun is the backup of one user.
type userRun struct {
	g     *groupRun
	u     maildir.User
	prior map[string]*priorFolder     // folder name → its state in the base snapshot
	known map[string]*archive.Message // base name → message of the base snapshot, built on demand
	links map[uint64]archive.Message  // inode → a message file read in this run
	ahead *lookedAhead                // probes done ahead, or nil
}

// probe probes a folder, or returns what the lookahead found of it.
func (ur *userRun) probe(fd maildir.FolderDir) (*maildir.Folder, []error) {
	if ur.ahead != nil {
		if p, ok := ur.ahead.probes[fd.Dir]; ok {
			return p.f, p.errs
		}
	}
	return maildir.ProbeFolder(ur.u.Root, fd, knownControls(ur.prior[fd.Name], ur.g.base.time))
}

// scan lists a folder, or returns the listing the lookahead made of it.
func (ur *userRun) scan(fd maildir.FolderDir, prev *priorFolder) (*maildir.Folder, []error) {
	if ur.ahead != nil {
		if s, ok := ur.ahead.scans[fd.Dir]; ok {
			return s.f, s.errs
		}
	}
	return maildir.ScanFolderNew(ur.u.Root, fd, ur.knownCur(prev))
}

// folder backs up one folder; nil if it cannot be read at all.
func (ur *userRun) folder(fd maildir.FolderDir) (*archive.Folder, error) {
	g := ur.g
	where := ur.u.ID + "/" + fd.Name
	prev := ur.prior[fd.Name]
	if prev != nil {
		if err := g.orig.resolve(prev); err != nil {
			g.warn(where, fmt.Errorf("%w; the folder is read again", err))
			prev = nil
		}
	}
	if prev != nil {
		f, errs := ur.probe(fd)
		if f != nil && len(errs) == 0 && ur.unchanged(prev, f) {
			// Told against the same origin as before, with the same change.
			af := folderRecord(ur.u.ID, f)
			af.Files = changedFiles(af.Files, prev.origin.Files)
			af.Origin, af.OriginIndex = prev.originRef(g.base.time)
			af.Messages, af.Removed = prev.Messages, prev.Removed
			if prev.Origin == 0 {
				af.Messages = nil // prev is the origin: no change
			}
			g.Unchanged++
			g.count(prev.whole.Messages)
			return af, nil
		}
	}
	f, errs := ur.scan(fd, prev)
	for _, err := range errs {
		if f == nil && errors.Is(err, maildir.ErrVanished) {
			g.FoldersVanished++ // deleted meanwhile: nothing is lost
			continue
		}
		g.problem(where, err)
	}
	if f == nil {
		return nil, nil
	}
	if !g.opt.Since.IsZero() {
		since := g.opt.Since.UnixNano()
		kept := f.Messages[:0]
		for _, m := range f.Messages {
			if m.Mtime >= since {
				kept = append(kept, m)
			}
		}
		f.Messages = kept
	}
	af := folderRecord(ur.u.ID, f)
	msgs, err := ur.messages(f)
	if f.CurKept {
		msgs = append(ur.keptCur(prev, f), msgs...)
	}
	af.Messages = msgs
	g.count(msgs)
	if err == nil && prev != nil {
		ur.tellChange(af, prev)
	}
	return af, err
}

// knownCur returns the mtime at which the base snapshot listed the
// folder's cur/, if the run may take cur/'s messages from there when the
// mtime is the same (ScanFolderNew): a mail delivery changes new/ only,
// and a busy INBOX then costs the listing of new/, not an lstat of every
// message in cur/. 0 when it may not: no base, an mtime too close to the
// base snapshot to be trusted, or a message of cur/ whose bytes are not
// all stored (left out by a size limit, say), which must be read.
func (ur *userRun) knownCur(prev *priorFolder) int64 {
	if prev == nil {
		return 0
	}
	return knownCur(prev, ur.g.base.time, ur.g.stored)
}

// knownCur is userRun.knownCur for a resolved folder of the base taken at
// baseTime, with stored telling whether a message's bytes are stored.
func knownCur(prev *priorFolder, baseTime int64, stored func(*archive.Message) bool) int64 {
	if prev.whole == nil || prev.CurMtime == 0 || baseTime-prev.CurMtime < racyMtime {
		return 0
	}
	for i := range prev.whole.Messages {
		if m := &prev.whole.Messages[i]; m.Subdir == "cur" && !stored(m) {
			return 0
		}
	}
	return prev.CurMtime
}

// keptCur returns the messages of cur/ as the base snapshot has them, for
// a folder whose cur/ did not change (f.CurKept), numbered by the
// dovecot-uidlist read now, in name order as a listing gives them.
func (ur *userRun) keptCur(prev *priorFolder, f *maildir.Folder) []archive.Message {
	var out []archive.Message
	for _, m := range prev.whole.Messages {
		if m.Subdir != "cur" {
			continue
		}
		m.UID = f.UIDOf(m.Name)
		out = append(out, m)
		if m.Nlink > 1 {
			ur.links[m.Link] = m // as if read: a hard link elsewhere is found by it
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// tellChange rewrites a whole folder record as a change of the folder's
// origin when that is much smaller: a busy INBOX then costs its new and
// renamed messages, not all of them.
func (ur *userRun) tellChange(af *archive.Folder, prev *priorFolder) {
	origin := prev.origin
	if !sameNames(af.Files, origin.Files) {
		return
	}
	had := make(map[string]*archive.Message, len(origin.Messages))
	for i := range origin.Messages {
		had[origin.Messages[i].Path()] = &origin.Messages[i]
	}
	var added []archive.Message
	for i := range af.Messages {
		m := &af.Messages[i]
		if o := had[m.Path()]; o != nil && reflect.DeepEqual(*o, *m) {
			delete(had, m.Path())
			continue
		}
		delete(had, m.Path())
		added = append(added, *m)
	}
	var removed []string
	for p := range had {
		removed = append(removed, p)
	}
	sort.Strings(removed)
	if 2*(len(added)+len(removed)) > len(origin.Messages) {
		return // most of it changed: the whole record is as small
	}
	af.Files = changedFiles(af.Files, origin.Files)
	af.Origin, af.OriginIndex = prev.originRef(ur.g.base.time)
	af.Messages, af.Removed = added, removed
}

// unchanged reports whether a folder can be carried over from the base
// snapshot: cur/, new/ and dovecot-uidlist as they were, the mtimes old
// enough to be trusted, the same control files, and every blob the folder
// names still stored.
func (ur *userRun) unchanged(prev *priorFolder, f *maildir.Folder) bool {
	if prev.CurMtime != f.CurMtime || prev.NewMtime != f.NewMtime {
		return false
	}
	if ur.g.base.time-max(f.CurMtime, f.NewMtime) < racyMtime {
		return false
	}
	files := filesOf(f)
	if !sameNames(files, prev.whole.Files) || string(controlData(prev.whole.Files, "dovecot-uidlist")) != string(controlData(files, "dovecot-uidlist")) {
		return false
	}
	for i := range prev.whole.Messages {
		if !ur.g.stored(&prev.whole.Messages[i]) {
			return false
		}
	}
	return true
}

func sameNames(a, b []archive.File) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// changedFiles returns the control files that differ from the origin's: a
// carried-over folder records only those (see archive.Folder.Origin).
func changedFiles(files, origin []archive.File) []archive.File {
	var out []archive.File
	for i := range files {
		if !reflect.DeepEqual(files[i], origin[i]) {
			out = append(out, files[i])
		}
	}
	return out
}

// stored reports whether every blob of a message is in the repository
// or the archive being written.
func (g *groupRun) stored(m *archive.Message) bool {
	if m.LeftOut() {
		return false // a folder with such a message is read again, and it is stored
	}
	for _, h := range m.Blobs() {
		if !g.st.has(h) && (g.w == nil || !g.w.HasBlob(h)) {
			return false
		}
	}
	return true
}

// stored reports whether every blob of a message is in the repository's
// archives, as the run found them; unlike groupRun.stored it is safe to
// call beside the run.
func (st *state) stored(m *archive.Message) bool {
	if m.LeftOut() {
		return false
	}
	for _, h := range m.Blobs() {
		if !st.has(h) {
			return false
		}
	}
	return true
}

func (g *groupRun) count(msgs []archive.Message) {
	g.Messages += len(msgs)
	for i := range msgs {
		g.BytesTotal += msgs[i].Size
	}
}

func controlData(files []archive.File, name string) []byte {
	for _, f := range files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

func filesOf(f *maildir.Folder) []archive.File {
	var out []archive.File
	for _, c := range f.Files {
		out = append(out, archive.File{Name: c.Name, Mode: c.Mode, Mtime: c.Mtime, Data: c.Data})
	}
	return out
}

// folderRecord is a folder's record without its messages.
func folderRecord(user string, f *maildir.Folder) *archive.Folder {
	af := &archive.Folder{
		User: user, Name: f.Name, Dir: f.Dir, Keywords: f.Keywords,
		Mode: f.Mode, OwnerUID: f.UID, OwnerGID: f.GID, CurMtime: f.CurMtime, NewMtime: f.NewMtime,
		Files: filesOf(f),
	}
	if f.UIDList != nil {
		af.UIDValidity, af.NextUID, af.GUID = f.UIDList.UIDValidity, f.UIDList.NextUID, f.UIDList.GUID
	}
	return af
}

// linkOf names a file's inode: equal for hard links of one file, stable
// across the renames Dovecot does for flag changes.
func linkOf(m maildir.MessageFile) uint64 {
	h := fnv.New64a()
	var b [16]byte
	for i := range 8 {
		b[i] = byte(m.Dev >> (8 * i))
		b[8+i] = byte(m.Ino >> (8 * i))
	}
	h.Write(b[:])
	return h.Sum64() | 1
}

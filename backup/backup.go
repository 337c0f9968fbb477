// Package backup reads a message store and writes it into a repository:
// one archive per backup group per run, every run a complete snapshot.
//
// Runs are incremental. A blob (message bytes) already in the repository is
// not written again, and a folder whose cur/ and new/ directories and
// dovecot-uidlist did not change since the group's last snapshot is carried
// over from it without listing or reading its messages; a folder that did
// change is listed, and only message files that the last snapshot did not
// have are read. Maildir message files are never rewritten in place
// (Dovecot changes flags by renaming), so a file of the same base name, size
// and mtime holds the same bytes. A folder record is written as a change of
// the last whole record of that folder when the change is small
// (archive.Folder.Origin), so a snapshot costs what changed.
//
// A run with a size limit (Options.MaxSize) stores the newest new
// messages that fit and lists the others without their bytes
// (archive.NotStored); the folders that hold such messages are never
// carried over, so later runs store them (budget.go).
//
// A run needs the repository's blobs and each group's last snapshot; it
// reads them from the archive files (state.go), not from the index, so a
// mount that holds the index never blocks a backup. See package repo for
// how processes share a repository.
package backup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/mailvault/mailvault/groups"
	"github.com/mailvault/mailvault/maildir"
	"github.com/mailvault/mailvault/repo"
)

// Options say what to back up and where.
type Options struct {
	Repo repo.Layout
	// Output, if set, receives the archive instead of the repository (which
	// may then be ""): one self-contained archive of one group.
	Output io.Writer

	Server string
	Source *maildir.Location
	Groups *groups.Set
	Scope  groups.Scope

	// Full writes self-contained archives: every message is read from the
	// store and stored, none is carried over or taken from earlier archives.
	Full bool
	// Since, if set, limits the snapshot to messages received (mtime) at or
	// after it. Such a snapshot is partial: it is marked archive.FlagSince,
	// and later runs never build on it.
	Since time.Time
	// Copies stores every message file separately, also those that are
	// copies of each other; it implies Full.
	Copies bool
	// Jobs is how many groups are backed up at once (default 1).
	Jobs int

	// MaxSize, if more than 0, bounds the message bytes the run stores
	// (see budget.go); messages that do not fit are listed without their
	// bytes and left for a later run. Only for incremental runs into the
	// repository.
	MaxSize int64

	// Progress, if set, is called now and then with the running totals.
	Progress func(Totals)
	// Readers is how many message files are read at once (default 4):
	// overlapping reads hide the seek time of small files.
	Readers int
}

// Totals count what a run did.
type Totals struct {
	Users, Folders, Messages int
	Unchanged                int   // folders carried over from the last snapshot
	Vanished                 int   // message files expunged while the run read them
	FoldersVanished          int   // folders deleted while the run read them
	BytesTotal               int64 // size of the messages the snapshot lists
	BytesRead                int64 // message bytes read from the store
	BytesNew                 int64 // bytes of new blobs (before compression)
	BytesStored              int64 // archive bytes written (after compression)
	LeftOut                  int   // messages listed without their bytes (MaxSize)
	BytesLeftOut             int64 // their size
	// UsersInScope is how many users the run backs up in all: Progress
	// reports it beside Users, those done, for an estimate of the time left.
	UsersInScope int
}

// Saved is what single copy saved: the bytes the snapshot lists that it
// did not have to store again.
func (t Totals) Saved() int64 { return t.BytesTotal - t.BytesNew - t.BytesLeftOut }

func (t *Totals) add(o Totals) {
	t.Users += o.Users
	t.Folders += o.Folders
	t.Messages += o.Messages
	t.Unchanged += o.Unchanged
	t.Vanished += o.Vanished
	t.FoldersVanished += o.FoldersVanished
	t.BytesTotal += o.BytesTotal
	t.BytesRead += o.BytesRead
	t.BytesNew += o.BytesNew
	t.BytesStored += o.BytesStored
	t.LeftOut += o.LeftOut
	t.BytesLeftOut += o.BytesLeftOut
}

// Result is the outcome of a run.
type Result struct {
	Start, End time.Time
	Totals
	Archives []string       // archive files written
	Groups   []string       // groups backed up
	Problems []repo.Problem // objects not (fully) backed up
	Warnings []repo.Problem // damage in the repository the run worked around
	// LeftOutMessages are the messages listed without their bytes because they did
	// not fit in Options.MaxSize, newest first; the next run stores them.
	LeftOutMessages []LeftOut
}

// Partial reports whether something was left out.
func (r *Result) Partial() bool { return len(r.Problems) > 0 || len(r.LeftOutMessages) > 0 }

// ErrNothing means the scope matched no user.
var ErrNothing = errors.New("no user of the store is in the scope")

// ErrOneGroup means an archive stream was asked for several groups.
var ErrOneGroup = errors.New("an archive stream holds one group")

// Run backs up every user of the source that is in the scope.
func Run(opt Options) (*Result, error) {
	opt.Readers = cmpOr(opt.Readers, 4)
	opt.Jobs = cmpOr(opt.Jobs, 1)
	opt.Full = opt.Full || opt.Copies || opt.Output != nil
	res := &Result{Start: time.Now().UTC()}
	if opt.MaxSize > 0 && (opt.Full || !opt.Since.IsZero()) {
		return res, ErrMaxSize
	}
	users, errs := opt.Source.Users()
	for _, err := range errs {
		res.Problems = append(res.Problems, repo.Problem{Object: opt.Source.String(), Err: err})
	}
	byGroup := map[string][]maildir.User{}
	for _, u := range users {
		g := opt.Groups.Match(u.ID)
		if opt.Scope.Contains(g, u.ID) {
			byGroup[g] = append(byGroup[g], u)
		}
	}
	if len(byGroup) == 0 {
		return res, fmt.Errorf("%w %s (%d users found by %s)", ErrNothing, opt.Scope, len(users), opt.Source)
	}
	for g, us := range byGroup {
		res.Groups = append(res.Groups, g)
		// The order of the base snapshot's records, so it is read in one pass.
		sort.Slice(us, func(i, j int) bool { return us[i].ID < us[j].ID })
	}
	sort.Strings(res.Groups)
	if opt.Output != nil {
		if len(res.Groups) > 1 {
			return res, fmt.Errorf("%w, and scope %s has %d (%v): name one group, e.g. /%s", ErrOneGroup, opt.Scope, len(res.Groups), res.Groups, res.Groups[0])
		}
		return res, streamGroup(opt, res, res.Groups[0], byGroup[res.Groups[0]])
	}
	return res, repoGroups(opt, res, byGroup)
}

func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// streamGroup writes one group to opt.Output.
func streamGroup(opt Options, res *Result, group string, users []maildir.User) error {
	g := newGroupRun(opt, res, group, &progress{fn: opt.Progress}, &state{})
	err := g.write(opt.Output, os.TempDir(), users)
	res.Totals, res.Problems = g.Totals, append(res.Problems, g.problems...)
	res.End = time.Now().UTC()
	return err
}

// repoGroups backs up the groups into the repository, opt.Jobs at a time.
// Each group's archive is written under tmp/; they are moved into archives/
// together when all groups are done, so a snapshot shows whole.
func repoGroups(opt Options, res *Result, byGroup map[string][]maildir.User) error {
	st := &state{}
	if !opt.Full {
		var problems []repo.Problem
		st, problems = loadState(opt.Repo, opt.Server)
		res.Warnings = append(res.Warnings, problems...)
	}
	var store map[string]bool
	if opt.MaxSize > 0 {
		store = plan(opt, res, st, byGroup)
	}
	prog := &progress{fn: opt.Progress}
	for _, us := range byGroup {
		prog.users += len(us)
	}
	runs := make([]*groupRun, len(res.Groups))
	sem := make(chan struct{}, opt.Jobs)
	var wg sync.WaitGroup
	for i, name := range res.Groups {
		runs[i] = newGroupRun(opt, res, name, prog, st)
		if store != nil {
			runs[i].store = store
			runs[i].leavesOut = store[leavesOutKey(name)]
		}
		wg.Add(1)
		go func(g *groupRun) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			g.err = g.toRepo(byGroup[g.group])
		}(runs[i])
	}
	wg.Wait()
	var failed []error
	for _, g := range runs {
		res.Totals.add(g.Totals)
		res.Problems = append(res.Problems, g.problems...)
		res.Warnings = append(res.Warnings, g.warnings...)
		if g.err == nil {
			var name string
			name, g.err = g.pending.Commit()
			res.Archives = append(res.Archives, name)
		}
		if g.err == nil {
			res.LeftOutMessages = append(res.LeftOutMessages, g.leftOut...)
		}
		if g.lock != nil {
			g.lock.Unlock()
		}
		if g.err != nil {
			failed = append(failed, fmt.Errorf("group %s: %w", g.group, g.err))
		}
	}
	sortLeftOut(res.LeftOutMessages)
	res.End = time.Now().UTC()
	if len(failed) > 0 && len(failed) < len(runs) {
		// The other groups are safe; the run is partial.
		for _, err := range failed {
			res.Problems = append(res.Problems, repo.Problem{Object: "group", Err: err})
		}
		return nil
	}
	return errors.Join(failed...)
}

// progress adds up the totals of groups that run at once.
type progress struct {
	mu    sync.Mutex
	fn    func(Totals)
	sums  map[*groupRun]Totals
	users int // in the run's scope
}

func (p *progress) update(g *groupRun) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sums == nil {
		p.sums = map[*groupRun]Totals{}
	}
	p.sums[g] = g.Totals
	var t Totals
	for _, s := range p.sums {
		t.add(s)
	}
	t.UsersInScope = p.users
	p.fn(t)
}

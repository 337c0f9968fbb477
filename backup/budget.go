package backup

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/maildir"
)

// A run with a size limit (Options.MaxSize) is planned before it writes:
// a first pass goes through the scope as the run will (folders carried
// over stay carried over, messages the repository holds under their name
// are reused) and collects the message files it would read, with their
// sizes and mtimes. The newest of them, across every group and user of the
// scope, are stored until their sizes (uncompressed, before single copy)
// reach the limit; the rest are listed without their bytes
// (archive.NotStored) and the run is PARTIAL. A later run finds those
// messages not stored, reads their folders again and stores them, newest
// first again if it has a limit too, so the repository catches up.
//
// The limit counts uncompressed message bytes, which are known before
// anything is read: the archive, compressed and sharing copies, is
// smaller, plus its folder records.

// ErrMaxSize means a size limit was asked of a run that cannot catch up
// later: a full run, a --since run or an archive stream.
var ErrMaxSize = errors.New("a size limit works only for incremental runs into the repository (not with a full run, --since or an archive file)")

// candidate is a message file the run would read.
type candidate struct {
	key   string // user and base name, which a flag change keeps
	size  int64
	mtime int64
	group string
}

// LeftOut is a message listed without its bytes.
type LeftOut struct {
	Object string // user/folder/cur/name
	Size   int64
	Mtime  int64 // unix ns
}

func (l LeftOut) String() string {
	return l.Object + " (" + time.Unix(0, l.Mtime).UTC().Format(time.RFC3339) + ")"
}

func sortLeftOut(l []LeftOut) {
	slices.SortFunc(l, func(a, b LeftOut) int {
		return cmp.Or(cmp.Compare(b.Mtime, a.Mtime), cmp.Compare(a.Object, b.Object))
	})
}

func messageKey(user string, m maildir.MessageFile) string {
	return user + "\x00" + maildir.BaseName(m.Name)
}

// leavesOutKey marks, in the plan's set, a group that leaves messages out.
func leavesOutKey(group string) string { return "\x00group\x00" + group }

func (ur *userRun) candidate(m maildir.MessageFile) candidate {
	return candidate{key: messageKey(ur.u.ID, m), size: m.Size, mtime: m.Mtime, group: ur.g.group}
}

// plan returns the message files the run stores: their keys, and a
// leavesOutKey for each group that has messages it leaves out.
func plan(opt Options, res *Result, st *state, byGroup map[string][]maildir.User) map[string]bool {
	var all []candidate
	for _, name := range res.Groups {
		g := newGroupRun(opt, res, name, &progress{}, st)
		g.planning = &all
		closeAll := g.openPrior()
		for _, u := range byGroup[name] {
			g.user(u, nil) // problems are found again, and told, by the run itself
		}
		closeAll()
	}
	return choose(all, opt.MaxSize)
}

// choose takes candidates newest first while they fit in budget bytes; one
// that does not fit is left out and older, smaller ones may still fit.
func choose(all []candidate, budget int64) map[string]bool {
	slices.SortFunc(all, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.mtime, a.mtime), cmp.Compare(a.key, b.key))
	})
	store := make(map[string]bool, len(all))
	var used int64
	for _, c := range all {
		if used+c.size <= budget {
			used += c.size
			store[c.key] = true
		} else {
			store[leavesOutKey(c.group)] = true
		}
	}
	return store
}

// leaveOut records the messages of toRead (indexes into f.Messages) that
// the plan does not store, listed without their bytes, and returns the
// others. A message that was not there when the run was planned is left
// out too: the next run stores it.
func (ur *userRun) leaveOut(f *maildir.Folder, toRead []int, out []archive.Message, done []bool) []int {
	g := ur.g
	kept := toRead[:0]
	for _, i := range toRead {
		mf := f.Messages[i]
		if g.store[messageKey(ur.u.ID, mf)] {
			kept = append(kept, i)
			continue
		}
		m := message(mf)
		m.Blob = archive.NotStored
		out[i], done[i] = m, true
		g.LeftOut++
		g.BytesLeftOut += mf.Size
		g.leftOut = append(g.leftOut, LeftOut{Object: ur.u.ID + "/" + f.Name + "/" + mf.Subdir + "/" + mf.Name, Size: mf.Size, Mtime: mf.Mtime})
	}
	return kept
}

package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mailvault/mailvault/archive"
)

// Retention: forget, then prune (see the package doc).
//
// Forget applies a Policy to each series of snapshots (one server and
// group) and records each snapshot it forgets as a tombstone, an empty
// file REPO/forgotten/<archive name>, synced. Archives are never changed
// in place. A forgotten snapshot is hidden from the index (and so from
// snapshots, ls, restore, locate, verify and the mount) and never the base
// of a backup, but its blobs and folder records still serve the snapshots
// that are kept.
//
// Prune frees what no kept snapshot needs (see prune.go). A tombstone
// stays after its archive is pruned: it is the record that the archive
// left on purpose, so the index does not take it for damage.

// ForgottenDir is where the tombstones of forgotten snapshots are.
func (l Layout) ForgottenDir() string { return filepath.Join(string(l), "forgotten") }

// Tombstones returns the names of the archives whose snapshots are
// forgotten (whether or not the archive is still there).
func (l Layout) Tombstones() (map[string]bool, error) {
	entries, err := os.ReadDir(l.ForgottenDir())
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list the forgotten snapshots: %w", err)
	}
	out := make(map[string]bool, len(entries))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), archiveExt) {
			out[e.Name()] = true
		}
	}
	return out, nil
}

// bury writes the tombstones of archives and syncs them.
func (l Layout) bury(names []string) error {
	dir := l.ForgottenDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	for _, n := range names {
		f, err := os.OpenFile(filepath.Join(dir, n), os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("cannot record %s as forgotten: %w", n, err)
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("cannot record %s as forgotten: %w", n, err)
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	return syncDir(string(l))
}

// SnapshotArchive is an archive in archives/ as retention sees it.
type SnapshotArchive struct {
	Name      string
	Size      int64
	Header    archive.Header
	Forgotten bool // tombstoned, or a rewrite of a forgotten snapshot
}

// snapshotArchives reads the header of every archive. Unreadable ones
// are returned as problems.
func (l Layout) snapshotArchives() ([]SnapshotArchive, []Problem, error) {
	names, err := l.ArchiveNames()
	if err != nil {
		return nil, nil, err
	}
	dead, err := l.Tombstones()
	if err != nil {
		return nil, nil, err
	}
	var out []SnapshotArchive
	var problems []Problem
	for _, n := range names {
		f, err := archive.OpenFile(l.ArchivePath(n))
		if err != nil {
			problems = append(problems, Problem{Object: l.ArchivePath(n), Err: err})
			continue
		}
		h := f.Header()
		out = append(out, SnapshotArchive{Name: n, Size: f.Size(), Header: h, Forgotten: dead[n] || h.Flags&archive.FlagForgotten != 0})
		f.Close()
	}
	return out, problems, nil
}

// SeriesVerdicts are the policy's verdicts on one series, newest first.
type SeriesVerdicts struct {
	Server, Group string
	Snapshots     []SnapshotVerdict
	Kept          int
	Forgotten     int
}

// SnapshotVerdict is one snapshot of a series and what became of it.
type SnapshotVerdict struct {
	Verdict
	Archives []string // its archive files (one, or two while a prune is unfinished)
}

// ForgetOptions say which series a forget applies to.
type ForgetOptions struct {
	Server, Group string // "" for all
	DryRun        bool   // decide and report, change nothing
}

// Forget applies the policy to every series of snapshots that opt selects
// and, unless opt.DryRun, records the snapshots it forgets as tombstones.
// Snapshots forgotten before are not shown again. Archives that cannot be
// read are returned as problems and never forgotten.
func (l Layout) Forget(p Policy, opt ForgetOptions) ([]SeriesVerdicts, []Problem, error) {
	if err := check(string(l)); err != nil {
		return nil, nil, err
	}
	if p.Empty() {
		return nil, nil, fmt.Errorf("no rule: give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly")
	}
	archives, problems, err := l.snapshotArchives()
	if err != nil {
		return nil, nil, err
	}
	type seriesKey struct{ server, group string }
	type snap struct {
		cand      Candidate
		names     []string
		forgotten bool
	}
	series := map[seriesKey]map[int64]*snap{}
	for _, a := range archives {
		h := a.Header
		if opt.Server != "" && h.Server != opt.Server || opt.Group != "" && h.Group != opt.Group {
			continue
		}
		k := seriesKey{h.Server, h.Group}
		if series[k] == nil {
			series[k] = map[int64]*snap{}
		}
		s := series[k][h.Created]
		if s == nil {
			s = &snap{cand: Candidate{Time: h.Created, Partial: h.Flags&archive.FlagSince != 0}}
			series[k][h.Created] = s
		}
		s.names = append(s.names, a.Name)
		s.forgotten = s.forgotten || a.Forgotten
	}
	var out []SeriesVerdicts
	var bury []string
	for k, snaps := range series {
		var cands []Candidate
		for _, s := range snaps {
			if !s.forgotten {
				cands = append(cands, s.cand)
			}
		}
		if len(cands) == 0 {
			continue
		}
		sv := SeriesVerdicts{Server: k.server, Group: k.group}
		for _, v := range p.Apply(cands) {
			s := snaps[v.Time]
			sv.Snapshots = append(sv.Snapshots, SnapshotVerdict{Verdict: v, Archives: s.names})
			if v.Keep() {
				sv.Kept++
			} else {
				sv.Forgotten++
				bury = append(bury, s.names...)
			}
		}
		out = append(out, sv)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Server != out[j].Server {
			return out[i].Server < out[j].Server
		}
		return out[i].Group < out[j].Group
	})
	if opt.DryRun || len(bury) == 0 {
		return out, problems, nil
	}
	sort.Strings(bury)
	return out, problems, l.bury(bury)
}

// lockPrune takes the repository's prune lock: exclusive for a prune,
// shared for a backup. A prune must not run beside a backup, which counts
// the blobs the repository holds when it starts and does not store them
// again.
func (l Layout) lockPrune(exclusive bool) (*os.File, error) {
	path := filepath.Join(l.Locks(), "prune.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open lock file: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			if exclusive {
				return nil, busyError{fmt.Sprintf("a backup is running in the repository (lock %s); prune when it is done", path)}
			}
			return nil, busyError{fmt.Sprintf("a prune is running in the repository (lock %s); back up when it is done", path)}
		}
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	return f, nil
}

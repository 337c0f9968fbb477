// Package repo is the on-disk repository: a directory that holds a
// format-version file, the immutable archive files, the index that
// catalogs them, and the locks and logs of the runs.
//
//	REPO/mailvault-repository   format version ("mailvault repository 1")
//	REPO/archives/*.mva          closed archives, never rewritten
//	REPO/tmp/                    archives being written (ignored by readers)
//	REPO/index/                  badger index, a cache of archives/
//	REPO/locks/                  one lock file per server and group being backed up, prune.lock
//	REPO/forgotten/              tombstones: an empty file per archive of a forgotten snapshot
//	REPO/logs/backup.log         one block of lines per run
//
// An archive is written under tmp/, synced, and renamed into archives/, so
// an archive in archives/ is always complete. Everything a repository needs
// to be restored elsewhere is inside it; the index can be deleted at any
// time and is rebuilt from the archives.
//
// # Processes sharing a repository
//
// badger lets one process at a time open the index, and a mount keeps it
// open for days, so the index is not where processes meet: archives/ is.
//
//   - A backup never opens the index to do its work. It reads what it
//     needs from the archives (their blob tables and folder records), takes
//     the lock of its server and group in locks/ (a second backup of the
//     same group is refused with ErrBusy; other groups go on side by side),
//     writes under tmp/ and renames the finished archive into archives/.
//     Then it ingests it if the index is free.
//   - The process that holds the index (a mount) ingests new archives as
//     they appear (Refresh), which only adds to the index, so it keeps
//     answering reads meanwhile.
//   - Any other process that opens the repository brings the index up to
//     date (Sync); if the index is held, a read-only command builds a
//     private one under tmp/ from the archives (Options.Private).
//
// Nothing is ever written to an archive after its rename, so whoever reads
// archives/ sees only complete archives, in any order.
//
// # Retention
//
// Forget (forget.go) marks the snapshots a Policy (policy.go) does not
// keep with tombstones in forgotten/; archives are not touched. The index
// hides forgotten snapshots (Sync and Refresh mark them), backups never
// build on them, but their blobs and folder records still serve the kept
// snapshots: an incremental run stores a message in the archive of the
// run that first saw it, and tells a folder as a change of a record of an
// earlier archive. Prune (prune.go) removes an archive only when no kept
// snapshot needs anything of it, and otherwise replaces it by a smaller
// one flagged archive.FlagForgotten, written and renamed into archives/
// before anything is deleted, so a kill at any point loses nothing kept.
// Prune holds locks/prune.lock exclusively, each backup shares it: no
// backup counts a blob as held while a prune removes it. An archive that
// leaves archives/ with a tombstone was pruned, not lost: the index drops
// it without recording it as gone.
package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	versionFile = "mailvault-repository"
	versionText = "mailvault repository 1\n"
	archiveExt  = ".mva"
)

// ErrNotRepository means a directory is not a mailvault repository.
var ErrNotRepository = errors.New("not a mailvault repository")

// Init creates a repository in dir, or does nothing if one is there.
func Init(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create repository: %w", err)
	}
	vf := filepath.Join(dir, versionFile)
	data, err := os.ReadFile(vf)
	switch {
	case err == nil:
		return checkVersion(dir, data)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("cannot read %s: %w", vf, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return fmt.Errorf("%s is not empty and not a mailvault repository; choose an empty or new directory", dir)
	}
	for _, sub := range []string{"archives", "tmp", "locks", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("cannot create repository: %w", err)
		}
	}
	return writeFileAtomic(vf, []byte(versionText))
}

func checkVersion(dir string, data []byte) error {
	if string(data) != versionText {
		v := strings.TrimSpace(string(data))
		return fmt.Errorf("%s: unknown repository format %q (this mailvault reads %q)", dir, v, strings.TrimSpace(versionText))
	}
	return nil
}

// Layout names the parts of a repository.
type Layout string

func (l Layout) ArchivesDir() string         { return filepath.Join(string(l), "archives") }
func (l Layout) Tmp() string                 { return filepath.Join(string(l), "tmp") }
func (l Layout) Index() string               { return filepath.Join(string(l), "index") }
func (l Layout) Locks() string               { return filepath.Join(string(l), "locks") }
func (l Layout) Logs() string                { return filepath.Join(string(l), "logs") }
func (l Layout) ArchivePath(n string) string { return filepath.Join(l.ArchivesDir(), n) }

// check reports whether dir is a repository.
func check(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, versionFile))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w (create one with 'mailvault init --repo %s')", dir, ErrNotRepository, dir)
	}
	if err != nil {
		return fmt.Errorf("cannot open repository: %w", err)
	}
	return checkVersion(dir, data)
}

// ArchiveNames lists the closed archives, sorted by name (and so by time).
func (l Layout) ArchiveNames() ([]string, error) {
	entries, err := os.ReadDir(l.ArchivesDir())
	if err != nil {
		return nil, fmt.Errorf("cannot list archives: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), archiveExt) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// writeFileAtomic writes a small file so that readers see the old or the
// new content, never a part.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package repo

import (
	"fmt"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// Refresh ingests the archives that appeared since the index was last
// brought up to date, for a process that holds the index for long (a
// mount) while backups add archives beside it. Unlike Sync it never
// rebuilds the index, so readers may use it meanwhile; an archive that
// disappeared is reported and stays in the index until the next open.
// An archive that failed before is tried again. Snapshots forgotten since
// are hidden, and the blobs of an archive that prune removed are found
// where prune kept them. added names the archives taken in and those
// whose snapshots were forgotten: what changed the tree.
func (r *Repo) Refresh() (added []string, problems []Problem, err error) {
	names, err := r.ArchiveNames()
	if err != nil {
		return nil, nil, err
	}
	dead, err := r.Tombstones()
	if err != nil {
		return nil, nil, err
	}
	onDisk := map[string]bool{}
	for _, n := range names {
		onDisk[n] = true
	}
	known := map[string]bool{}
	var pruned []*index.ArchiveInfo
	for _, a := range r.Catalog.Archives() {
		known[a.Name] = true
		switch {
		case onDisk[a.Name]:
		case dead[a.Name]:
			if !r.relocated[a.Num] {
				pruned = append(pruned, a)
			}
		default:
			problems = append(problems, Problem{Object: r.ArchivePath(a.Name),
				Err: fmt.Errorf("archive is gone; its snapshots show until the repository is opened again")})
		}
	}
	var todo []string
	for _, n := range names {
		if !known[n] {
			todo = append(todo, n)
		}
	}
	added, more := r.ingestAll(todo)
	problems = append(problems, more...)
	marked, err := r.markForgotten(dead)
	if err != nil {
		return added, problems, err
	}
	if len(pruned) > 0 {
		if err := r.relocate(pruned); err != nil {
			problems = append(problems, Problem{Object: r.ArchivesDir(), Err: err})
		}
	}
	return append(added, marked...), problems, nil
}

// relocate points the index at other copies of the blobs it located in
// archives that prune removed: kept snapshots need them, and prune
// removes an archive only once every blob they need is elsewhere.
func (r *Repo) relocate(pruned []*index.ArchiveInfo) error {
	gone := map[uint32]bool{}
	for _, a := range pruned {
		gone[a.Num] = true
	}
	for _, a := range r.Catalog.Archives() {
		if gone[a.Num] {
			continue
		}
		f, err := archive.OpenFile(r.ArchivePath(a.Name))
		if err != nil {
			continue // gone too, or damaged: reported elsewhere
		}
		err = r.Catalog.Relocate(gone, a.Num, f.Trailer().Blobs)
		f.Close()
		if err != nil {
			return fmt.Errorf("cannot write index: %w", err)
		}
	}
	if r.relocated == nil {
		r.relocated = map[uint32]bool{}
	}
	for n := range gone {
		r.relocated[n] = true // Refresh is called from one goroutine
	}
	return nil
}

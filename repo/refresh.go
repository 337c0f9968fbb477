package repo

import "fmt"

// Refresh ingests the archives that appeared since the index was last
// brought up to date, for a process that holds the index for long (a
// mount) while backups add archives beside it. Unlike Sync it never
// rebuilds the index, so readers may use it meanwhile; an archive that
// disappeared is reported and stays in the index until the next open.
// An archive that failed before is tried again.
func (r *Repo) Refresh() (added []string, problems []Problem, err error) {
	names, err := r.ArchiveNames()
	if err != nil {
		return nil, nil, err
	}
	onDisk := map[string]bool{}
	for _, n := range names {
		onDisk[n] = true
	}
	known := map[string]bool{}
	for _, a := range r.Catalog.Archives() {
		known[a.Name] = true
		if !onDisk[a.Name] {
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
	return added, append(problems, more...), nil
}

package restore

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
	"github.com/mailvault/mailvault/repo"
)

// Catalog is what jobs are built from: the repository's index.
type Catalog interface {
	Groups(server string) ([]string, error)
	Users(server, group string, at int64) ([]index.User, error)
	Folders(server, group, user string, t int64) ([]*index.Folder, error)
	Messages(id index.ListingID) ([]index.Message, error)
	Controls(id index.ListingID) ([]archive.File, error)
}

var (
	_ Catalog = (*repo.Repo)(nil)
	_ placer  = (*repo.Repo)(nil)
)

// JobsFromCatalog lists what a scope restores from the repository, as of
// the latest snapshot of each user taken at or before at (0: the latest).
func JobsFromCatalog(c Catalog, sc Scope, at int64) ([]Job, error) {
	groups := []string{sc.Group}
	if sc.Group == "" {
		var err error
		if groups, err = c.Groups(sc.Server); err != nil {
			return nil, err
		}
		if len(groups) == 0 {
			return nil, fmt.Errorf("no server %q in the repository", sc.Server)
		}
	}
	var jobs []Job
	for _, g := range groups {
		users, err := c.Users(sc.Server, g, at)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if sc.User != "" && u.Name != sc.User {
				continue
			}
			folders, listings, err := catalogFolders(c, u)
			if err != nil {
				return nil, err
			}
			sel, msg, err := sc.selectFolders(folders)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, Job{User: u.Name, Folders: sel, Message: msg, Snapshot: u.Time, load: loader(c, listings)})
		}
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("nothing in the repository matches %s", sc)
	}
	return jobs, nil
}

// catalogFolders lists a user's folders in the archive's terms, without
// their messages and control files: Run loads those (loader) one folder
// at a time, so that a restore of a whole store holds the listings of the
// folders it is writing, not of every folder.
func catalogFolders(c Catalog, u index.User) ([]*archive.Folder, map[*archive.Folder]index.ListingID, error) {
	folders, err := c.Folders(u.Server, u.Group, u.Name, u.Time)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*archive.Folder, 0, len(folders))
	listings := make(map[*archive.Folder]index.ListingID, len(folders))
	for _, f := range folders {
		out = append(out, &archive.Folder{
			User: u.Name, Name: f.Name, Dir: f.Dir, UIDValidity: f.UIDValidity, NextUID: f.NextUID, GUID: f.GUID,
			Keywords: f.Keywords, Mode: f.Mode, OwnerUID: f.OwnerUID, OwnerGID: f.OwnerGID,
			CurMtime: f.CurMtime, NewMtime: f.NewMtime,
		})
		listings[out[len(out)-1]] = f.Listing
	}
	return out, listings, nil
}

// loader returns what gives a folder of catalogFolders its messages and
// control files, in a copy: the Job keeps the folder without them.
func loader(c Catalog, listings map[*archive.Folder]index.ListingID) func(*archive.Folder) (*archive.Folder, error) {
	return func(f *archive.Folder) (*archive.Folder, error) {
		id := listings[f]
		msgs, err := c.Messages(id)
		if err != nil {
			return nil, err
		}
		files, err := c.Controls(id)
		if err != nil {
			return nil, err
		}
		lf := *f
		lf.Files = files
		lf.Messages = make([]archive.Message, 0, len(msgs))
		for _, m := range msgs {
			lf.Messages = append(lf.Messages, archive.Message{Subdir: m.Subdir, Name: m.Name, Size: m.Size, Mtime: m.Mtime,
				Mode: m.Mode, UID: m.UID, Blob: m.Blob, Link: m.Link, Nlink: m.Nlink})
		}
		return &lf, nil
	}
}

// ErrIncremental means an archive read on its own lacks what a restore
// needs from the archives before it.
var ErrIncremental = errors.New("the archive is incremental")

// JobsFromFolders lists what a scope restores from an archive's folders.
func JobsFromFolders(h archive.Header, folders []*archive.Folder, sc Scope) ([]Job, error) {
	if sc.Server != h.Server || (sc.Group != "" && sc.Group != h.Group) {
		return nil, fmt.Errorf("the archive holds server %s group %s, not %s", h.Server, h.Group, sc)
	}
	if h.Flags&archive.FlagForgotten != 0 {
		return nil, fmt.Errorf("the archive is what prune kept of the forgotten snapshot of %s (what later snapshots need), not that snapshot; restore a kept snapshot from the repository",
			time.Unix(0, h.Created).UTC().Format(time.RFC3339))
	}
	byUser := map[string][]*archive.Folder{}
	for _, f := range folders {
		if sc.User == "" || f.User == sc.User {
			byUser[f.User] = append(byUser[f.User], f)
		}
	}
	var users []string
	for u := range byUser {
		users = append(users, u)
	}
	sort.Strings(users)
	var jobs []Job
	for _, u := range users {
		sel, msg, err := sc.selectFolders(byUser[u])
		if err != nil {
			return nil, err
		}
		for _, f := range sel {
			if f.Origin != 0 {
				return nil, fmt.Errorf("%w: folder %s of %s is listed in the snapshot of %s; restore from the repository, or take archives for tape with 'backup --full' or '-f'",
					ErrIncremental, f.Name, u, time.Unix(0, f.Origin).UTC().Format(time.RFC3339))
			}
		}
		jobs = append(jobs, Job{User: u, Folders: sel, Message: msg})
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("nothing in the archive matches %s", sc)
	}
	return jobs, nil
}

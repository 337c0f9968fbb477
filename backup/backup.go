// Package backup reads a message store and writes it into a repository:
// one archive per backup group per run, each message stored once per
// archive.
package backup

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/groups"
	"github.com/mailvault/mailvault/maildir"
	"github.com/mailvault/mailvault/repo"
)

// Options say what to back up and where.
type Options struct {
	Repo   repo.Layout
	Server string
	Source *maildir.Location
	Groups *groups.Set
	Scope  groups.Scope
	// Progress, if set, is called now and then with the running totals.
	Progress func(Totals)
	// Readers is how many message files are read at once (default 4):
	// overlapping reads hide the seek time of small files.
	Readers int
}

// Totals count what a run did.
type Totals struct {
	Users, Folders, Messages int
	Vanished                 int   // message files that disappeared while the run read them
	BytesRead                int64 // message bytes read from the store
	BytesNew                 int64 // message bytes written as new blobs (before compression)
	BytesStored              int64 // archive bytes written (after compression)
}

// Result is the outcome of a run.
type Result struct {
	Start, End time.Time
	Totals
	Archives []string       // archive files written
	Groups   []string       // groups backed up
	Problems []repo.Problem // objects not (fully) backed up
}

// Partial reports whether something was left out.
func (r *Result) Partial() bool { return len(r.Problems) > 0 }

// ErrNothing means the scope matched no user.
var ErrNothing = errors.New("no user of the store is in the scope")

// Run backs up every user of the source that is in the scope.
func Run(opt Options) (*Result, error) {
	if opt.Readers <= 0 {
		opt.Readers = 4
	}
	res := &Result{Start: time.Now().UTC()}
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
	for g := range byGroup {
		res.Groups = append(res.Groups, g)
	}
	sort.Strings(res.Groups)
	for _, g := range res.Groups {
		name, err := backupGroup(opt, res, g, byGroup[g])
		if err != nil {
			return res, fmt.Errorf("group %s: %w", g, err)
		}
		res.Archives = append(res.Archives, name)
	}
	res.End = time.Now().UTC()
	return res, nil
}

func backupGroup(opt Options, res *Result, group string, users []maildir.User) (string, error) {
	lock, err := opt.Repo.LockGroup(opt.Server, group)
	if err != nil {
		return "", err
	}
	defer lock.Unlock()
	name := repo.ArchiveName(res.Start, opt.Server, group)
	p, err := opt.Repo.Create(name)
	if err != nil {
		return "", err
	}
	h := archive.Header{
		Version: 1, Created: res.Start.UnixNano(), Server: opt.Server, Group: group,
		Scope: opt.Scope.String(), Snapshot: res.Start.Format(time.RFC3339Nano), Flags: archive.FlagFull,
	}
	if _, err := io.ReadFull(rand.Reader, h.ID[:]); err != nil {
		p.Abort()
		return "", err
	}
	w, err := archive.NewWriter(p, h, archive.WriterOptions{})
	if err != nil {
		p.Abort()
		return "", err
	}
	for _, u := range users {
		if err := backupUser(opt, res, w, u); err != nil {
			p.Abort()
			return "", err
		}
		res.Users++
	}
	if err := w.Close(); err != nil {
		p.Abort()
		return "", fmt.Errorf("cannot write archive %s: %w", name, err)
	}
	res.BytesStored += w.Stats().BytesWritten
	return p.Commit()
}

// backupUser writes every folder of one user. Only a failure of the
// archive itself is returned; problems with the store are recorded in res.
func backupUser(opt Options, res *Result, w *archive.Writer, u maildir.User) error {
	dirs, err := maildir.ListFolders(u.Root)
	if err != nil {
		res.Problems = append(res.Problems, repo.Problem{Object: u.ID, Err: err})
		return nil
	}
	seen := map[uint64]archive.Hash{} // links already read, so hard links are read once
	for _, fd := range dirs {
		f, errs := maildir.ScanFolder(u.Root, fd)
		for _, err := range errs {
			res.Problems = append(res.Problems, repo.Problem{Object: u.ID + "/" + fd.Name, Err: err})
		}
		if f == nil {
			continue
		}
		af, err := readFolder(opt, res, w, u.ID, f, seen)
		if err != nil {
			return err
		}
		if err := w.AddFolder(af); err != nil {
			return err
		}
		res.Folders++
		if opt.Progress != nil {
			opt.Progress(res.Totals)
		}
	}
	return nil
}

// read is the outcome of reading one message file.
type read struct {
	m      maildir.MessageFile
	data   []byte
	hash   archive.Hash
	linked bool // a hard link of a file read before: not read again
	err    error
}

// readFolder reads the messages of a folder, several at a time, and adds
// their blobs to the archive in the folder's order.
func readFolder(opt Options, res *Result, w *archive.Writer, user string, f *maildir.Folder, seen map[uint64]archive.Hash) (*archive.Folder, error) {
	af := &archive.Folder{
		User: user, Name: f.Name, Dir: f.Dir, Keywords: f.Keywords,
		Mode: f.Mode, OwnerUID: f.UID, OwnerGID: f.GID, CurMtime: f.CurMtime, NewMtime: f.NewMtime,
	}
	if f.UIDList != nil {
		af.UIDValidity, af.NextUID, af.GUID = f.UIDList.UIDValidity, f.UIDList.NextUID, f.UIDList.GUID
	}
	for _, c := range f.Files {
		af.Files = append(af.Files, archive.File{Name: c.Name, Mode: c.Mode, Mtime: c.Mtime, Data: c.Data})
	}
	const window = 64 // messages in flight: bounds memory, keeps readers busy
	for start := 0; start < len(f.Messages); start += window {
		batch := f.Messages[start:min(start+window, len(f.Messages))]
		reads := make([]read, len(batch))
		var wg sync.WaitGroup
		next := make(chan int)
		for range opt.Readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					r := &reads[i]
					r.m = batch[i]
					if h, ok := seen[linkOf(r.m)]; ok && r.m.Nlink > 1 {
						r.hash, r.linked = h, true
						continue
					}
					r.data, r.m, r.err = f.ReadMessage(batch[i])
					if r.err == nil {
						r.hash = sha256.Sum256(r.data)
					}
				}
			}()
		}
		for i := range batch {
			next <- i
		}
		close(next)
		wg.Wait()
		for i := range reads {
			r := &reads[i]
			link := linkOf(r.m)
			switch {
			case errors.Is(r.err, maildir.ErrVanished):
				res.Vanished++ // expunged while we read: left out cleanly
				continue
			case r.err != nil:
				res.Problems = append(res.Problems, repo.Problem{Object: user + "/" + f.Name + "/" + r.m.Subdir + "/" + r.m.Name, Err: r.err})
				continue
			case r.linked:
			default:
				added, err := w.AddBlob(r.hash, r.data)
				if err != nil {
					return nil, err
				}
				res.BytesRead += int64(len(r.data))
				if added {
					res.BytesNew += int64(len(r.data))
				}
				if r.m.Nlink > 1 {
					seen[link] = r.hash
				}
			}
			af.Messages = append(af.Messages, archive.Message{
				Subdir: r.m.Subdir, Name: r.m.Name, Size: r.m.Size, Mtime: r.m.Mtime, Mode: r.m.Mode,
				UID: r.m.UID, Blob: r.hash, Link: link, Nlink: r.m.Nlink,
			})
			res.Messages++
		}
	}
	return af, nil
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

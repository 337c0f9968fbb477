// Package restore puts backed-up folders back into a Dovecot Maildir++
// store.
//
// A folder that does not exist in the target is recreated exactly: the
// backed-up control files (dovecot-uidlist, dovecot-keywords …) are written
// verbatim and every message gets its original file name and mtime, so
// Dovecot sees the same UIDVALIDITY, UIDs, flags and keywords and clients
// keep their caches. Into a folder that exists, messages are added under
// Dovecot's own dovecot-uidlist.lock: a message whose content is already
// there is skipped, the others get new UIDs after the existing ones, their
// flags and dates kept. Nothing in the target is ever overwritten, so a
// second identical restore changes nothing.
//
// A restore that is killed and run again finishes the work: messages
// already placed are skipped, a folder whose recreation was cut short is
// recreated on (its dovecot-uidlist is written last, so a folder without
// one whose files are all the backup's is such a folder), and the temp
// files and uidlist lock the killed run left are cleared (see maildir).
package restore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/maildir"
)

// writers is how many messages are written at once. More than the cores:
// each also waits on the disk; not many more: creating files in one
// directory takes its lock (measured on the bench store: 8 writers spent
// a third more system time spinning on it than 2).
const writers = 4

// FramesInUse is how many decoded frames a restore's reads need kept:
// a batch's pieces are read in the order they lie in the archives, so
// each writer is in one frame and the next is about to be.
const FramesInUse = 2 * writers

// Blobs gives the bytes of a message by its hash; it is called from
// several goroutines at once.
type Blobs interface {
	ReadBlob(h archive.Hash) ([]byte, error)
	// BlobPlace tells where a blob lies, which archive and where in it,
	// or, for a message stored in parts that its listing does not name,
	// its parts. Reads sorted by place decode each compressed frame once.
	BlobPlace(h archive.Hash) (num uint32, loc archive.Location, parts []archive.Hash, err error)
	// ReadPlaced is ReadBlob of a blob whose place BlobPlace gave.
	ReadPlaced(h archive.Hash, num uint32, loc archive.Location) ([]byte, error)
}

// Options say where the messages go.
type Options struct {
	Target *maildir.Location
	// ToUser puts every message into this user's store instead.
	ToUser string
	// ToFolder puts the messages into this folder (one folder restored) or
	// under it (several), as a new folder with new UIDs.
	ToFolder string
	// LockTimeout bounds the wait for Dovecot's uidlist lock.
	LockTimeout time.Duration
	// Source names where the folders come from ("archive FILE"), for
	// problems.
	Source string
}

// Job is one user's folders to restore.
type Job struct {
	User    string
	Folders []*archive.Folder
	// Message, if set, restores only the message file of that name (its
	// "cur/" or "new/" prefix optional).
	Message string
	// Snapshot, if set, is when the folders were backed up (unix ns), for
	// problems.
	Snapshot int64
	// load, if set, gives a folder of Folders with its messages and control
	// files, which Folders lack (JobsFromCatalog).
	load func(*archive.Folder) (*archive.Folder, error)
}

// Result counts what a restore did.
type Result struct {
	Users, Folders int
	Created        int // folders recreated with their original UIDs
	Added          int // messages written
	Skipped        int // messages already in the target
	LeftOut        int // messages the snapshot lists without their bytes (backup --max-size)
	Problems       []Problem
}

// Problem is an object that could not be restored; the restore went on.
type Problem struct {
	Object string
	Err    error
}

func (p Problem) Error() string { return p.Object + ": " + p.Err.Error() }

// Run restores the jobs.
func Run(opt Options, jobs []Job, blobs Blobs) (*Result, error) {
	if opt.LockTimeout == 0 {
		opt.LockTimeout = 30 * time.Second
	}
	res := &Result{}
	nfolders := 0
	for _, j := range jobs {
		nfolders += len(j.Folders)
	}
	// Folders to recreate go in batches, through three stages at once:
	// this loop loads the listings of a batch and plans it (planBatch,
	// mostly index look-ups on one core) while the writer writes the
	// batch before and finishes (syncs, moves into place) the one before
	// that. The writer's counts and problems join res when it is done.
	var (
		batch   []recreation
		queued  int // messages in batch
		planned = make(chan *written)
		batches Result // the writer's
		wrote   = make(chan struct{})
	)
	go func() {
		defer close(wrote)
		var finished chan *written
		wait := func() {
			if finished != nil {
				(<-finished).report(opt, &batches)
				finished = nil
			}
		}
		for w := range planned {
			w.write(blobs)
			wait()
			finished = make(chan *written, 1)
			go func() { w.finish(); finished <- w }()
		}
		wait()
	}()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		planned <- planBatch(batch, blobs)
		batch, queued = nil, 0
	}
	for _, j := range jobs {
		user := j.User
		if opt.ToUser != "" {
			user = opt.ToUser
		}
		res.Users++
		root, err := opt.Target.Path(user)
		if err != nil {
			// A user id of a crafted archive, say; the other users go on.
			res.Problems = append(res.Problems, opt.problem(archive.QuoteName(user), err))
			res.Folders += len(j.Folders)
			continue
		}
		for _, f := range j.Folders {
			var err error
			res.Folders++
			name := f.Name
			if opt.ToFolder != "" {
				name = opt.ToFolder
				if nfolders > 1 {
					name = opt.ToFolder + "/" + f.Name
				}
			}
			object := archive.QuoteName(user) + " folder " + archive.QuoteName(name)
			if j.load != nil {
				if f, err = j.load(f); err != nil {
					res.Problems = append(res.Problems, opt.folderProblem(object, j.Snapshot, err))
					continue
				}
			}
			// Names that would climb out of the target are refused before
			// anything is written.
			if err := archive.CheckFolder(f); err != nil {
				res.Problems = append(res.Problems, opt.problem(object, err))
				continue
			}
			exact := opt.ToUser == "" && opt.ToFolder == "" && j.Message == ""
			rc, err := restoreFolder(opt, res, root, name, f, j.Message, exact, blobs)
			if err != nil {
				res.Problems = append(res.Problems, opt.folderProblem(object, j.Snapshot, err))
			}
			if rc == nil {
				continue
			}
			rc.object, rc.snapshot = object, j.Snapshot
			batch = append(batch, *rc)
			if queued += len(f.Messages); len(batch) >= batchFolders || queued >= batchMessages {
				flush()
			}
		}
	}
	flush()
	close(planned)
	<-wrote
	res.Added += batches.Added
	res.Skipped += batches.Skipped
	res.LeftOut += batches.LeftOut
	res.Problems = append(res.Problems, batches.Problems...)
	return res, nil
}

// problem names an object not restored, and where it came from.
func (opt Options) problem(object string, err error) Problem {
	if opt.Source != "" {
		object += " (from " + opt.Source + ")"
	}
	return Problem{Object: object, Err: err}
}

// folderProblem is problem for a folder backed up at snapshot (0:
// unknown), which a message left out by backup --max-size names.
func (opt Options) folderProblem(object string, snapshot int64, err error) Problem {
	if errors.Is(err, ErrLeftOut) && snapshot != 0 {
		object += " in the backup of " + time.Unix(0, snapshot).UTC().Format(time.RFC3339)
	}
	return opt.problem(object, err)
}

// restoreFolder restores one folder into the user's Maildir root, or,
// for a folder to recreate exactly, makes its directory and returns it
// to be recreated with others (writeBatch).
func restoreFolder(opt Options, res *Result, root, name string, f *archive.Folder, only string, exact bool, blobs Blobs) (*recreation, error) {
	owner, err := maildir.OwnerOf(root)
	if err != nil {
		return nil, err
	}
	fd := maildir.FolderDir{Name: name, Dir: maildir.EncodeFolderName(name)}
	if name == f.Name && f.Dir != "" {
		// The directory the store had, also when its name is not valid
		// Maildir++ (invalid UTF-8, control bytes) and would not encode
		// back from the folder name.
		fd.Dir = f.Dir
	}
	msgs := f.Messages
	if only != "" {
		msgs = pick(msgs, only)
		if len(msgs) == 0 {
			return nil, fmt.Errorf("no message file %q in the backup of folder %s", only, f.Name)
		}
	}
	path, created, err := maildir.CreateFolder(root, fd, owner)
	if err != nil {
		return nil, err
	}
	if !created && exact {
		if created, err = cutShort(path, f); err != nil {
			return nil, err
		}
	}
	if created && exact {
		res.Created++
		return &recreation{path: path, f: f, owner: owner}, nil
	}
	return nil, merge(opt, res, path, f, msgs, owner, blobs, created)
}

// cutShort reports whether an existing folder is a recreation of f that
// was cut short (the restore was killed): it has no dovecot-uidlist, which
// recreate writes last, and every message file in it is one of f's. Such a
// folder is recreated on, so it gets f's UIDs as if never interrupted.
func cutShort(path string, f *archive.Folder) (bool, error) {
	if _, err := os.Lstat(filepath.Join(path, uidListName)); !errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	ours := map[string]bool{}
	for _, m := range f.Messages {
		ours[maildir.BaseName(m.Name)] = true
	}
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(path, sub))
		if err != nil {
			return false, err
		}
		for _, e := range entries {
			if !ours[maildir.BaseName(e.Name())] {
				return false, nil
			}
		}
	}
	return true, nil
}

const uidListName = "dovecot-uidlist"

// pick selects one message file by name.
func pick(msgs []archive.Message, name string) []archive.Message {
	for _, m := range msgs {
		if name == m.Name || name == m.Subdir+"/"+m.Name {
			return []archive.Message{m}
		}
	}
	return nil
}

// isControlOfUser tells the files that belong to a user rather than a
// folder; they are restored with INBOX only.
func isControlOfUser(name string) bool {
	return name == "subscriptions" || strings.HasPrefix(name, "dovecot-uidvalidity")
}

// merge adds the messages missing from an existing folder with new UIDs,
// holding Dovecot's uidlist lock.
func merge(opt Options, res *Result, path string, f *archive.Folder, msgs []archive.Message, o maildir.Owner, blobs Blobs, created bool) error {
	lock, err := maildir.LockUIDList(path, opt.LockTimeout)
	if err != nil {
		return err
	}
	defer lock.Release()
	// Opened first: it refuses a cur/, new/ or tmp/ that is a symlink
	// before anything is read through it.
	t, err := maildir.OpenTarget(path, o)
	if err != nil {
		return err
	}
	defer t.Close()
	present, err := maildir.ContentHashes(path, archive.Identities)
	if err != nil {
		return err
	}
	have, err := lock.Keywords()
	if err != nil {
		return err
	}
	merged, mapping, err := maildir.MergeKeywords(have, f.Keywords)
	if err != nil {
		return err
	}
	uids, err := lock.UIDList()
	switch {
	case errors.Is(err, fs.ErrNotExist) && created:
		// A new folder gets a uidlist now, so its new UIDs are known.
		uids = maildir.NewUIDList(uint32(time.Now().Unix()))
	case errors.Is(err, fs.ErrNotExist):
		uids = nil // Dovecot numbers the files at its next sync
	case err != nil:
		return err
	}
	var errs []error
	added := 0
	for _, m := range msgs {
		if _, ok := present[m.Blob]; ok {
			res.Skipped++
			continue
		}
		name := maildir.RemapFlags(m.Name, mapping)
		// A base name the uidlist still knows (an expunged message) would
		// bring back its old UID; IMAP forbids reusing it.
		if uids != nil {
			if _, known := uids.Lookup(maildir.ParseName(name).Base); known {
				name = uniqueName(name, added)
			}
		}
		err := deliver(t, m, name, blobs)
		if errors.Is(err, maildir.ErrExists) {
			name = uniqueName(name, added)
			err = deliver(t, m, name, blobs)
		}
		if err == nil && uids != nil {
			_, err = uids.Append(name)
		}
		if errors.Is(err, ErrLeftOut) {
			res.LeftOut++
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", m.Subdir, m.Name, err))
			continue
		}
		present[m.Blob] = name
		added++
		res.Added++
	}
	if added == 0 {
		return errors.Join(errs...)
	}
	if len(merged) != len(have) {
		if err := lock.WriteKeywords(merged, o); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	if err := t.Sync(); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if uids != nil {
		if err := lock.Commit(uids.Render(), o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ErrLeftOut means the snapshot lists a message without its bytes.
var ErrLeftOut = errors.New("left out by backup --max-size: this snapshot lists it without its bytes; a later backup stores it (restore from a later snapshot)")

// deliver writes one message file.
func deliver(t *maildir.Target, m archive.Message, name string, blobs Blobs) error {
	if m.LeftOut() {
		return ErrLeftOut
	}
	data, err := readMessage(blobs, &m)
	if err != nil {
		return err
	}
	return t.Deliver(m.Subdir, name, bytes.NewReader(data), m.Mtime)
}

// appender is what a Blobs of an archive file or a stream also does, so
// that the parts of a large message are read into one buffer of its size.
type appender interface {
	AppendBlob(dst []byte, h archive.Hash) ([]byte, error)
	BlobLen(h archive.Hash) int64
}

// readMessage reads a message's bytes, joining its parts if it has any.
func readMessage(blobs Blobs, m *archive.Message) ([]byte, error) {
	if len(m.Parts) == 0 {
		return blobs.ReadBlob(m.Blob)
	}
	ap, ok := blobs.(appender)
	if !ok {
		return archive.JoinParts(m.Parts, blobs.ReadBlob)
	}
	var total int64
	for _, p := range m.Parts {
		total += ap.BlobLen(p)
	}
	out := make([]byte, 0, min(total, archive.MaxRecord))
	for _, p := range m.Parts {
		var err error
		if out, err = ap.AppendBlob(out, p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// uniqueName makes a new Dovecot-style base for a message whose name is
// taken in the target by another message.
func uniqueName(name string, n int) string {
	parsed := maildir.ParseName(name)
	now := time.Now()
	parsed.Base = fmt.Sprintf("%d.M%dP%dQ%d.mailvault-restore", now.Unix(), now.Nanosecond()/1000, os.Getpid(), n)
	return parsed.String()
}

package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Target is an existing folder open for adding message files. Opening it
// lists the bases in cur/ and new/ once, so that each Deliver can refuse a
// message whose base is already there under other flags without listing
// again. A Target may be used from several goroutines.
type Target struct {
	o         Owner
	dir, tmp  dir
	cur, new  dir
	mu        sync.Mutex      // guards bases, closed, unsynced, batch, staged and stage
	bases     map[string]bool // bases in cur/ and new/, and those delivered since
	closed    bool            // the descriptors are closed: they may name other files now
	unsynced  bool            // renames into cur/ or new/ not yet made durable
	batch     bool            // Deliver stages messages in tmp/ for Commit
	staged    []staged        // written to tmp/, not yet synced or moved
	stage     *stage          // of the Assemblies since the last Commit
	closeOnce sync.Once
}

// OpenTarget opens the folder directory (made by CreateFolder, or one
// Dovecot made) for Deliver; new files get owner o. No symlink is followed.
// Temp files that a killed process of this host left in tmp/ are removed.
func OpenTarget(folder string, o Owner) (*Target, error) {
	d, err := openDirPath(folder, nil)
	if err != nil {
		return nil, err
	}
	t := &Target{o: o, dir: d, bases: map[string]bool{}}
	for _, s := range []struct {
		name string
		d    *dir
	}{{"tmp", &t.tmp}, {"cur", &t.cur}, {"new", &t.new}} {
		if *s.d, err = d.open(s.name); err != nil {
			t.Close()
			return nil, err
		}
	}
	removeStaleTemps(t.tmp)
	for _, sub := range []dir{t.cur, t.new} {
		names, err := sub.names()
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("%s: %w", sub.path, err)
		}
		for _, n := range names {
			t.bases[baseOf(n)] = true
		}
	}
	return t, nil
}

// Deliver puts a message into subdir ("cur" or "new") of the folder as
// name, with the given mtime (unix ns; Dovecot's received date), never
// replacing anything: if name, or another name with the same base, is in
// cur/ or new/ it returns ErrExists. The file is written in tmp/, synced,
// given its owner, mode and times, and only then moved into place. The
// renames are made durable together by Sync (or Close): call it before
// writing a dovecot-uidlist that names the files.
func (t *Target) Deliver(subdir, name string, r io.Reader, mtime int64) error {
	if err := t.checkName(subdir, name); err != nil {
		return err
	}
	base, err := t.claim(subdir, name)
	if err != nil {
		return err
	}
	err = t.deliver(subdir, name, r, mtime)
	if err != nil && !errors.Is(err, ErrExists) {
		t.release(base)
	}
	return err
}

func (t *Target) checkName(subdir, name string) error {
	if subdir != "cur" && subdir != "new" || !safeName(name) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("%s: %q/%q is not a message file name", t.dir.path, subdir, name)
	}
	return nil
}

// claim takes the base of name for a message about to be written, so that
// a parallel Deliver of it fails; a base in cur/ or new/ already is
// ErrExists.
func (t *Target) claim(subdir, name string) (base string, err error) {
	path := filepath.Join(t.dir.path, subdir, name)
	base = baseOf(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return "", fmt.Errorf("%s: target closed", path)
	}
	if t.bases[base] {
		return "", fmt.Errorf("%s: %w (message base %s)", path, ErrExists, base)
	}
	t.bases[base] = true
	return base, nil
}

// release frees a claimed base when nothing was placed under it.
func (t *Target) release(base string) {
	t.mu.Lock()
	delete(t.bases, base)
	t.mu.Unlock()
}

// staged is a message written to tmp/ that Commit moves into place.
type staged struct {
	temp string // its name in tmp/
	to   dir
	name string
}

// Batch makes every later Deliver leave its message in tmp/, written but
// not synced, until Commit: restoring a folder of thousands of messages
// then costs one sync of the file system instead of one per message, and
// still no message shows in cur/ or new/ before its bytes are on disk.
func (t *Target) Batch() {
	t.mu.Lock()
	t.batch = true
	t.mu.Unlock()
}

// Commit syncs the file system once and moves every message staged since
// Batch into place, never replacing a file (ErrExists), then syncs again
// so that the moves last. It returns how many it placed and what went
// wrong with the others, whose temp files are removed.
func (t *Target) Commit() (placed int, errs []error) {
	c := CommitAll([]*Target{t})[0]
	if c.Err != nil {
		c.Failed = append(c.Failed, c.Err)
	}
	return c.Placed, c.Failed
}

// Committed is what CommitAll did in one Target.
type Committed struct {
	Placed int     // messages moved into cur/ or new/
	Failed []error // messages not placed (ErrExists: the name was taken)
	// Err is set when the sync after the moves failed: the placed files
	// may not survive a crash, so nothing that names them (a uidlist)
	// should be written.
	Err error
}

// CommitAll is Commit for many targets at once: one sync of each file
// system they lie on before the moves and one after, however many
// folders. A restore of a whole store then waits for the disk a few
// times, not twice per folder.
func CommitAll(ts []*Target) []Committed {
	out := make([]Committed, len(ts))
	todo := make([][]staged, len(ts))
	stages := make([]*stage, len(ts))
	for i, t := range ts {
		t.mu.Lock()
		todo[i], t.staged = t.staged, nil
		stages[i], t.stage = t.stage, nil
		t.mu.Unlock()
	}
	before := syncFileSystems(ts, func(i int) bool { return len(todo[i]) > 0 || stages[i] != nil })
	for i, t := range ts {
		if s := stages[i]; s != nil {
			t.mu.Lock() // s.open and s.done are t's
			if before[i] == nil {
				placed, failed := t.commitStage(s)
				out[i].Placed += placed
				out[i].Failed = append(out[i].Failed, failed...)
			} else {
				out[i].Failed = append(out[i].Failed, dropStage(s, before[i])...)
			}
			t.mu.Unlock()
			s.remove(t.tmp)
		}
		for _, s := range todo[i] {
			err := before[i]
			if err == nil {
				err = moveNoReplace(t.tmp, s.temp, s.to, s.name)
			}
			switch {
			case err == nil:
				out[i].Placed++
				continue
			case before[i] != nil:
				// the bytes may not be on disk: not placed
			case errors.Is(err, unix.EEXIST):
				err = fmt.Errorf("%s: %w", filepath.Join(s.to.path, s.name), ErrExists)
			default:
				err = &os.PathError{Op: "rename", Path: filepath.Join(s.to.path, s.name), Err: err}
			}
			unix.Unlinkat(t.tmp.fd, s.temp, 0)
			out[i].Failed = append(out[i].Failed, err)
		}
	}
	after := syncFileSystems(ts, func(i int) bool { return out[i].Placed > 0 })
	for i, t := range ts {
		if out[i].Placed > 0 {
			out[i].Err = after[i]
		}
		if out[i].Placed > 0 && after[i] != nil {
			t.mu.Lock()
			t.unsynced = true // Close tries again, directory by directory
			t.mu.Unlock()
		}
	}
	return out
}

// SyncAll makes what PutControl wrote in the targets durable: one sync of
// each file system they lie on. It returns the error of each target.
func SyncAll(ts []*Target) []error {
	return syncFileSystems(ts, func(int) bool { return true })
}

// syncFileSystems syncs, once each, the file systems of the targets that
// want it, and returns the error of each target (nil for one not synced).
func syncFileSystems(ts []*Target, want func(i int) bool) []error {
	errs := make([]error, len(ts))
	done := map[uint64]error{} // by device
	for i, t := range ts {
		if !want(i) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(t.tmp.fd, &st); err != nil {
			errs[i] = &os.PathError{Op: "fstat", Path: t.tmp.path, Err: err}
			continue
		}
		err, ok := done[st.Dev]
		if !ok {
			if err = unix.Syncfs(t.tmp.fd); err != nil {
				err = &os.PathError{Op: "syncfs", Path: t.tmp.path, Err: err}
			}
			done[st.Dev] = err
		}
		errs[i] = err
	}
	return errs
}

// PutControl writes a control file (dovecot-uidlist, dovecot-keywords …)
// into the folder, never replacing one (ErrExists), without waiting for
// the disk: SyncAll makes it durable.
func (t *Target) PutControl(name string, data []byte, mtime int64) error {
	if !safeName(name) {
		return fmt.Errorf("%s: %q is not a control file name", t.dir.path, name)
	}
	return writeNew(t.tmp, t.dir, name, bytes.NewReader(data), mtime, t.o, false)
}

func (t *Target) deliver(subdir, name string, r io.Reader, mtime int64) error {
	tf, err := createTemp(t.tmp)
	if err != nil {
		return err
	}
	defer tf.discard()
	t.mu.Lock()
	batch := t.batch
	t.mu.Unlock()
	n, err := tf.write(r, mtime, t.o, !batch)
	if err != nil {
		return err
	}
	if size := ParseName(name).Size; size >= 0 && size != n {
		// Dovecot trusts S= and would serve a cut or padded message.
		return fmt.Errorf("%s: name says S=%d but the message has %d bytes", filepath.Join(t.dir.path, subdir, name), size, n)
	}
	to := t.cur
	if subdir == "new" {
		to = t.new
	}
	if batch {
		tf.kept = true
		t.mu.Lock()
		t.staged = append(t.staged, staged{temp: tf.name, to: to, name: name})
		t.mu.Unlock()
		return nil
	}
	if err := tf.place(to, name, true); err != nil {
		return err
	}
	t.mu.Lock()
	t.unsynced = true
	t.mu.Unlock()
	return nil
}

// Sync makes the files delivered so far durable in cur/ and new/: one
// directory sync for all of them instead of one per file.
func (t *Target) Sync() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.unsynced || t.closed {
		return nil
	}
	for _, d := range []dir{t.cur, t.new} {
		if err := d.sync(); err != nil {
			return err
		}
	}
	t.unsynced = false
	return nil
}

// Close syncs what Sync has not and releases the directories, once every
// Deliver has returned. It is idempotent.
func (t *Target) Close() error {
	err := t.Sync()
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		if t.stage != nil { // never committed: nothing of it shows
			dropStage(t.stage, nil)
			t.stage.remove(t.tmp)
			t.stage = nil
		}
		t.mu.Unlock()
		for _, d := range []dir{t.cur, t.new, t.tmp, t.dir} {
			d.close()
		}
	})
	return err
}

// DeliverFile is OpenTarget, Deliver and Close for one message. For many
// messages, use a Target: each DeliverFile lists cur/ and new/.
func DeliverFile(folder, subdir, name string, data []byte, mtime int64, o Owner) error {
	t, err := OpenTarget(folder, o)
	if err != nil {
		return err
	}
	defer t.Close()
	return t.Deliver(subdir, name, bytes.NewReader(data), mtime)
}

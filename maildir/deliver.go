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
	mu        sync.Mutex      // guards bases, closed and unsynced
	bases     map[string]bool // bases in cur/ and new/, and those delivered since
	closed    bool            // the descriptors are closed: they may name other files now
	unsynced  bool            // renames into cur/ or new/ not yet made durable
	batch     bool            // Deliver stages messages in tmp/ for Commit
	staged    []staged        // written to tmp/, not yet synced or moved
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
	if subdir != "cur" && subdir != "new" || !safeName(name) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("%s: %q/%q is not a message file name", t.dir.path, subdir, name)
	}
	path := filepath.Join(t.dir.path, subdir, name)
	base := baseOf(name)
	t.mu.Lock()
	closed, taken := t.closed, t.bases[base]
	t.bases[base] = true // claimed now, so a parallel Deliver of it fails
	t.mu.Unlock()
	if closed {
		return fmt.Errorf("%s: target closed", path)
	}
	if taken {
		return fmt.Errorf("%s: %w (message base %s)", path, ErrExists, base)
	}
	err := t.deliver(subdir, name, r, mtime)
	if err != nil && !errors.Is(err, ErrExists) {
		t.mu.Lock()
		delete(t.bases, base) // nothing was placed; the base is free again
		t.mu.Unlock()
	}
	return err
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
// Batch into place, never replacing a file (ErrExists). It returns how
// many it placed and what went wrong with the others, whose temp files
// are removed.
func (t *Target) Commit() (placed int, errs []error) {
	t.mu.Lock()
	todo := t.staged
	t.staged = nil
	t.mu.Unlock()
	if len(todo) == 0 {
		return 0, nil
	}
	if err := unix.Syncfs(t.tmp.fd); err != nil {
		for _, s := range todo {
			unix.Unlinkat(t.tmp.fd, s.temp, 0)
			errs = append(errs, &os.PathError{Op: "syncfs", Path: filepath.Join(t.tmp.path, s.temp), Err: err})
		}
		return 0, errs
	}
	for _, s := range todo {
		tf := &tempFile{in: t.tmp, name: s.temp}
		err := moveNoReplace(tf.in, tf.name, s.to, s.name)
		switch {
		case err == nil:
			placed++
			continue
		case errors.Is(err, unix.EEXIST):
			err = fmt.Errorf("%s: %w", filepath.Join(s.to.path, s.name), ErrExists)
		default:
			err = &os.PathError{Op: "rename", Path: filepath.Join(s.to.path, s.name), Err: err}
		}
		unix.Unlinkat(t.tmp.fd, s.temp, 0)
		errs = append(errs, err)
	}
	if placed > 0 {
		t.mu.Lock()
		t.unsynced = true
		t.mu.Unlock()
	}
	if err := t.Sync(); err != nil {
		errs = append(errs, err)
	}
	return placed, errs
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

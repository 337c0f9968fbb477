package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
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

func (t *Target) deliver(subdir, name string, r io.Reader, mtime int64) error {
	tf, err := createTemp(t.tmp)
	if err != nil {
		return err
	}
	defer tf.discard()
	n, err := tf.fill(r, mtime, t.o)
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

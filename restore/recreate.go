package restore

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/maildir"
)

// recreation is a folder absent from the target, to be written exactly as
// it was backed up. Folders are recreated many at a time (writeBatch).
type recreation struct {
	object   string // names the folder in problems
	snapshot int64  // when it was backed up, for problems; 0 if unknown
	path     string // the folder's directory, made by CreateFolder
	f        *archive.Folder
	owner    maildir.Owner
}

// How many folders, and messages, are recreated together: each open
// folder holds four descriptors, and the parts of their messages are
// sorted in memory.
const (
	batchFolders  = 128
	batchMessages = 20000
)

// piece is one blob of a message: the whole message, or one of its parts.
type piece struct {
	msg  *assembling
	blob archive.Hash
	off  int64 // in the message file
	// where it lies in the archives: the order of the reads
	archive uint32
	loc     archive.Location
}

// assembling is a message being written piece by piece.
type assembling struct {
	a      *maildir.Assembly
	folder int // in the batch
	m      *archive.Message
	mu     sync.Mutex // guards left and err
	left   int        // pieces not yet written
	err    error
}

// written is a batch of folders planned (planBatch), whose messages are
// then written into tmp/ (write) and moved into place (finish).
type written struct {
	batch   []recreation
	targets []*maildir.Target
	open    []int     // the batch index of each target
	errs    [][]error // of each folder
	pieces  []piece   // to write, in the order they lie in the archives
	// counted while writing and finishing: merged into the Result after
	Added, Skipped, LeftOut int
}

// planBatch starts the recreation of a batch of folders: it opens them,
// looks every blob up and claims every message's name. write does the
// writing.
func planBatch(batch []recreation, blobs Blobs) *written {
	w := &written{batch: batch, errs: make([][]error, len(batch))}
	for i, rc := range batch {
		t, err := maildir.OpenTarget(rc.path, rc.owner)
		if err != nil {
			w.errs[i] = append(w.errs[i], err)
			continue
		}
		t.Batch()
		w.targets, w.open = append(w.targets, t), append(w.open, i)
	}
	// Planning looks every blob up in the index: all of the batch at
	// once if blobs can, else several folders at once.
	where := lookUp(batch, w.open, blobs)
	var mu sync.Mutex // guards w's counts and errs while the workers run
	perFolder := make([][]piece, len(w.targets))
	parallel(len(w.targets), func(ti int) {
		i, t := w.open[ti], w.targets[ti]
		for j := range batch[i].f.Messages {
			m := &batch[i].f.Messages[j]
			ps, err := assemble(t, i, m, where)
			perFolder[ti] = append(perFolder[ti], ps...)
			if err == nil {
				continue
			}
			mu.Lock()
			switch {
			case errors.Is(err, maildir.ErrExists):
				w.Skipped++
			case errors.Is(err, ErrLeftOut):
				w.LeftOut++
				fallthrough
			default:
				w.errs[i] = append(w.errs[i], fmt.Errorf("%s/%s: %w", m.Subdir, m.Name, err))
			}
			mu.Unlock()
		}
	})
	w.pieces = slices.Concat(perFolder...)
	slices.SortFunc(w.pieces, func(a, b piece) int {
		return cmp.Or(cmp.Compare(a.archive, b.archive), cmp.Compare(a.loc.Offset, b.loc.Offset))
	})
	return w
}

// write writes the batch's messages into tmp/, reading their pieces in
// the order they lie in the archives, so that a message stored once for
// many users, whose body lies far from its headers, costs no extra
// decoding. Each writer takes a stretch of the pieces at a time, in order:
// the writers then read different frames and write into different
// folders, where taking the next piece each had them all creating files
// in one directory, waiting on its lock. finish does the rest.
func (w *written) write(blobs Blobs) {
	var mu sync.Mutex // guards w.errs while the workers run
	n := len(w.pieces)
	stretches := min(n, writers*stretchesPerWriter)
	parallel(stretches, func(c int) {
		for k := c * n / stretches; k < (c+1)*n/stretches; k++ {
			if msg, err := w.pieces[k].write(blobs); err != nil {
				mu.Lock()
				w.errs[msg.folder] = append(w.errs[msg.folder], fmt.Errorf("%s/%s: %w", msg.m.Subdir, msg.m.Name, err))
				mu.Unlock()
			}
		}
	})
	w.pieces = nil
}

// stretchesPerWriter is how many stretches of a batch's pieces each
// writer takes, about: enough that the writers finish together.
const stretchesPerWriter = 8

// finish moves the written messages into place after one sync of the
// file system, writes the control files after another and
// dovecot-uidlist last of all (a folder without one is one whose
// recreation was cut short, see cutShort), and closes the folders. It
// may run while the next batch is written.
func (w *written) finish() {
	defer func() {
		for _, t := range w.targets {
			t.Close()
		}
	}()
	synced := make([]bool, len(w.targets))
	for ti, c := range maildir.CommitAll(w.targets) {
		i := w.open[ti]
		w.Added += c.Placed
		for _, err := range c.Failed {
			if errors.Is(err, maildir.ErrExists) {
				w.Skipped++
				continue
			}
			w.errs[i] = append(w.errs[i], err)
		}
		if c.Err != nil {
			w.errs[i] = append(w.errs[i], c.Err) // no uidlist naming files that may not last
			continue
		}
		synced[ti] = true
	}
	// Control files last: Dovecot then finds every file its uidlist
	// names; dovecot-uidlist goes after a sync of the others.
	for _, uidlist := range []bool{false, true} {
		for ti, t := range w.targets {
			i, f := w.open[ti], w.batch[w.open[ti]].f
			if !synced[ti] {
				continue
			}
			for _, c := range f.Files {
				if (c.Name == uidListName) != uidlist || isControlOfUser(c.Name) && f.Name != "INBOX" {
					continue
				}
				if err := t.PutControl(c.Name, c.Data, c.Mtime); err != nil && !errors.Is(err, maildir.ErrExists) {
					w.errs[i] = append(w.errs[i], err)
				}
			}
		}
		for ti, err := range maildir.SyncAll(w.targets) {
			if err != nil && synced[ti] {
				w.errs[w.open[ti]] = append(w.errs[w.open[ti]], err)
				synced[ti] = false
			}
		}
	}
}

// report adds what the batch did to res.
func (w *written) report(opt Options, res *Result) {
	res.Added += w.Added
	res.Skipped += w.Skipped
	res.LeftOut += w.LeftOut
	for i, e := range w.errs {
		if len(e) == 0 {
			continue
		}
		slices.SortFunc(e, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		rc := w.batch[i]
		res.Problems = append(res.Problems, opt.folderProblem(rc.object, rc.snapshot, errors.Join(e...)))
	}
}

// placeFunc is Blobs.BlobPlace.
type placeFunc func(h archive.Hash) (num uint32, loc archive.Location, parts []archive.Hash, err error)

// placer is what the repository's Blobs also does: BlobPlace of many
// blobs in one look-up, in the index's order.
type placer interface {
	BlobPlaces(hs []archive.Hash) (nums []uint32, locs []archive.Location, parts [][]archive.Hash, errs []error)
}

// place is a blob's answer of BlobPlaces.
type place struct {
	num   uint32
	loc   archive.Location
	parts []archive.Hash
	err   error
}

// lookUp returns where the blobs of the batch's open folders lie: looked
// up all at once (and the parts that listings do not name, in a second
// look-up) when blobs is a placer, else one by one.
func lookUp(batch []recreation, open []int, blobs Blobs) placeFunc {
	pl, ok := blobs.(placer)
	if !ok {
		return blobs.BlobPlace
	}
	places := map[archive.Hash]place{}
	var todo []archive.Hash
	want := func(h archive.Hash) {
		if _, ok := places[h]; !ok {
			places[h] = place{}
			todo = append(todo, h)
		}
	}
	for _, i := range open {
		for _, m := range batch[i].f.Messages {
			if m.LeftOut() {
				continue
			}
			if len(m.Parts) == 0 {
				want(m.Blob)
			}
			for _, p := range m.Parts {
				want(p)
			}
		}
	}
	for len(todo) > 0 {
		hs := todo
		todo = nil
		got := placesOf(pl, hs)
		for k, h := range hs {
			places[h] = got[k]
			for _, p := range got[k].parts {
				want(p) // a message in parts its listing does not name
			}
		}
	}
	return func(h archive.Hash) (uint32, archive.Location, []archive.Hash, error) {
		p, ok := places[h]
		if !ok {
			return blobs.BlobPlace(h)
		}
		return p.num, p.loc, p.parts, p.err
	}
}

// lookUpShare is how many blobs one goroutine of placesOf looks up, at
// least: fewer cost more in starting than they save.
const lookUpShare = 4096

// placesOf looks hs up, in ranges of keys on several goroutines (the
// index's reads run in parallel): a batch's look-ups took an eighth of a
// restore's CPU on one core while the other waited.
func placesOf(pl placer, hs []archive.Hash) []place {
	slices.SortFunc(hs, func(a, b archive.Hash) int { return bytes.Compare(a[:], b[:]) })
	out := make([]place, len(hs))
	n := min(runtime.GOMAXPROCS(0), (len(hs)+lookUpShare-1)/lookUpShare)
	var wg sync.WaitGroup
	for w := range n {
		lo, hi := w*len(hs)/n, (w+1)*len(hs)/n
		wg.Go(func() {
			nums, locs, parts, errs := pl.BlobPlaces(hs[lo:hi])
			for k := range nums {
				out[lo+k] = place{nums[k], locs[k], parts[k], errs[k]}
			}
		})
	}
	wg.Wait()
	return out
}

// assemble claims a message's name in the target and lists its pieces.
func assemble(t *maildir.Target, folder int, m *archive.Message, blobPlace placeFunc) ([]piece, error) {
	if m.LeftOut() {
		return nil, ErrLeftOut
	}
	msg := &assembling{folder: folder, m: m}
	var ps []piece
	var size int64
	add := func(h archive.Hash, num uint32, loc archive.Location) {
		ps = append(ps, piece{msg: msg, blob: h, off: size, archive: num, loc: loc})
		size += loc.Length
	}
	parts := m.Parts
	if len(parts) > 0 && archive.PartsHash(parts...) != m.Blob {
		return nil, fmt.Errorf("the listing names parts of another message: %w", archive.ErrCorrupt)
	}
	if len(parts) == 0 {
		// One blob, or a message stored in parts the listing does not name.
		num, loc, sub, err := blobPlace(m.Blob)
		if err != nil {
			return nil, err
		}
		if len(sub) == 0 {
			add(m.Blob, num, loc)
		}
		parts = sub
	}
	for _, p := range parts {
		num, loc, sub, err := blobPlace(p)
		switch {
		case err != nil:
			return nil, err
		case len(sub) > 0:
			return nil, fmt.Errorf("blob %x: a part that has parts: %w", p[:8], archive.ErrCorrupt)
		}
		add(p, num, loc)
	}
	msg.left = len(ps)
	a, err := t.Assemble(m.Subdir, m.Name, size, m.Mtime)
	if err != nil {
		return nil, err
	}
	msg.a = a
	return ps, nil
}

// parallel calls do(0) … do(n-1) from several goroutines, in order of
// start. Each takes the next k itself: handing every k over a channel
// woke a goroutine per piece, and the scheduler's spinning for them cost
// more system time than the writes.
func parallel(n int, do func(k int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(writers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
				do(k)
			}
		}()
	}
	wg.Wait()
}

// write reads and writes the piece and, when it is the last of its
// message to be written, ends the message. It returns the message and
// why it could not be written.
func (p *piece) write(blobs Blobs) (*assembling, error) {
	msg := p.msg
	msg.mu.Lock()
	skip := msg.err != nil
	msg.mu.Unlock()
	var err error
	if !skip {
		var data []byte
		if data, err = blobs.ReadPlaced(p.blob, p.archive, p.loc); err == nil {
			err = msg.a.WriteAt(data, p.off)
		}
	}
	msg.mu.Lock()
	if err != nil && msg.err == nil {
		msg.err = err
	}
	msg.left--
	last, err := msg.left == 0, msg.err
	msg.mu.Unlock()
	if !last {
		return msg, nil
	}
	if err == nil {
		err = msg.a.Done()
	} else {
		msg.a.Abort()
	}
	return msg, err
}

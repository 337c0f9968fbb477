package repo

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// maxBatchedBlob is the largest message ReadBlobs assembles itself; a
// larger one is read by ReadBlob, which grows its buffer with what
// decodes instead of trusting the index's lengths up front.
const maxBatchedBlob = 64 << 20

// ReadBlobs reads many blobs, for a reader that will want them all soon
// (a mount reading a folder's messages in order), and calls fn with the
// bytes of each, or the error ReadBlob would give for it. The messages of
// a folder lie all over the archives (single copy puts a body where it was
// first seen), so read one by one they decode the same frames again and
// again; here their parts are grouped by the frame they lie in, each frame
// decoded once, by one goroutine per CPU, after the kernel was asked to
// read those frames ahead, and the frames of the first messages of hs
// first. One damaged part fails only its own message.
//
// fn is called once for every index of hs, from those goroutines, before
// ReadBlobs returns; data is not shared with anything else.
func (r *Repo) ReadBlobs(hs []archive.Hash, fn func(i int, data []byte, err error)) {
	recs, errs := r.Catalog.Blobs(hs)
	b := &batch{r: r, fn: fn, msgs: make([]batchMsg, len(hs))}
	var partOf []int // message of each part looked up
	var parts []archive.Hash
	var alone []int // messages too large to assemble here
	for i, rec := range recs {
		switch {
		case errs[i] != nil:
			fn(i, nil, errs[i])
		case len(rec.Parts) == 0:
			b.add(i, hs[i], rec)
		case archive.PartsHash(rec.Parts...) != hs[i]:
			fn(i, nil, errOtherParts(hs[i]))
		default:
			for _, p := range rec.Parts {
				parts = append(parts, p)
				partOf = append(partOf, i)
			}
		}
	}
	if len(parts) > 0 {
		precs, perrs := r.Catalog.Blobs(parts)
		for j, p := range parts {
			i := partOf[j]
			switch {
			case b.msgs[i].failed:
			case perrs[j] != nil:
				b.fail(i, perrs[j])
			case len(precs[j].Parts) > 0:
				b.fail(i, errNestedParts(p))
			default:
				b.add(i, p, precs[j])
			}
		}
	}
	for i := range b.msgs {
		m := &b.msgs[i]
		if !m.failed && m.size > maxBatchedBlob {
			m.failed = true
			alone = append(alone, i)
		}
	}
	b.run()
	for _, i := range alone {
		data, err := r.ReadBlob(hs[i])
		fn(i, data, err)
	}
}

// batch is the work of one ReadBlobs call.
type batch struct {
	r      *Repo
	fn     func(i int, data []byte, err error)
	msgs   []batchMsg
	pieces []piece
}

// batchMsg is one message being assembled. Set up before the workers
// start; then only left changes, and the worker that brings it to zero
// hands the message to fn.
type batchMsg struct {
	size   int64
	pieces []int // into batch.pieces, in message order
	failed bool  // already handed to fn, or left to ReadBlob
	buf    []byte
	left   atomic.Int32
}

// piece is one stored blob of a message: the whole message, or a part.
type piece struct {
	msg int
	h   archive.Hash
	b   index.Blob
	at  int64 // offset in the message
	err error // set before the workers start, or by the one that reads it
}

func (b *batch) add(i int, h archive.Hash, rec index.Blob) {
	m := &b.msgs[i]
	m.pieces = append(m.pieces, len(b.pieces))
	b.pieces = append(b.pieces, piece{msg: i, h: h, b: rec, at: m.size})
	m.size += rec.Loc.Length
}

// fail hands a message's error to fn before any work starts.
func (b *batch) fail(i int, err error) {
	b.msgs[i].failed = true
	b.fn(i, nil, err)
}

// run reads the pieces of the messages not failed yet.
func (b *batch) run() {
	var order []int
	for i := range b.msgs {
		m := &b.msgs[i]
		if m.failed || len(m.pieces) == 0 {
			continue
		}
		m.buf = make([]byte, m.size)
		m.left.Store(int32(len(m.pieces)))
		order = append(order, m.pieces...)
	}
	sort.Slice(order, func(x, y int) bool {
		p, q := &b.pieces[order[x]], &b.pieces[order[y]]
		if p.b.Archive != q.b.Archive {
			return p.b.Archive < q.b.Archive
		}
		return p.b.Loc.Offset < q.b.Loc.Offset
	})
	groups := b.groups(order)
	// Each frame once, but in the order the messages are wanted: the
	// reader takes the first while the rest decode.
	first := func(g []int) int {
		m := len(b.msgs)
		for _, k := range g {
			m = min(m, b.pieces[k].msg)
		}
		return m
	}
	sort.SliceStable(groups, func(x, y int) bool { return first(groups[x]) < first(groups[y]) })
	work := make(chan []int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(groups)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				for _, k := range g {
					b.read(k)
				}
			}
		}()
	}
	for _, g := range groups {
		work <- g
	}
	close(work)
	wg.Wait()
}

// groups splits the sorted pieces into runs that start in the same frame,
// so that one worker decodes each frame, and asks the kernel to read the
// frames ahead.
func (b *batch) groups(order []int) [][]int {
	var groups [][]int
	type frameID struct {
		archive uint32
		idx     int
	}
	last := frameID{idx: -1}
	for _, k := range order {
		p := &b.pieces[k]
		a, err := b.r.openArchive(p.b.Archive)
		if err != nil {
			p.err = err
			groups = append(groups, []int{k}) // fails at once, alone
			last = frameID{idx: -1}
			continue
		}
		frames := a.r.Trailer().Frames
		idx := sort.Search(len(frames), func(i int) bool { return frames[i].LogicalOffset+frames[i].Len > p.b.Loc.Offset })
		id := frameID{p.b.Archive, idx}
		if id != last || len(groups) == 0 {
			groups = append(groups, nil)
			willNeed(a, frames, idx, p.b.Loc)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], k)
		last = id
	}
	return groups
}

// willNeed asks the kernel to start reading the compressed frames that
// hold loc, starting with frame idx.
func willNeed(a *archiveFile, frames []archive.Frame, idx int, loc archive.Location) {
	end := loc.Offset + loc.Length
	for i := idx; i < len(frames) && frames[i].LogicalOffset < end; i++ {
		unix.Fadvise(int(a.f.Fd()), frames[i].FileOffset, frames[i].CompressedLen, unix.FADV_WILLNEED)
	}
}

// read reads piece k into its message and, if it was the message's last,
// hands the message to fn.
func (b *batch) read(k int) {
	p := &b.pieces[k]
	m := &b.msgs[p.msg]
	if p.err == nil {
		p.err = b.readPiece(p, m)
	}
	if m.left.Add(-1) != 0 {
		return
	}
	for _, j := range m.pieces {
		if err := b.pieces[j].err; err != nil {
			b.fn(p.msg, nil, err)
			return
		}
	}
	b.fn(p.msg, m.buf, nil)
}

func (b *batch) readPiece(p *piece, m *batchMsg) error {
	ar, err := b.r.reader(p.b.Archive)
	if err != nil {
		return err
	}
	n := p.b.Loc.Length
	// Appended in place: the slice has room for exactly the piece.
	got, err := ar.AppendBlob(m.buf[p.at:p.at:p.at+n], p.h, p.b.Loc)
	if err != nil {
		return fmt.Errorf("archive %s: %w", b.r.ArchiveName(p.b.Archive), err)
	}
	if int64(len(got)) != n || (n > 0 && &got[0] != &m.buf[p.at]) {
		return fmt.Errorf("blob %x: read %d bytes, the index says %d: %w", p.h[:8], len(got), n, archive.ErrCorrupt)
	}
	return nil
}

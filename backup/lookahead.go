package backup

import (
	"sync"

	"github.com/mailvault/mailvault/maildir"
)

// On a cold cache every folder costs a few small random reads (its
// directory, cur/ and new/, the control files), and a run that looks at
// one folder at a time leaves the disk idle between them: most of a
// no-change run. The lookahead lists and probes the folders of the next
// users, a few at once, while the run goes through them in order.
const (
	lookaheadUsers   = 8 // users listed ahead of the one being backed up
	lookaheadWorkers = 4
)

// lookahead runs ahead of a group's run. Its workers write each user's
// result once; the run's goroutine takes them in order.
type lookahead struct {
	results []chan *lookedAhead // one per user, buffered
	window  chan struct{}       // a token per user looked at and not yet taken
	stop    chan struct{}
	wg      sync.WaitGroup
}

// lookedAhead is what was found of one user's folders.
type lookedAhead struct {
	dirs   []maildir.FolderDir
	err    error
	probes map[string]probed // by folder directory; nil when not probing
	scans  map[string]probed // folders that changed, listed (ScanFolderNew)

	// The user's folders in the base snapshot, each resolved (origins),
	// and the error that ended reading the base, if it ended here.
	prior   map[string]*priorFolder
	baseErr error
}

type probed struct {
	f    *maildir.Folder
	errs []error
}

// startLookahead lists the folders of users in the background, and with
// probe set probes each (maildir.ProbeFolder), for a run that has a base
// snapshot to compare them with. It reads each user's folders in the base
// b (if not nil; in one pass and one goroutine, as a base is read),
// resolves them with orig, and gives each probe the control files the base
// has of the folder. A folder the probe finds changed, or that the base
// does not have, is listed ahead too, taking cur/ from the base as the run
// would (knownCur, with the blobs of st): on a cold cache a delivery costs
// the listing of new/ and the files' inodes, small reads that the run
// would otherwise wait for one folder at a time.
func startLookahead(users []maildir.User, probe bool, b *base, orig *origins, st *state) *lookahead {
	la := &lookahead{
		results: make([]chan *lookedAhead, len(users)),
		window:  make(chan struct{}, lookaheadUsers),
		stop:    make(chan struct{}),
	}
	for i := range la.results {
		la.results[i] = make(chan *lookedAhead, 1)
	}
	type job struct {
		i  int
		la *lookedAhead
	}
	next := make(chan job)
	var baseTime int64
	if b != nil {
		baseTime = b.time
	}
	la.wg.Add(1)
	go func() { // the only reader of b and orig until la.close
		defer la.wg.Done()
		defer close(next)
		for i := range users {
			select {
			case la.window <- struct{}{}:
			case <-la.stop:
				return
			}
			r := &lookedAhead{}
			if b != nil {
				r.prior, r.baseErr = b.user(users[i].ID)
				if r.baseErr != nil {
					r.prior, b = nil, nil // the rest is read from the store
				}
				for _, pf := range r.prior {
					orig.resolve(pf) // an error is kept in pf for the run to tell
				}
			}
			select {
			case next <- job{i, r}:
			case <-la.stop:
				return
			}
		}
	}()
	for range lookaheadWorkers {
		la.wg.Add(1)
		go func() {
			defer la.wg.Done()
			for j := range next {
				look(users[j.i], j.la, probe, baseTime, st)
				la.results[j.i] <- j.la
			}
		}()
	}
	return la
}

// warmBytes bounds the message bytes the lookahead asks the kernel to
// read ahead for one user.
const warmBytes = 32 << 20

func look(u maildir.User, r *lookedAhead, probe bool, baseTime int64, st *state) {
	r.dirs, r.err = maildir.ListFolders(u.Root)
	if r.err != nil {
		return
	}
	if !probe {
		// No base: every folder is listed and every message read. On a
		// cold cache, listed and read one folder at a time by the run,
		// they kept the disk waiting between folders (10 s for the bench
		// store against 4 s warm); listed here, their bytes asked for
		// ahead, the reads overlap.
		r.scans = map[string]probed{}
		budget := int64(warmBytes)
		for _, fd := range r.dirs {
			f, errs := maildir.ScanFolder(u.Root, fd)
			r.scans[fd.Dir] = probed{f, errs}
			if f != nil && budget > 0 {
				budget -= f.WillRead(f.Messages, budget)
			}
		}
		return
	}
	r.probes = make(map[string]probed, len(r.dirs))
	r.scans = map[string]probed{}
	for _, fd := range r.dirs {
		pf := r.prior[fd.Name]
		f, errs := maildir.ProbeFolder(u.Root, fd, knownControls(pf, baseTime))
		r.probes[fd.Dir] = probed{f, errs}
		if f == nil || st == nil {
			continue // the run finds out again
		}
		if pf == nil || pf.whole == nil || pf.CurMtime != f.CurMtime || pf.NewMtime != f.NewMtime {
			var cur int64
			if pf != nil {
				cur = knownCur(pf, baseTime, st.stored)
			}
			f, errs := maildir.ScanFolderNew(u.Root, fd, cur)
			r.scans[fd.Dir] = probed{f, errs}
		}
	}
}

// knownControls returns the control files of a folder in the base
// snapshot whose mtimes are old enough to be trusted (racyMtime), for
// ProbeFolder not to read them again.
func knownControls(pf *priorFolder, baseTime int64) []maildir.ControlFile {
	if pf == nil || pf.whole == nil {
		return nil
	}
	var out []maildir.ControlFile
	for _, f := range pf.whole.Files {
		if baseTime-f.Mtime >= racyMtime {
			out = append(out, maildir.ControlFile{Name: f.Name, Mode: f.Mode, Mtime: f.Mtime, Data: f.Data})
		}
	}
	return out
}

// take returns what was found of the i-th user; users are taken in order.
func (la *lookahead) take(i int) *lookedAhead {
	r := <-la.results[i]
	<-la.window
	return r
}

// close stops the workers; what they did not take is dropped.
func (la *lookahead) close() {
	close(la.stop)
	la.wg.Wait()
}

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
}

type probed struct {
	f    *maildir.Folder
	errs []error
}

// startLookahead lists the folders of users in the background, and with
// probe set probes each (maildir.ProbeFolder), for a run that has a base
// snapshot to compare them with.
func startLookahead(users []maildir.User, probe bool) *lookahead {
	la := &lookahead{
		results: make([]chan *lookedAhead, len(users)),
		window:  make(chan struct{}, lookaheadUsers),
		stop:    make(chan struct{}),
	}
	for i := range la.results {
		la.results[i] = make(chan *lookedAhead, 1)
	}
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range users {
			select {
			case la.window <- struct{}{}:
			case <-la.stop:
				return
			}
			select {
			case next <- i:
			case <-la.stop:
				return
			}
		}
	}()
	for range lookaheadWorkers {
		la.wg.Add(1)
		go func() {
			defer la.wg.Done()
			for i := range next {
				la.results[i] <- look(users[i], probe)
			}
		}()
	}
	return la
}

func look(u maildir.User, probe bool) *lookedAhead {
	dirs, err := maildir.ListFolders(u.Root)
	r := &lookedAhead{dirs: dirs, err: err}
	if probe && err == nil {
		r.probes = make(map[string]probed, len(dirs))
		for _, fd := range dirs {
			f, errs := maildir.ProbeFolder(u.Root, fd)
			r.probes[fd.Dir] = probed{f, errs}
		}
	}
	return r
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

package maildir

import (
	"os"
	"path/filepath"
	"sync"
	"time"
)

// mtimeSlack is how long after a directory change a listing may still have
// missed it: a change within the same mtime tick leaves the mtime as it was.
const mtimeSlack = time.Second

// relookup finds renamed messages for ReadMessage. One listing of cur/ and
// new/ serves every miss until the directories change, so a large folder is
// not re-read once per renamed message.
type relookup struct {
	mu       sync.Mutex             // guards the fields below
	byBase   map[string]MessageFile // base → where the last listing saw it (Subdir, Name)
	mtimes   [2]int64               // cur/ and new/ mtimes stat'ed before that listing
	listedAt int64                  // when that listing started, unix ns
	lists    int                    // listings made, for tests
}

// find returns where base is now, other than tried, or false.
func (r *relookup) find(folder, base string, tried MessageFile) (MessageFile, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	relisted := false
	if r.byBase == nil || r.stale(folder) {
		r.list(folder)
		relisted = true
	}
	m, ok := r.byBase[base]
	if ok && m.Subdir == tried.Subdir && m.Name == tried.Name && !relisted {
		r.list(folder)
		m, ok = r.byBase[base]
	}
	if !ok || m.Subdir == tried.Subdir && m.Name == tried.Name {
		return MessageFile{}, false
	}
	return m, true
}

// stale reports whether cur/ or new/ may have changed since the listing.
func (r *relookup) stale(folder string) bool {
	now := dirMtimes(folder)
	return now != r.mtimes || max(now[0], now[1]) > r.listedAt-int64(mtimeSlack)
}

func (r *relookup) list(folder string) {
	r.lists++
	r.listedAt = time.Now().UnixNano()
	r.mtimes = dirMtimes(folder)
	r.byBase = make(map[string]MessageFile, len(r.byBase))
	for _, sub := range []string{"new", "cur"} { // cur last: a name there wins
		d, err := os.Open(filepath.Join(folder, sub))
		if err != nil {
			continue // nothing to find there
		}
		names, _ := d.Readdirnames(-1) // unsorted, unstat'ed: cheap for 100 000 names
		d.Close()
		for _, n := range names {
			r.byBase[baseOf(n)] = MessageFile{Subdir: sub, Name: n}
		}
	}
}

func dirMtimes(folder string) [2]int64 {
	var t [2]int64
	for i, sub := range []string{"cur", "new"} {
		if fi, err := os.Lstat(filepath.Join(folder, sub)); err == nil {
			t[i] = fi.ModTime().UnixNano()
		}
	}
	return t
}

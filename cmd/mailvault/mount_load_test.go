package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mailvault/mailvault/internal/figures"
	"github.com/mailvault/mailvault/internal/teststore"
)

// procStatus returns a field of /proc/PID/status in KiB (VmRSS, VmHWM) or
// as a count (Threads).
func procStatus(t *testing.T, pid int, field string) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// openFiles sorts what a process has open: archive files (by path, to find
// one opened twice), index files, and everything else (by target).
type openFiles struct {
	archives map[string]int
	index    int
	other    map[string]int
}

func (o openFiles) String() string {
	n := 0
	for _, c := range o.archives {
		n += c
	}
	m := 0
	for _, c := range o.other {
		m += c
	}
	return fmt.Sprintf("%d archives, %d index, %d other", n, o.index, m)
}

func listFDs(t *testing.T, pid int, repoDir string) openFiles {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	o := openFiles{archives: map[string]int{}, other: map[string]int{}}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		switch {
		case strings.HasPrefix(target, filepath.Join(repoDir, "archives")+"/"):
			o.archives[target]++
		case strings.HasPrefix(target, filepath.Join(repoDir, "index")+"/"):
			o.index++
		default:
			// pipe:[123] and socket:[456] differ by number only.
			o.other[regexp.MustCompile(`\[\d+\]`).ReplaceAllString(target, "")]++
		}
	}
	return o
}

// goroutines asks the mount for its status (SIGUSR1) and returns its
// goroutine count.
func (m *mount) goroutines(t *testing.T) int {
	t.Helper()
	re := regexp.MustCompile(`status: (\d+) goroutines`)
	before := len(re.FindAllString(m.stderr.String(), -1))
	m.cmd.Process.Signal(syscall.SIGUSR1)
	var n int
	waitFor(t, "the mount's status line", func() bool {
		all := re.FindAllStringSubmatch(m.stderr.String(), -1)
		if len(all) <= before {
			return false
		}
		n, _ = strconv.Atoi(all[len(all)-1][1])
		return true
	})
	return n
}

// messageHashes maps each message of the store to its sha-256, by its path
// in a view of the mount (mail1/<group>/<user>/<folder>/<cur|new>/<name>).
func messageHashes(t *testing.T, st *teststore.Store, into map[string][sha256.Size]byte) {
	t.Helper()
	for _, f := range storeFiles(t, st, "") {
		if _, ok := into[f.mountPath]; ok {
			continue // the store only gains files here, never changes one
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		into[f.mountPath] = sha256.Sum256(data)
	}
}

// TestMountUnderLoad: 8 readers walk and read the whole mount, every
// snapshot view and the latest, and check every message against the store
// while new snapshots are backed up and ingested by the running mount. The
// store only gains messages, so every name a reader sees is in the store
// and any error is a real one. Afterwards the mount holds no more files
// or goroutines than before, its peak memory stays within its bound, and
// it unmounts cleanly.
func TestMountUnderLoad(t *testing.T) {
	requireFUSE(t)
	quickExit(t)
	const readers = 8
	const cacheMB = 8
	msgs, rounds := figures.Size(150, 4000), figures.Size(2, 8)
	began := time.Now()
	st := buildStore(t, msgs)
	t.Logf("store built in %v", time.Since(began).Round(time.Millisecond))
	repoDir := filepath.Join(t.TempDir(), "repo")
	hashes := map[string][sha256.Size]byte{}
	messageHashes(t, st, hashes)
	backupGroups(t, st, repoDir)
	mnt := filepath.Join(t.TempDir(), "mnt")
	m := startMount(t, repoDir, mnt, "--cache-mb", strconv.Itoa(cacheMB))
	pid := m.cmd.Process.Pid

	// At rest, before any read.
	fdsBefore := listFDs(t, pid, repoDir)
	goBefore := m.goroutines(t)
	rssBefore := procStatus(t, pid, "VmRSS")

	var hashMu sync.RWMutex // guards hashes while readers run
	var read, held, lost, failed atomic.Int64
	var errMu sync.Mutex
	var errs []string
	fail := func(format string, a ...any) {
		failed.Add(1)
		errMu.Lock()
		defer errMu.Unlock()
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, a...))
		}
	}
	// check reads one file and checks it: a message against the store, a
	// control file against its size. It drops the pages it read, so that
	// the next reader's read goes to the mount again.
	check := func(p string) {
		read.Add(1)
		f, err := os.Open(p)
		if err != nil {
			fail("open %s: %v", p, err)
			return
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		if err != nil {
			fail("read %s: %v", p, err)
			return
		}
		rel, _ := filepath.Rel(mnt, p)
		if parts := strings.SplitN(rel, "/", 3); parts[0] == ".snapshots" && len(parts) == 3 {
			rel = parts[2] // the same file as in the latest view
		}
		if sub := filepath.Base(filepath.Dir(rel)); sub == "cur" || sub == "new" {
			hashMu.RLock()
			want, ok := hashes[rel]
			hashMu.RUnlock()
			if !ok || [sha256.Size]byte(h.Sum(nil)) != want {
				lost.Add(1)
				fail("%s: not the bytes of the store's message (known: %v)", p, ok)
				return
			}
		} else if fi, err := f.Stat(); err != nil || fi.Size() != n {
			lost.Add(1)
			fail("%s: read %d bytes, stat says %v (%v)", p, n, fi.Size(), err)
			return
		}
		held.Add(1)
	}
	var stop atomic.Bool
	walk := func() {
		filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
			if stop.Load() {
				return filepath.SkipAll // the test is over
			}
			if err != nil {
				fail("walk %s: %v", p, err)
				return nil
			}
			if d.Type().IsRegular() {
				check(p)
			}
			return nil
		})
	}
	var walks atomic.Int64
	var allIn atomic.Int64     // when the last snapshot was in the mount, unix ns
	var walkedAll atomic.Int64 // readers that walked the mount since
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			counted := false
			for !stop.Load() {
				start := time.Now().UnixNano()
				walk()
				walks.Add(1)
				if in := allIn.Load(); !counted && in != 0 && start > in {
					counted = true
					walkedAll.Add(1)
				}
			}
		})
	}

	// Meanwhile: deliveries and backups, each ingested by the mount.
	users := st.Users
	for round := range rounds {
		for i, u := range users {
			var batch [][]byte
			for k := range 1 + i%3 {
				batch = append(batch, fmt.Appendf(nil, "Subject: round %d, %d\nTo: %s\n\nnew mail\n", round, k, u))
			}
			if err := st.Deliver(u, batch); err != nil {
				t.Fatal(err)
			}
		}
		hashMu.Lock()
		messageHashes(t, st, hashes) // before the backup: readers never see a message unknown
		hashMu.Unlock()
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) // a second of its own
		backupGroups(t, st, repoDir)
		want := round + 3 // snapshot times and latest
		waitFor(t, "the new snapshot in the mount", func() bool { return len(names(filepath.Join(mnt, ".snapshots"))) == want })
		t.Logf("snapshot %d in the mount at %v", round+2, time.Since(began).Round(time.Millisecond))
		// Spread the snapshots over the reading: the next comes once a
		// reader has walked the mount with this one in.
		for w := walks.Load(); walks.Load() == w && round < rounds-1; {
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Every reader walks the mount once more with all snapshots in.
	allIn.Store(time.Now().UnixNano())
	patience := time.Duration(figures.Size(3, 20)) * time.Minute // a walk of every view at bench size takes minutes
	for deadline := time.Now().Add(patience); walkedAll.Load() < readers; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("only %d of %d readers walked the mount after the last snapshot, in %v", walkedAll.Load(), readers, patience)
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("readers done at %v", time.Since(began).Round(time.Millisecond))

	time.Sleep(1500 * time.Millisecond) // let go-fuse's request loops wind down
	fdsAfter := listFDs(t, pid, repoDir)
	goAfter := m.goroutines(t)
	peak := procStatus(t, pid, "VmHWM")
	for _, e := range errs {
		t.Error(e)
	}
	if n := read.Load(); n < int64(len(hashes)) {
		t.Errorf("the readers read %d files; the store holds %d messages", n, len(hashes))
	}
	// An archive is opened once and kept; nothing else may pile up.
	for p, n := range fdsAfter.archives {
		if n > 1 {
			t.Errorf("%s is open %d times", p, n)
		}
	}
	for target, n := range fdsAfter.other {
		allowed := fdsBefore.other[target]
		switch target {
		case "pipe:":
			// go-fuse splices reads through a pool of pipe pairs, one pair
			// per read in flight: the readers' and the kernel's readahead
			// (12 background requests).
			allowed += 2 * (readers + 12)
		case "/dev/null":
			allowed++ // where go-fuse discards a spliced read it cannot send
		}
		if n > allowed {
			t.Errorf("%d files open on %s after the load, %d before", n, target, fdsBefore.other[target])
		}
	}
	if fdsAfter.index > fdsBefore.index+8 {
		t.Errorf("index files open: %d after the load, %d before", fdsAfter.index, fdsBefore.index)
	}
	if goAfter > goBefore+4 {
		t.Errorf("%d goroutines after the load, %d before", goAfter, goBefore)
	}
	// The bound: the GOMEMLIMIT the mount gives itself (twice the cache
	// for messages and frames, and 128 MiB), and the pages of the binary
	// and the index files mapped (64 MiB); the race detector's shadow
	// memory takes as much again and more.
	limit := (2*cacheMB + 128 + 64) << 10
	if raceEnabled {
		limit *= 4
	}
	if peak > limit {
		t.Errorf("peak RSS %d MiB, more than the bound %d MiB", peak>>10, limit>>10)
	}
	if strings.Contains(m.stderr.String(), "cannot") {
		t.Errorf("the mount logged errors:\n%s", m.stderr)
	}
	m.stop(t)

	figures.Record(t, figures.Row{Suite: "load", What: "concurrent reads of the mount during ingest",
		Tried: int(read.Load()), Held: int(held.Load()), Lost: int(lost.Load()),
		Note: fmt.Sprintf("%d readers, %d walks, %d snapshots ingested, %d messages; peak RSS %d MiB (at rest %d MiB, --cache-mb %d, race %v); fds %v before, %v after; %d goroutines before, %d after",
			readers, walks.Load(), rounds, len(hashes), peak>>10, rssBefore>>10, cacheMB, raceEnabled, fdsBefore, fdsAfter, goBefore, goAfter)})
}

package main

// The crash suite: mailvault is killed with SIGKILL at random points of a
// backup, an index rebuild, an import and a restore, and after every kill
// the repository (or the restored store) must be as a user relies on it:
// every earlier snapshot there and whole, nothing half-written visible,
// nothing left behind, and the next run working.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/internal/figures"
	"github.com/mailvault/mailvault/internal/teststore"
	"github.com/mailvault/mailvault/maildir"
)

// mailState is a store's message files: path under the store root
// (<domain>/<local>/Maildir/[.Folder/]cur/<name>) → sha-256 of the bytes.
type mailState map[string]string

// readMailState reads every message file (in cur/ and new/) under root.
func readMailState(t *testing.T, root string) mailState {
	t.Helper()
	out := mailState{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		if sub := filepath.Base(filepath.Dir(p)); sub != "cur" && sub != "new" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		sum := sha256.Sum256(data)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// userOf names the user of a path in a mailState.
func userOf(rel string) string {
	parts := strings.SplitN(rel, "/", 3)
	return parts[1] + "@" + parts[0]
}

// ofGroup keeps the files of the users of one group.
func (s mailState) ofGroup(group string) mailState {
	out := mailState{}
	for p, h := range s {
		if e2eUsers[userOf(p)] == group {
			out[p] = h
		}
	}
	return out
}

// diff counts the files of want missing from s or different there, and
// the files of s that want lacks, with a few examples.
func (s mailState) diff(want mailState) (lost, extra int, examples []string) {
	for p, h := range want {
		if s[p] != h {
			lost++
			if len(examples) < 3 {
				examples = append(examples, "missing or different: "+p)
			}
		}
	}
	for p := range s {
		if _, ok := want[p]; !ok {
			extra++
			if len(examples) < 6 {
				examples = append(examples, "extra: "+p)
			}
		}
	}
	return lost, extra, examples
}

// crashSnap is a snapshot the repository must keep: its line of
// 'snapshots --json' and the messages a restore of it must give back.
type crashSnap struct {
	line    snapLine
	created int64 // unix ns, from the archive's header
	want    mailState
}

type snapLine struct {
	Time     string `json:"time"`
	Server   string `json:"server"`
	Group    string `json:"group"`
	Archive  string `json:"archive"`
	Users    int    `json:"users"`
	Folders  int    `json:"folders"`
	Messages int    `json:"messages"`
	Bytes    int64  `json:"bytes"`
	Kind     string `json:"kind"`
}

// crashRig is a store, a repository and what the repository must hold.
type crashRig struct {
	t      *testing.T
	st     *teststore.Store
	repo   string
	groups string
	rng    *rand.Rand
	snaps  map[string]*crashSnap // by archive name
	seq    int                   // messages delivered so far
	roots  int                   // restore targets made so far
}

func newCrashRig(t *testing.T, messages int, seed uint64) *crashRig {
	t.Helper()
	quickExit(t)
	st := buildStore(t, messages)
	dir := t.TempDir()
	g := &crashRig{t: t, st: st, repo: filepath.Join(dir, "repo"), groups: filepath.Join(dir, "groups.conf"),
		rng: rand.New(rand.NewPCG(seed, seed)), snaps: map[string]*crashSnap{}}
	if err := os.WriteFile(g.groups, []byte(e2eGroups), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("crash suite seed %d", seed)
	return g
}

// crashSeed is the seed of the random kill points: MAILVAULT_CRASH_SEED
// repeats a run, otherwise it is new each time (and logged).
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("MAILVAULT_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MAILVAULT_CRASH_SEED: %v", err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// crashKills is how many kills a test makes: 4, 24 at bench size, or
// MAILVAULT_CRASH_KILLS.
func crashKills(t *testing.T) int {
	if s := os.Getenv("MAILVAULT_CRASH_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("MAILVAULT_CRASH_KILLS=%q: want a count", s)
		}
		return n
	}
	return figures.Size(4, 24)
}

func (g *crashRig) backupArgs(flags ...string) []string {
	return append(append([]string{"backup", "--repo", g.repo, "--server", "mail1", "--groups", g.groups, "--quiet"}, flags...), g.st.Template)
}

// change delivers a few new messages to random users and expunges one
// message file, so that each run has something new to store.
func (g *crashRig) change() {
	t := g.t
	state := readMailState(t, g.st.Root)
	var paths []string
	for p := range state {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for range 3 {
		user := g.st.Users[g.rng.IntN(len(g.st.Users))]
		var msgs [][]byte
		for range 4 {
			src, err := os.ReadFile(filepath.Join(g.st.Root, paths[g.rng.IntN(len(paths))]))
			if err != nil {
				t.Fatal(err)
			}
			g.seq++
			msgs = append(msgs, append([]byte(fmt.Sprintf("X-Crash-Test: %d\n", g.seq)), src...))
		}
		if err := g.st.Deliver(user, msgs); err != nil {
			t.Fatal(err)
		}
	}
	victim := paths[g.rng.IntN(len(paths))]
	if err := os.Remove(filepath.Join(g.st.Root, victim)); err != nil {
		t.Fatal(err)
	}
}

// snapshotLines runs 'snapshots --json'.
func (g *crashRig) snapshotLines() ([]snapLine, error) {
	r := mv(g.t, "snapshots", "--repo", g.repo, "--json")
	if r.code != 0 {
		return nil, fmt.Errorf("snapshots: exit %d: %s", r.code, r.stderr)
	}
	var out []snapLine
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if l == "" {
			continue
		}
		var s snapLine
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			return nil, fmt.Errorf("snapshots --json: %q: %v", l, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// backup runs a backup that must succeed, records its snapshots and
// returns how long it took and when its first archive was renamed.
func (g *crashRig) backup(flags ...string) killRun {
	g.t.Helper()
	state := readMailState(g.t, g.st.Root)
	kr := runKilled(g.t, -1, filepath.Join(g.repo, "archives"), g.backupArgs(flags...)...)
	if kr.code != 0 {
		g.t.Fatalf("backup %v: exit %d: %s", flags, kr.code, kr.stderr)
	}
	if errs, _ := g.check(state, false); len(errs) > 0 {
		g.t.Fatalf("after a backup that was not killed: %v", errs)
	}
	return kr
}

// check compares the repository with what it must hold: the snapshots
// listed, archives/ and tmp/. Snapshots not seen before must be of the run
// that was killed (whose store was pending). With restores set, 'verify
// --read-data' must find the repository sound, and one of the new
// snapshots (or, if there is none, one of any time) is restored and
// compared with what its store held; it returns what failed and the
// messages lost or duplicated.
func (g *crashRig) check(pending mailState, restores bool) (errs []error, lost int) {
	t := g.t
	t.Helper()
	lines, err := g.snapshotLines()
	if err != nil {
		return []error{err}, 0
	}
	listed := map[string]bool{}
	knownBefore := map[*crashSnap]bool{}
	for _, s := range g.snaps {
		knownBefore[s] = true
	}
	for _, l := range lines {
		listed[l.Archive] = true
		s, known := g.snaps[l.Archive]
		if !known {
			if pending == nil {
				errs = append(errs, fmt.Errorf("snapshot %s of group %s in %s appeared from nowhere", l.Time, l.Group, l.Archive))
				continue
			}
			a, err := archive.OpenFile(filepath.Join(g.repo, "archives", l.Archive))
			if err != nil {
				errs = append(errs, fmt.Errorf("a listed archive cannot be read: %v", err))
				continue
			}
			s = &crashSnap{line: l, created: a.Header().Created, want: pending.ofGroup(l.Group)}
			a.Close()
			g.snaps[l.Archive] = s
			if len(s.want) != l.Messages {
				errs = append(errs, fmt.Errorf("snapshot %s of %s lists %d messages, the store had %d", l.Time, l.Group, l.Messages, len(s.want)))
			}
			continue
		}
		if l != s.line {
			errs = append(errs, fmt.Errorf("snapshot in %s changed:\n got %+v\nwant %+v", l.Archive, l, s.line))
		}
	}
	for name, s := range g.snaps {
		if !listed[name] {
			errs = append(errs, fmt.Errorf("snapshot %s of group %s (%s) is gone", s.line.Time, s.line.Group, name))
		}
	}
	// Every archive in archives/ is listed, and nothing is left under tmp/.
	files, _ := filepath.Glob(filepath.Join(g.repo, "archives", "*"))
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			errs = append(errs, fmt.Errorf("%s is in archives/ but not among the snapshots", filepath.Base(f)))
		}
	}
	if left := names(filepath.Join(g.repo, "tmp")); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left under tmp/: %v", left))
	}
	if !restores || len(g.snaps) == 0 {
		return errs, 0
	}
	if r := mv(t, "verify", "--repo", g.repo, "--read-data", "--quiet"); r.code != 0 {
		errs = append(errs, fmt.Errorf("verify --read-data: exit %d: %s%s", r.code, r.stdout, r.stderr))
	}
	// A new snapshot if the killed run left one, else one of any time.
	var all, fresh []*crashSnap
	for _, s := range g.snaps {
		all = append(all, s)
		if !knownBefore[s] {
			fresh = append(fresh, s)
		}
	}
	if len(fresh) == 0 {
		fresh = all
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].line.Archive < fresh[j].line.Archive })
	n, err := g.restoreSnap(fresh[g.rng.IntN(len(fresh))])
	if err != nil {
		errs = append(errs, err)
	}
	return errs, n
}

// restoreSnap restores one snapshot of a group and compares it with what
// the store held when it was taken.
func (g *crashRig) restoreSnap(s *crashSnap) (lost int, _ error) {
	at := time.Unix(0, s.created).UTC().Format(time.RFC3339Nano)
	return g.restoreAndCompare("/mail1/"+s.line.Group, at, s.want)
}

// restoreAndCompare restores a scope as of at ("" for the latest) into an
// empty store root and compares every message with want.
func (g *crashRig) restoreAndCompare(scope, at string, want mailState) (lost int, _ error) {
	g.roots++
	root := newStoreRoot(g.t, g.st, fmt.Sprintf("crash-restore-%d", g.roots))
	defer os.RemoveAll(root)
	args := []string{"restore", "--repo", g.repo, scope, "--to", locationUnder(root)}
	if at != "" {
		args = append(args, "--at", at)
	}
	r := mv(g.t, args...)
	if r.code != 0 {
		return len(want), fmt.Errorf("restore %s --at %q: exit %d: %s", scope, at, r.code, r.stderr)
	}
	missing, extra, ex := readMailState(g.t, root).diff(want)
	if missing+extra > 0 {
		return missing + extra, fmt.Errorf("restore %s --at %q: %d messages missing or different, %d extra: %v", scope, at, missing, extra, ex)
	}
	return 0, nil
}

// checkLatest restores the whole server, the latest snapshot of every
// group, and compares it with the store.
func (g *crashRig) checkLatest() {
	g.t.Helper()
	if _, err := g.restoreAndCompare("/mail1", "", readMailState(g.t, g.st.Root)); err != nil {
		g.t.Error(err)
	}
}

// killRun is one run of the binary that is killed unless it ends first.
type killRun struct {
	killed  bool          // SIGKILL came before the process ended
	code    int           // its exit code when it ended by itself
	stderr  string        //
	took    time.Duration // from start to end (or kill)
	renamed time.Duration // when a new file first showed in watchDir, or 0
}

// runKilled starts the binary with args and kills it with SIGKILL after
// delay; a negative delay lets it run to its end. With watchDir set, the
// delay counts from the moment a new entry first shows there (an archive
// renamed into archives/), which is also reported.
func runKilled(t *testing.T, delay time.Duration, watchDir string, args ...string) killRun {
	t.Helper()
	before := map[string]bool{}
	if watchDir != "" {
		for _, n := range names(watchDir) {
			before[n] = true
		}
	}
	cmd := exec.Command(binary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var kr killRun
	var timer <-chan time.Time
	if delay >= 0 && watchDir == "" {
		timer = time.After(delay)
	}
	var poll <-chan time.Time
	if watchDir != "" {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		poll = tick.C
	}
	for {
		select {
		case err := <-done:
			kr.took = time.Since(start)
			if ee, ok := err.(*exec.ExitError); ok {
				kr.code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			kr.stderr = stderr.String()
			return kr
		case <-poll:
			for _, n := range names(watchDir) {
				if !before[n] {
					kr.renamed = time.Since(start)
					poll = nil
					if delay >= 0 {
						timer = time.After(delay)
					}
					break
				}
			}
		case <-timer:
			cmd.Process.Signal(syscall.SIGKILL)
			err := <-done
			kr.took = time.Since(start)
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				kr.killed = true
			} else if ee, ok := err.(*exec.ExitError); ok {
				kr.code = ee.ExitCode()
			}
			kr.stderr = stderr.String()
			return kr
		}
	}
}

// killTally counts the attempts of a test: a run that ended before its
// kill is checked all the same but not counted, and another is tried, so
// that Tried counts real kills.
type killTally struct {
	tried, held, ended int
}

// killLoop calls try until kills runs were killed (or three times as many
// attempts were made); try returns whether its run was killed and what
// failed.
func killLoop(t *testing.T, kills int, try func(i int) (killed bool, what string, errs []error)) killTally {
	t.Helper()
	var k killTally
	for i := 0; k.tried < kills && i < 3*kills; i++ {
		killed, what, errs := try(i)
		if len(errs) > 0 {
			t.Errorf("%s: %v", what, errs)
		}
		if !killed {
			k.ended++
			continue
		}
		k.tried++
		if len(errs) == 0 {
			k.held++
		}
	}
	if k.tried < kills {
		t.Errorf("only %d of %d runs were killed: the others ended first", k.tried, kills)
	}
	return k
}

// uniform returns a random duration in [0, d].
func (g *crashRig) uniform(d time.Duration) time.Duration {
	return time.Duration(g.rng.Int64N(int64(d) + 1))
}

// checkMount mounts the repository and compares the latest view with the
// store, and .snapshots/ with the runs the repository holds.
func (g *crashRig) checkMount() {
	t := g.t
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	m := startMount(t, g.repo, mnt)
	defer m.stop(t)
	files := storeFiles(t, g.st, mnt)
	for _, f := range files {
		want, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f.mountPath)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("mount: %s: %v (or its bytes differ)", f.mountPath, err)
		}
	}
	var inMount int
	filepath.Walk(filepath.Join(mnt, "mail1"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if sub := filepath.Base(filepath.Dir(p)); sub == "cur" || sub == "new" {
				inMount++
			}
		}
		return nil
	})
	if inMount != len(files) {
		t.Errorf("mount shows %d message files, the store has %d", inMount, len(files))
	}
	runs := map[int64]bool{}
	for _, s := range g.snaps {
		runs[s.created] = true
	}
	var shown int
	for _, n := range names(filepath.Join(mnt, ".snapshots")) {
		if n != "latest" {
			shown++
		}
	}
	if shown != len(runs) {
		t.Errorf("mount shows %d snapshots under .snapshots/, the repository holds %d runs", shown, len(runs))
	}
}

// liveShowsRuns waits for a running mount to show under .snapshots/ the
// runs the repository holds, each with the groups it has there: never a
// group of a killed run that did not make it into archives/.
func (g *crashRig) liveShowsRuns(m *mount) []error {
	want := map[string][]string{} // run directory → groups
	for _, s := range g.snaps {
		dir := time.Unix(0, s.created).UTC().Format(time.RFC3339)
		want[dir] = append(want[dir], s.line.Group)
	}
	var got map[string][]string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got = map[string][]string{}
		for _, n := range names(filepath.Join(m.dir, ".snapshots")) {
			if n != "latest" {
				// A later run of the same second has the nanosecond form.
				key := n
				if t, err := time.Parse(time.RFC3339Nano, n); err == nil {
					key = t.Truncate(time.Second).Format(time.RFC3339)
				}
				got[key] = append(got[key], names(filepath.Join(m.dir, ".snapshots", n, "mail1"))...)
			}
		}
		if sameRuns(got, want) {
			return nil
		}
	}
	return []error{fmt.Errorf("the running mount shows the runs %v, the repository holds %v", got, want)}
}

func sameRuns(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w := slices.Clone(b[k])
		v = slices.Clone(v)
		slices.Sort(v)
		slices.Sort(w)
		if !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// TestCrashBackup kills backups at random points: uniformly within the
// time of an uninterrupted run, and after the first archive is renamed
// into archives/ (while the others are committed and the index ingests).
// The second half of the kills comes while a mount holds the index: the
// backups leave the ingest to it, and it must show every complete run and
// nothing of the killed ones that did not make it.
func TestCrashBackup(t *testing.T) {
	requireFUSE(t)
	g := newCrashRig(t, figures.Size(150, 3000), crashSeed(t))
	g.backup()
	// One uninterrupted run of each kind measures the span to kill in.
	g.change()
	incr := g.backup()
	g.change()
	full := g.backup("--full")
	t.Logf("an incremental run takes %s (first rename at %s), a full run %s (%s)", incr.took, incr.renamed, full.took, full.renamed)

	kills := crashKills(t)
	var live *mount // the second half of the kills runs beside a mount
	var killed, lost int
	k := killLoop(t, kills, func(i int) (bool, string, []error) {
		if live == nil && killed >= kills/2 {
			live = startMount(t, g.repo, filepath.Join(t.TempDir(), "live"))
		}
		g.change()
		pending := readMailState(t, g.st.Root)
		flags, span := []string(nil), incr
		if i%2 == 1 {
			flags, span = []string{"--full"}, full
		}
		var kr killRun
		var where string
		if i%3 == 2 {
			// During the commit and the index ingest: after the first rename.
			delay := g.uniform(span.took - span.renamed)
			kr = runKilled(t, delay, filepath.Join(g.repo, "archives"), g.backupArgs(flags...)...)
			where = fmt.Sprintf("%s after the first archive was renamed", delay)
		} else {
			delay := g.uniform(span.took)
			kr = runKilled(t, delay, "", g.backupArgs(flags...)...)
			where = fmt.Sprintf("at %s", delay)
		}
		if kr.killed {
			killed++
		}
		var errs []error
		if !kr.killed && kr.code != 0 {
			errs = append(errs, fmt.Errorf("the backup ended by itself with exit %d: %s", kr.code, kr.stderr))
		}
		more, n := g.check(pending, true)
		errs = append(errs, more...)
		lost += n
		// The next backup must work, and with it the repository.
		next := readMailState(t, g.st.Root)
		if r := mv(t, g.backupArgs()...); r.code != 0 {
			errs = append(errs, fmt.Errorf("the next backup: exit %d: %s", r.code, r.stderr))
		} else {
			more, _ := g.check(next, false)
			errs = append(errs, more...)
		}
		if live != nil {
			errs = append(errs, g.liveShowsRuns(live)...)
		}
		return kr.killed, fmt.Sprintf("backup %s killed %s", strings.Join(flags, " "), where), errs
	})
	if live != nil {
		live.stop(t)
	}
	g.checkLatest()
	g.checkMount()
	figures.Record(t, figures.Row{Suite: "crash", What: "backup killed at a random point", Tried: k.tried, Held: k.held, Lost: lost,
		Note: fmt.Sprintf("%d messages; %d more runs ended before their kill", len(readMailState(t, g.st.Root)), k.ended)})
}

// crashBase is a repository of a full run and incremental ones, with
// changes to the store in between: three snapshots a run to keep.
func crashBase(t *testing.T, messages, incremental int) *crashRig {
	g := newCrashRig(t, messages, crashSeed(t))
	g.backup("--full")
	for range incremental {
		g.change()
		g.backup()
	}
	return g
}

// TestCrashIndexRebuild kills 'index rebuild' at random points: every
// snapshot must stay, the next command must find a working index, and the
// next rebuild must succeed.
func TestCrashIndexRebuild(t *testing.T) {
	requireFUSE(t)
	g := crashBase(t, figures.Size(150, 3000), 2)
	rebuild := []string{"index", "rebuild", "--repo", g.repo}
	kr := runKilled(t, -1, "", rebuild...)
	if kr.code != 0 {
		t.Fatalf("index rebuild: exit %d: %s", kr.code, kr.stderr)
	}
	span := kr.took
	t.Logf("an index rebuild takes %s", span)
	var lost int
	k := killLoop(t, crashKills(t), func(int) (bool, string, []error) {
		delay := g.uniform(span)
		kr := runKilled(t, delay, "", rebuild...)
		var errs []error
		if !kr.killed && kr.code != 0 {
			errs = append(errs, fmt.Errorf("index rebuild ended by itself with exit %d: %s", kr.code, kr.stderr))
		}
		more, n := g.check(nil, true)
		errs = append(errs, more...)
		lost += n
		if r := mv(t, rebuild...); r.code != 0 {
			errs = append(errs, fmt.Errorf("the next index rebuild: exit %d: %s", r.code, r.stderr))
		} else {
			more, _ := g.check(nil, false)
			errs = append(errs, more...)
		}
		return kr.killed, fmt.Sprintf("index rebuild killed at %s", delay), errs
	})
	g.change()
	g.backup()
	g.checkLatest()
	g.checkMount()
	figures.Record(t, figures.Row{Suite: "crash", What: "index rebuild killed at a random point", Tried: k.tried, Held: k.held, Lost: lost,
		Note: fmt.Sprintf("%d archives; %d more runs ended before their kill", len(g.snaps), k.ended)})
}

// TestCrashImport kills 'import' of archive files written by 'backup -f'
// at random points: the archive must be in the repository whole or not at
// all, and importing it again must bring it in (or say it is there).
func TestCrashImport(t *testing.T) {
	requireFUSE(t)
	g := crashBase(t, figures.Size(150, 3000), 1)
	dir := t.TempDir()
	// newArchive writes an archive to import, of the store as it is now.
	newArchive := func(i int) (string, mailState) {
		g.change()
		file := filepath.Join(dir, fmt.Sprintf("staff-%d.mva", i))
		mustMV(t, "backup", "--server", "mail1", "--groups", g.groups, "--quiet", "-f", file, g.st.Template, "/staff")
		return file, readMailState(t, g.st.Root).ofGroup("staff")
	}
	// One is imported whole, to measure the span to kill in.
	file, state := newArchive(0)
	kr := runKilled(t, -1, "", "import", "--repo", g.repo, file)
	if kr.code != 0 {
		t.Fatalf("import: exit %d: %s", kr.code, kr.stderr)
	}
	span := kr.took
	t.Logf("an import takes %s", span)
	if errs, _ := g.check(state, false); len(errs) > 0 {
		t.Fatal(errs)
	}
	var lost int
	k := killLoop(t, crashKills(t), func(i int) (bool, string, []error) {
		file, state := newArchive(i + 1)
		delay := g.uniform(span)
		before := len(g.snaps)
		kr := runKilled(t, delay, "", "import", "--repo", g.repo, file)
		errs, n := g.check(state, true)
		lost += n
		imported := len(g.snaps) > before
		r := mv(t, "import", "--repo", g.repo, file)
		switch {
		case imported && r.code != 2:
			errs = append(errs, fmt.Errorf("importing again an archive that made it in: exit %d, want 2: %s", r.code, r.stderr))
		case !imported && r.code != 0:
			errs = append(errs, fmt.Errorf("importing again an archive that did not make it in: exit %d: %s", r.code, r.stderr))
		default:
			more, _ := g.check(state, false)
			errs = append(errs, more...)
		}
		if len(g.snaps) != before+1 {
			errs = append(errs, fmt.Errorf("%d snapshots more after the import, want 1", len(g.snaps)-before))
		}
		return kr.killed, fmt.Sprintf("import killed at %s", delay), errs
	})
	g.backup()
	g.checkLatest()
	g.checkMount()
	figures.Record(t, figures.Row{Suite: "crash", What: "import killed at a random point", Tried: k.tried, Held: k.held, Lost: lost,
		Note: fmt.Sprintf("%d more runs ended before their kill", k.ended)})
}

// TestCrashRestore kills restores at random points and runs them again:
// into an empty root (the folders are recreated with their UIDs) and into
// a live folder with messages expunged (they are merged back under
// Dovecot's lock). After the rerun every message must be there exactly
// once, nothing left in tmp/, no lock left, and every dovecot-uidlist must
// name each message file once.
func TestCrashRestore(t *testing.T) {
	g := newCrashRig(t, figures.Size(150, 3000), crashSeed(t))
	st := g.st
	orig := readMailState(t, st.Root)
	views := map[string]string{}
	for _, u := range st.Users {
		views[u] = dovecotView(t, st, u, "")
	}
	g.backup("--full")
	const user, box = "alice@example.org", "INBOX"
	inbox := st.Maildir(user)
	inboxRel, _ := filepath.Rel(st.Root, inbox)
	inINBOX := func(p string) bool { return !strings.HasPrefix(p, ".") } // not a subfolder
	inboxWant := contentCounts(orig, func(p string) bool {
		rest, ok := strings.CutPrefix(p, inboxRel+"/")
		return ok && inINBOX(rest)
	})
	mergeArgs := []string{"restore", "--repo", g.repo, "/mail1/staff/" + user + "/" + box, "--to", st.Template}
	recreateArgs := func(root string) []string {
		return []string{"restore", "--repo", g.repo, "/mail1", "--to", locationUnder(root)}
	}
	expunge := func() {
		uids := uidsOf(t, st, user, box)
		for range 3 {
			u := uids[g.rng.IntN(len(uids))]
			if _, err := st.Doveadm(user, "expunge", "mailbox", box, "uid", strconv.Itoa(u)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// One uninterrupted run of each kind measures the span to kill in.
	g.roots++
	root := newStoreRoot(t, st, fmt.Sprintf("crash-restore-%d", g.roots))
	kr := runKilled(t, -1, "", recreateArgs(root)...)
	if kr.code != 0 {
		t.Fatalf("restore: exit %d: %s", kr.code, kr.stderr)
	}
	recreateSpan := kr.took
	os.RemoveAll(root)
	expunge()
	kr = runKilled(t, -1, "", mergeArgs...)
	if kr.code != 0 {
		t.Fatalf("restore into %s: exit %d: %s", box, kr.code, kr.stderr)
	}
	mergeSpan := kr.took
	t.Logf("a restore of the server takes %s, of a folder with 3 messages missing %s", recreateSpan, mergeSpan)

	var lost int
	k := killLoop(t, crashKills(t), func(i int) (bool, string, []error) {
		var errs []error
		var delay time.Duration
		var what string
		var kr killRun
		if i%2 == 0 {
			what = "into an empty root"
			g.roots++
			root := newStoreRoot(t, st, fmt.Sprintf("crash-restore-%d", g.roots))
			delay = g.uniform(recreateSpan)
			kr = runKilled(t, delay, "", recreateArgs(root)...)
			if r := mv(t, recreateArgs(root)...); r.code != 0 {
				errs = append(errs, fmt.Errorf("the restore run again: exit %d: %s", r.code, r.stderr))
			}
			missing, extra, ex := readMailState(t, root).diff(orig)
			lost += missing + extra
			if missing+extra > 0 {
				errs = append(errs, fmt.Errorf("%d messages missing or different, %d extra: %v", missing, extra, ex))
			}
			for _, u := range st.Users {
				if got := dovecotView(t, st, u, locationUnder(root)); got != views[u] {
					errs = append(errs, fmt.Errorf("%s: Dovecot's view differs from the original: %s", u, firstDiff(got, views[u])))
				}
			}
			errs = append(errs, maildirLeftovers(root)...)
			os.RemoveAll(root)
		} else {
			what = "into " + user + "/" + box + " with 3 messages expunged"
			expunge()
			validity := mailboxStatus(t, st, user, box)
			delay = g.uniform(mergeSpan)
			kr = runKilled(t, delay, "", mergeArgs...)
			if r := mv(t, mergeArgs...); r.code != 0 {
				errs = append(errs, fmt.Errorf("the restore run again: exit %d: %s", r.code, r.stderr))
			}
			got := contentCounts(readMailState(t, inbox), inINBOX)
			missing, dups := 0, 0
			for h, n := range inboxWant {
				if got[h] < n {
					missing += n - got[h]
				}
			}
			for h, n := range got {
				if n > inboxWant[h] {
					dups += n - inboxWant[h]
				}
			}
			lost += missing + dups
			if missing+dups > 0 {
				errs = append(errs, fmt.Errorf("%s: %d messages missing, %d duplicated", box, missing, dups))
			}
			if uids := uidsOf(t, st, user, box); len(uids) != sumCounts(inboxWant) {
				errs = append(errs, fmt.Errorf("Dovecot lists %d messages in %s, the backup %d", len(uids), box, sumCounts(inboxWant)))
			}
			if now := mailboxStatus(t, st, user, box); now != validity {
				errs = append(errs, fmt.Errorf("UIDVALIDITY changed: %s -> %s", validity, now))
			}
			errs = append(errs, maildirLeftovers(st.Root)...)
		}
		return kr.killed, fmt.Sprintf("restore %s killed at %s", what, delay), errs
	})
	figures.Record(t, figures.Row{Suite: "crash", What: "restore killed at a random point and run again", Tried: k.tried, Held: k.held, Lost: lost,
		Note: fmt.Sprintf("%d messages; %d more runs ended before their kill", len(orig), k.ended)})
}

// contentCounts counts the messages of s whose path keep accepts, by
// content.
func contentCounts(s mailState, keep func(string) bool) map[string]int {
	out := map[string]int{}
	for p, h := range s {
		if keep(p) {
			out[h]++
		}
	}
	return out
}

func sumCounts(m map[string]int) (n int) {
	for _, c := range m {
		n += c
	}
	return n
}

// uidsOf returns the UIDs Dovecot reports for a mailbox, and fails the
// test when one is there twice.
func uidsOf(t *testing.T, st *teststore.Store, user, box string) []int {
	t.Helper()
	list := uids(t, st, user, box)
	seen := map[int]bool{}
	for _, u := range list {
		if seen[u] {
			t.Errorf("%s %s: UID %d twice", user, box, u)
		}
		seen[u] = true
	}
	return list
}

func mailboxStatus(t *testing.T, st *teststore.Store, user, box string) string {
	t.Helper()
	s, err := st.Doveadm(user, "mailbox", "status", "uidvalidity", box)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// maildirLeftovers finds what an interrupted restore may leave in a store:
// files of ours in tmp/, Dovecot's uidlist lock, and message files that
// their folder's dovecot-uidlist does not name exactly once.
func maildirLeftovers(root string) (errs []error) {
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		name := fi.Name()
		switch {
		case strings.HasPrefix(name, ".mailvault"):
			errs = append(errs, fmt.Errorf("temp file left: %s", p))
		case name == "dovecot-uidlist.lock":
			errs = append(errs, fmt.Errorf("lock left: %s", p))
		case name == "dovecot-uidlist":
			errs = append(errs, uidlistMatches(filepath.Dir(p))...)
		}
		return nil
	})
	return errs
}

// uidlistMatches checks that a folder's dovecot-uidlist names every
// message file of cur/ and new/ once. It may name files that are gone:
// Dovecot keeps the records of expunged messages until it rewrites it.
func uidlistMatches(folder string) (errs []error) {
	data, err := os.ReadFile(filepath.Join(folder, "dovecot-uidlist"))
	if err != nil {
		return []error{err}
	}
	u, err := maildir.ParseUIDList(data)
	if err != nil {
		return []error{fmt.Errorf("%s: %v", folder, err)}
	}
	files := map[string]bool{}
	for _, sub := range []string{"cur", "new"} {
		for _, n := range names(filepath.Join(folder, sub)) {
			files[maildir.BaseName(n)] = true
		}
	}
	listed := map[string]bool{}
	for _, r := range u.Records {
		b := maildir.BaseName(r.Base)
		if listed[b] {
			errs = append(errs, fmt.Errorf("%s: dovecot-uidlist names %s twice", folder, b))
		}
		listed[b] = true
	}
	for b := range files {
		if !listed[b] {
			errs = append(errs, fmt.Errorf("%s: message %s has no UID in dovecot-uidlist", folder, b))
		}
	}
	return errs
}

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailvault/mailvault/internal/figures"
	"github.com/mailvault/mailvault/internal/teststore"
	"github.com/mailvault/mailvault/repo"
)

// damageFixture is a repository of two runs of the end-to-end store: a
// first (full) run, then an incremental one after new deliveries to alice
// (staff) and carol (net), so that the second run's snapshots keep most
// of their bytes in the first run's archives.
type damageFixture struct {
	st         *teststore.Store
	repo       string            // pristine: damage a copy (copyRepo)
	run1, run2 map[string]string // archive paths by group
	store      map[string]string // mount path below the mount point → store file
	fresh      []string          // mount paths of the messages delivered between the runs
	restores   int               // restores made, to name their roots
}

func newDamageFixture(t *testing.T) *damageFixture {
	t.Helper()
	// At bench size the archives hold several frames, so that damage
	// hits some messages of an archive and spares the others.
	st := buildStore(t, figures.Size(60, 4000))
	time.Sleep(2100 * time.Millisecond) // older than the racy-mtime margin: run 2 carries folders over
	f := &damageFixture{st: st, repo: filepath.Join(t.TempDir(), "repo")}
	f.run1 = backupGroups(t, st, f.repo)
	before := f.storeMap(t)
	for _, u := range []string{"alice@example.org", "carol@example.net"} {
		var msgs [][]byte
		for i := range 2 {
			msgs = append(msgs, fmt.Appendf(nil, "Return-Path: <x@example.com>\nDelivered-To: %s\nSubject: late %d\n\n%s\n", u, i, strings.Repeat("late mail "+u+" ", 80+i)))
		}
		if err := st.Deliver(u, msgs); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond) // the runs' snapshots fall in different seconds
	f.run2 = backupGroups(t, st, f.repo)
	f.store = f.storeMap(t)
	for p := range f.store {
		if _, ok := before[p]; !ok {
			f.fresh = append(f.fresh, p)
		}
	}
	sort.Strings(f.fresh)
	if len(f.fresh) != 4 {
		t.Fatalf("new deliveries: %v", f.fresh)
	}
	return f
}

// storeMap maps "mail1/<group>/<user>/<folder>/<cur|new>/<name>" to the
// store's file.
func (f *damageFixture) storeMap(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, sf := range storeFiles(t, f.st, "M") {
		out[strings.TrimPrefix(sf.mountPath, "M/")] = sf.path
	}
	return out
}

// copyRepo copies the pristine repository, to damage the copy.
func copyRepo(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dst
}

// verifyJSON runs 'verify --read-data --json' and returns its exit code
// and report.
func verifyJSON(t *testing.T, repoDir string) (int, *repo.VerifyReport) {
	t.Helper()
	r := mv(t, "verify", "--repo", repoDir, "--read-data", "--json")
	var rep repo.VerifyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify: exit %d, report %q: %v\nstderr:\n%s", r.code, r.stdout, err, r.stderr)
	}
	return r.code, &rep
}

// lastRun is the last run in the repository's log.
func lastRun(t *testing.T, repoDir string) repo.Run {
	t.Helper()
	var run repo.Run
	r := mustMV(t, "log", "--repo", repoDir, "--last", "1", "--json")
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &run); err != nil {
		t.Fatalf("log: %q: %v", r.stdout, err)
	}
	return run
}

// msgKey names a message file of one snapshot: "<snapshot second>
// mail1/<group>/<user>/<folder>/<cur|new>/<name>".
func msgKey(snapshot, path string) string {
	tm, err := time.Parse(time.RFC3339Nano, snapshot)
	if err != nil {
		return snapshot + " " + path
	}
	return tm.UTC().Truncate(time.Second).Format(time.RFC3339) + " " + path
}

// named is what verify names: message files and whole folders, by
// snapshot.
type named struct {
	msgs    map[string]bool
	folders []string // keys of folders whose every message is affected, ending in "/"
}

func namedBy(rep *repo.VerifyReport) named {
	n := named{msgs: map[string]bool{}}
	for _, a := range rep.Affected {
		for _, s := range a.Snapshots {
			if strings.HasSuffix(a.Path, "/") {
				n.folders = append(n.folders, msgKey(s, a.Path))
			} else {
				n.msgs[msgKey(s, a.Path)] = true
			}
		}
	}
	return n
}

// hasPath reports whether verify names the message file at path (below
// the mount point) in any snapshot.
func (n named) hasPath(path string) bool {
	for k := range n.msgs {
		if _, p, _ := strings.Cut(k, " "); p == path {
			return true
		}
	}
	return slices.ContainsFunc(n.folders, func(k string) bool {
		_, p, _ := strings.Cut(k, " ")
		return strings.HasPrefix(path, p)
	})
}

func (n named) has(key string) bool {
	return n.msgs[key] || slices.ContainsFunc(n.folders, func(p string) bool { return strings.HasPrefix(key, p) })
}

// mountReads mounts the repository and reads every message file of every
// snapshot (.snapshots/) and of the latest view. It returns the keys of
// the files that cannot be read (for the latest view, with the snapshot
// "latest"), and counts the files that read but differ from the store.
func (f *damageFixture) mountReads(t *testing.T, repoDir string) (failed map[string]bool, differ int, m *mount) {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	m = startMount(t, repoDir, mnt)
	defer m.stop(t)
	failed = map[string]bool{}
	read := func(snapshot, root string) {
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return nil
			}
			if fi.Name() == ".snapshots" {
				return filepath.SkipDir
			}
			sub := filepath.Base(filepath.Dir(p))
			if !fi.Mode().IsRegular() || (sub != "cur" && sub != "new") {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			got, err := os.ReadFile(p)
			if err != nil {
				failed[msgKey(snapshot, rel)] = true
				return nil
			}
			want, err := os.ReadFile(f.store[rel])
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("mount: %s of snapshot %s differs from the store", rel, snapshot)
				differ++
			}
			return nil
		})
	}
	read("latest", mnt)
	snaps, _ := os.ReadDir(filepath.Join(mnt, ".snapshots"))
	for _, s := range snaps {
		if s.IsDir() {
			read(s.Name(), filepath.Join(mnt, ".snapshots", s.Name()))
		}
	}
	return failed, differ, m
}

// checkDamage is what every damage case must show: verify exits 5 and
// names the damaged archives; every message file that cannot be read is
// named by verify (and, when the damage is in data frames only, exactly
// those); the mount serves everything else intact, answers EIO for the
// damaged ones and logs the archive and offset; a restore of the server
// gives back every other message and names the damaged ones as PARTIAL.
// It returns whether all held and how many undamaged messages were lost.
func (f *damageFixture) checkDamage(t *testing.T, repoDir string, damaged []string, what string) (held bool, lost int) {
	t.Helper()
	fail := func(format string, a ...any) {
		t.Helper()
		t.Errorf(what+": "+format, a...)
		held = false
	}
	held = true
	code, rep := verifyJSON(t, repoDir)
	if code != exitCorrupt {
		fail("verify exit %d, want %d", code, exitCorrupt)
	}
	found := rep.DamagedArchives()
	for _, g := range rep.Gone {
		found = append(found, g.Archive)
	}
	for _, d := range damaged {
		if !slices.Contains(found, filepath.Base(d)) {
			fail("verify does not name archive %s: %v", filepath.Base(d), found)
		}
	}
	inFrames := len(rep.Gone) == 0 && len(rep.Damaged) > 0
	for _, d := range rep.Damaged {
		if d.Frame < 0 && !strings.Contains(d.Problem, "sha-256") {
			inFrames = false
		}
		if d.Frame >= 0 && d.Offset <= 0 {
			fail("damage in frame %d without its offset: %+v", d.Frame, d)
		}
	}
	if run := lastRun(t, repoDir); run.Status != "DAMAGE" || run.Command != "verify" || (len(rep.Damaged) > 0 && !strings.Contains(fmt.Sprint(run.Events), filepath.Base(damaged[0]))) {
		fail("the log's last run: %+v", run)
	}
	n := namedBy(rep)

	failed, differ, m := f.mountReads(t, repoDir)
	t.Logf("%s: verify names %d message files and %d folders (%v); the mount cannot read %d", what, len(n.msgs), len(n.folders), rep.Damaged, len(failed))
	lost += differ
	latestFailed := map[string]bool{}
	for k := range failed {
		snap, rel, _ := strings.Cut(k, " ")
		if snap == "latest" {
			latestFailed[rel] = true
			continue
		}
		if !n.has(k) {
			fail("the mount cannot read %s but verify does not name it", k)
			lost++
		}
	}
	if inFrames {
		for k := range n.msgs {
			if !failed[k] {
				fail("verify names %s, which the mount reads", k)
			}
		}
	}
	if len(failed) > 0 {
		log := m.stderr.String()
		ok := strings.Contains(log, "cannot read") && strings.Contains(log, "offset")
		for _, d := range damaged {
			ok = ok && strings.Contains(log, filepath.Base(d))
		}
		if !ok {
			fail("the mount's log does not name the archive and offset of a damaged read:\n%s", log)
		}
	}

	// A restore of the whole server: every message verify does not name
	// comes back as it is in the store; the damaged ones that cannot be
	// read are named and the run is PARTIAL.
	f.restores++
	root := newStoreRoot(t, f.st, fmt.Sprint("restored-", f.restores))
	r := mv(t, "restore", "--repo", repoDir, "/mail1", "--to", locationUnder(root))
	wantCode := exitOK
	if len(latestFailed) > 0 {
		wantCode = exitPartial
	}
	if r.code != wantCode {
		fail("restore exit %d, want %d\n%s", r.code, wantCode, r.stderr)
	}
	for rel := range latestFailed {
		if !strings.Contains(r.stderr, filepath.Base(rel)) {
			fail("restore does not name the damaged message %s:\n%s", rel, r.stderr)
		}
	}
	namedPath := map[string]bool{} // store paths, relative to its root
	for p, file := range f.store {
		if n.hasPath(p) {
			srel, _ := filepath.Rel(f.st.Root, file)
			namedPath[srel] = true
		}
	}
	inStore := map[string]bool{}
	for _, line := range contentTree(t, f.st.Root) {
		inStore[line] = true
	}
	restored := map[string]bool{}
	for _, line := range contentTree(t, root) {
		restored[line] = true
		if !inStore[line] {
			fail("restore wrote %s, which differs from the store", line)
		}
	}
	missing := 0
	for line := range inStore {
		if !restored[line] && !namedPath[strings.Fields(line)[0]] {
			missing++
			if missing <= 3 {
				fail("restore lost %s, which verify does not name", line)
			}
		}
	}
	lost += missing
	return held, lost
}

// TestDamageByteFlips flips bytes at random offsets of random archives,
// one flip per copy of the repository: verify finds every one, names the
// archive and every message it affects, and the rest mounts and restores.
func TestDamageByteFlips(t *testing.T) {
	requireFUSE(t)
	quickExit(t)
	f := newDamageFixture(t)
	var archives []string
	for _, run := range []map[string]string{f.run1, f.run2} {
		for _, p := range run {
			archives = append(archives, filepath.Base(p))
		}
	}
	sort.Strings(archives)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	n := figures.Size(5, 30)
	held, lost := 0, 0
	for i := range n {
		dir := copyRepo(t, f.repo)
		name := archives[rng.IntN(len(archives))]
		path := filepath.Join(dir, "archives", name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		off := rng.IntN(len(data))
		// The first flips land in a data frame far from the ends, where
		// messages lie; the rest anywhere.
		if i < 2 {
			off = len(data)/4 + rng.IntN(len(data)/4)
		}
		data[off] ^= byte(1 + rng.IntN(255))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ok, l := f.checkDamage(t, dir, []string{name}, fmt.Sprintf("byte %d of %s flipped", off, name))
		if ok {
			held++
		}
		lost += l
	}
	figures.Record(t, figures.Row{Suite: "damage", What: "byte flips detected by verify --read-data", Tried: n, Held: held, Lost: lost,
		Note: "one flip at a random offset of a random archive; held: verify exit 5 names it and every unreadable message, the rest mounts and restores intact"})

	// What verify's hint says: a full backup stores the damaged messages
	// again, so that none is affected, though the archive stays damaged.
	dir := copyRepo(t, f.repo)
	path := filepath.Join(dir, "archives", filepath.Base(f.run1["staff"]))
	data, _ := os.ReadFile(path)
	data[len(data)/3] ^= 0x20
	os.WriteFile(path, data, 0o600)
	if _, rep := verifyJSON(t, dir); len(rep.Affected) == 0 {
		t.Fatalf("a flip in the middle of %s affects no message: %+v", path, rep)
	}
	backupGroups(t, f.st, dir, "--full")
	code, rep := verifyJSON(t, dir)
	if code != exitCorrupt || len(rep.Affected) != 0 || !slices.Contains(rep.DamagedArchives(), filepath.Base(path)) {
		t.Errorf("after a full backup: exit %d, damaged %v, affected %v", code, rep.DamagedArchives(), rep.Affected)
	}
}

// TestDamageTruncated cuts archives short at random offsets: verify names
// the archive and every message whose bytes were cut off, and what is
// before the cut still mounts and restores.
func TestDamageTruncated(t *testing.T) {
	requireFUSE(t)
	quickExit(t)
	f := newDamageFixture(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	// The first run's archives hold the bytes of both runs' snapshots.
	var archives []string
	for _, p := range f.run1 {
		archives = append(archives, filepath.Base(p))
	}
	sort.Strings(archives)
	n := figures.Size(2, 10)
	held, lost := 0, 0
	for range n {
		dir := copyRepo(t, f.repo)
		name := archives[rng.IntN(len(archives))]
		path := filepath.Join(dir, "archives", name)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		cut := 1 + rng.Int64N(st.Size()-1)
		if err := os.Truncate(path, cut); err != nil {
			t.Fatal(err)
		}
		ok, l := f.checkDamage(t, dir, []string{name}, fmt.Sprintf("%s cut to %d of %d bytes", name, cut, st.Size()))
		if ok {
			held++
		}
		lost += l
	}
	figures.Record(t, figures.Row{Suite: "damage", What: "truncated archives detected by verify", Tried: n, Held: held, Lost: lost,
		Note: "an archive of the first run cut at a random offset"})
}

// TestDamageDeletedArchive deletes archives: the index remembers the
// archives it had, so verify names a deleted archive and the messages
// whose bytes went with it, in any snapshot; everything else mounts and
// restores.
func TestDamageDeletedArchive(t *testing.T) {
	requireFUSE(t)
	quickExit(t)
	f := newDamageFixture(t)
	held, lost := 0, 0
	tried := 0
	for _, c := range []struct {
		what    string
		archive string
		named   func(path string) bool // the message files verify must name
	}{
		// The second run's staff archive holds only alice's new messages.
		{"the latest staff archive", f.run2["staff"], func(p string) bool {
			return slices.Contains(f.fresh, p) && strings.HasPrefix(p, "mail1/staff/")
		}},
		// The first run's net archive holds the bytes of every net message
		// but carol's new ones, and the whole folders that the second run
		// tells as changes.
		{"the first net archive", f.run1["net"], func(p string) bool { return strings.HasPrefix(p, "mail1/net/") }},
	} {
		tried++
		dir := copyRepo(t, f.repo)
		// The index has seen the archive before it goes: a command run
		// in between rebuilds it and must remember the archive.
		if err := os.Remove(filepath.Join(dir, "archives", filepath.Base(c.archive))); err != nil {
			t.Fatal(err)
		}
		mustMV(t, "ls", "--repo", dir, "/")
		_, rep := verifyJSON(t, dir)
		n := namedBy(rep)
		ok := true
		for p := range f.store {
			if c.named(p) != n.hasPath(p) {
				t.Errorf("%s deleted: verify names %s: %v, want %v", c.what, p, n.hasPath(p), c.named(p))
				ok = false
			}
		}
		h, l := f.checkDamage(t, dir, []string{c.archive}, c.what+" deleted")
		if ok && h {
			held++
		}
		lost += l
	}
	figures.Record(t, figures.Row{Suite: "damage", What: "deleted archives detected by verify", Tried: tried, Held: held, Lost: lost,
		Note: "the latest archive of a group, and a first-run archive that later runs build on"})
}

// mountTree mounts the repository and lists every file and directory of
// the latest view and of every snapshot with its mode, size, mtime, inode
// and the sha-256 of its bytes.
func mountTree(t *testing.T, repoDir string) []string {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	m := startMount(t, repoDir, mnt)
	defer m.stop(t)
	var out []string
	filepath.Walk(mnt, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		line := fmt.Sprint(strings.TrimPrefix(p, mnt), " ", fi.Mode(), " ", fi.Size(), " ", fi.ModTime().UnixNano(), " ", fi.Sys().(*syscall.Stat_t).Ino)
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("read %s: %v", p, err)
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		out = append(out, line)
		return nil
	})
	return out
}

// garble damages every file of the index in one of several ways.
func garble(t *testing.T, dir string, rng *rand.Rand, how int) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if how%4 == 3 {
		files, _ = filepath.Glob(filepath.Join(dir, "*.sst")) // the tables alone
	}
	if len(files) == 0 {
		t.Fatalf("no index files in %s", dir)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil || len(data) == 0 {
			continue
		}
		switch how % 4 {
		case 0, 3: // a few bytes flipped at random
			for range 1 + len(data)/512 {
				data[rng.IntN(len(data))] ^= byte(1 + rng.IntN(255))
			}
		case 1: // a run of random bytes in the middle
			i := rng.IntN(len(data))
			for j := i; j < min(len(data), i+64); j++ {
				data[j] = byte(rng.Uint32())
			}
		case 2: // cut short
			data = data[:rng.IntN(len(data))]
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"bytes flipped", "a run of random bytes", "files cut short", "bytes of the tables flipped"}[how%4]
}

// TestDamageIndex garbles and deletes the index: it is found damaged when
// opened and rebuilt from the archives to the identical tree, in ls and
// in the mount, and verify finds the repository sound.
func TestDamageIndex(t *testing.T) {
	requireFUSE(t)
	quickExit(t)
	f := newDamageFixture(t)
	wantLs := lsTree(t, f.repo, "/")
	wantMount := mountTree(t, f.repo)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	check := func(what string, damage func(index string)) bool {
		dir := copyRepo(t, f.repo)
		damage(filepath.Join(dir, "index"))
		r := mv(t, "ls", "--repo", dir, "/")
		if r.code != 0 {
			t.Errorf("%s: ls exit %d\n%s", what, r.code, r.stderr)
			return false
		}
		ok := true
		if what == "index garbled" && !strings.Contains(r.stderr, "the index was damaged") {
			t.Errorf("%s: ls does not say the index was damaged and rebuilt:\n%s", what, r.stderr)
			ok = false
		}
		// ls walks the tree with a run per directory; once is enough.
		if what == "index deleted" {
			if got := lsTree(t, dir, "/"); got != wantLs {
				t.Errorf("%s: ls after the rebuild: %s", what, firstDiff(got, wantLs))
				ok = false
			}
		}
		if got := mountTree(t, dir); strings.Join(got, "\n") != strings.Join(wantMount, "\n") {
			t.Errorf("%s: mount after the rebuild: %s", what, firstDiff(strings.Join(got, "\n"), strings.Join(wantMount, "\n")))
			ok = false
		}
		if code, rep := verifyJSON(t, dir); code != 0 || !rep.Clean() {
			t.Errorf("%s: verify exit %d: %+v", what, code, rep)
			ok = false
		}
		if run := lastRun(t, dir); run.Status != "OK" || run.Command != "verify" {
			t.Errorf("%s: the log's last run: %+v", what, run)
			ok = false
		}
		return ok
	}
	n := figures.Size(4, 16)
	held := 0
	for i := range n {
		var what string
		if check("index garbled", func(index string) { what = garble(t, index, rng, i) }) {
			held++
		}
		t.Logf("index garbled (%s)", what)
	}
	figures.Record(t, figures.Row{Suite: "damage", What: "garbled index rebuilt to the same tree", Tried: n, Held: held,
		Note: "every index file garbled (bytes flipped, random runs, cut short), or the tables alone; ls, mount and verify after"})
	deleted := 0
	if check("index deleted", func(index string) { os.RemoveAll(index) }) {
		deleted++
	}
	figures.Record(t, figures.Row{Suite: "damage", What: "deleted index rebuilt to the same tree", Tried: 1, Held: deleted})
}

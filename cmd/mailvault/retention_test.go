package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/internal/figures"
	"github.com/mailvault/mailvault/internal/teststore"
)

// retained is a snapshot of a retention test and the store as it was.
type retained struct {
	at      string   // its time, for --at
	archive string   // its archive's file name
	tree    []string // contentTree of the store when it was taken
}

// snapshotsWithChanges backs up st runs times into repoDir, with new
// deliveries, deletions of old and of new messages, and a flag change
// between runs, and returns the snapshots oldest first.
func snapshotsWithChanges(t *testing.T, st *teststore.Store, repoDir string, runs int) []retained {
	t.Helper()
	args := []string{"--repo", repoDir, "--server", "mail1", st.Template}
	rng := rand.New(rand.NewPCG(7, 7))
	var out []retained
	for i := range runs {
		if i > 0 {
			// Messages delivered for the last run leave again (their bytes
			// are needed only by forgotten snapshots), an old one goes,
			// one gets a flag, new mail comes.
			news, _ := filepath.Glob(filepath.Join(st.Root, "*", "*", "Maildir", "new", "*"))
			sort.Strings(news)
			for _, f := range news[:len(news)/2] {
				os.Remove(f)
			}
			olds, _ := filepath.Glob(filepath.Join(st.Root, "*", "*", "Maildir", "cur", "*"))
			sort.Strings(olds)
			if len(olds) > 2 {
				os.Remove(olds[rng.IntN(len(olds))])
				f := olds[rng.IntN(len(olds))]
				os.Rename(f, f+"F")
			}
		}
		if _, err := st.DeliverNew(6, int64(i)); err != nil {
			t.Fatal(err)
		}
		s := backupJSON(t, args...)
		if len(s.Archives) != 1 {
			t.Fatalf("backup wrote archives %v, want one", s.Archives)
		}
		out = append(out, retained{at: s.Start.Format(time.RFC3339Nano), archive: filepath.Base(s.Archives[0]), tree: contentTree(t, st.Root)})
	}
	return out
}

// restoredTree restores the snapshot taken at 'at' into a new root.
func restoredTree(t *testing.T, st *teststore.Store, repoDir, at, name string) []string {
	t.Helper()
	root := newStoreRoot(t, st, name)
	defer os.RemoveAll(root)
	mustMV(t, "restore", "--repo", repoDir, "--at", at, "/mail1", "--to", locationUnder(root))
	return contentTree(t, root)
}

func archivesBytes(t *testing.T, repoDir string) int64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoDir, "archives", "*.mva"))
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

type forgetOut struct {
	DryRun bool `json:"dry_run"`
	Series []struct {
		Server, Group string
		Kept          int `json:"kept"`
		Forgotten     int `json:"forgotten"`
		Snapshots     []struct {
			Time    string   `json:"time"`
			Keep    bool     `json:"keep"`
			Reasons []string `json:"reasons"`
		} `json:"snapshots"`
	} `json:"series"`
}

type pruneOut struct {
	Deleted   int   `json:"deleted"`
	Rewritten int   `json:"rewritten"`
	Freed     int64 `json:"bytes_freed"`
	Actions   []struct {
		Action     string `json:"action"`
		NewArchive string `json:"new_archive"`
	} `json:"actions"`
}

// snapshotArchives lists the archives of the snapshots the repository shows.
func snapshotArchives(t *testing.T, repoDir string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(mustMV(t, "snapshots", "--json", "--repo", repoDir).stdout), "\n") {
		if line == "" {
			continue
		}
		var s struct{ Archive string }
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.Archive)
	}
	return out
}

// TestForgetAndPrune: forget keeps exactly the policy, prune frees space,
// every kept snapshot restores as the store was before and after, verify
// finds nothing wrong, and backups go on from what is kept.
func TestForgetAndPrune(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 80)
	time.Sleep(2100 * time.Millisecond)
	repoDir := filepath.Join(t.TempDir(), "repo")
	snaps := snapshotsWithChanges(t, st, repoDir, 5)

	// A dry run decides and changes nothing.
	var dry forgetOut
	r := mustMV(t, "forget", "--repo", repoDir, "--keep-last", "2", "--dry-run", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &dry); err != nil {
		t.Fatalf("forget --json: %v\n%s", err, r.stdout)
	}
	if !dry.DryRun || len(dry.Series) != 1 || dry.Series[0].Kept != 2 || dry.Series[0].Forgotten != 3 {
		t.Fatalf("forget --keep-last 2 --dry-run: %s", r.stdout)
	}
	if got := snapshotArchives(t, repoDir); len(got) != 5 {
		t.Fatalf("after a dry run %d snapshots, want 5", len(got))
	}
	if r := mv(t, "forget", "--repo", repoDir); r.code != exitUsage {
		t.Errorf("forget without a rule: exit %d, want %d", r.code, exitUsage)
	}

	r = mustMV(t, "forget", "--repo", repoDir, "--keep-last", "2")
	for _, want := range []string{"keep", "last", "forget", "3 snapshots forgotten"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("forget output lacks %q:\n%s", want, r.stdout)
		}
	}
	kept := snaps[3:]
	got := snapshotArchives(t, repoDir)
	if len(got) != 2 || got[0] != kept[0].archive || got[1] != kept[1].archive {
		t.Fatalf("snapshots after forget: %v, want the last two %s %s", got, kept[0].archive, kept[1].archive)
	}

	before := archivesBytes(t, repoDir)
	mustMV(t, "prune", "--repo", repoDir, "--dry-run")
	if archivesBytes(t, repoDir) != before {
		t.Fatal("prune --dry-run changed archives/")
	}
	var pr pruneOut
	r = mustMV(t, "prune", "--repo", repoDir, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &pr); err != nil {
		t.Fatalf("prune --json: %v\n%s", err, r.stdout)
	}
	after := archivesBytes(t, repoDir)
	t.Logf("prune: %d deleted, %d rewritten, archives %d → %d bytes", pr.Deleted, pr.Rewritten, before, after)
	if after >= before || pr.Freed != before-after {
		t.Errorf("prune freed %d bytes, archives went from %d to %d", pr.Freed, before, after)
	}
	if pr.Deleted+pr.Rewritten == 0 {
		t.Errorf("prune did nothing: %s", r.stdout)
	}
	for i, k := range kept {
		sameTree(t, fmt.Sprint("kept snapshot ", i, " after prune"), restoredTree(t, st, repoDir, k.at, fmt.Sprint("kept-", i)), k.tree)
	}
	if r := mv(t, "verify", "--repo", repoDir, "--read-data"); r.code != 0 {
		t.Errorf("verify after prune: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// What prune kept of a forgotten snapshot is not that snapshot.
	for _, a := range pr.Actions {
		if a.NewArchive == "" {
			continue
		}
		root := newStoreRoot(t, st, "from-forgotten")
		r := mv(t, "restore", "-f", filepath.Join(repoDir, "archives", a.NewArchive), "/mail1", "--to", locationUnder(root))
		if r.code == 0 || !strings.Contains(r.stderr, "forgotten snapshot") {
			t.Errorf("restore -f of a forgotten snapshot's replacement: exit %d\n%s", r.code, r.stderr)
		}
		if files := messageTree(t, root); len(files) != 0 {
			t.Errorf("restore -f of a forgotten snapshot's replacement wrote %d messages", len(files))
		}
		break
	}
	// A second prune finds nothing more to do.
	var again pruneOut
	json.Unmarshal([]byte(mustMV(t, "prune", "--repo", repoDir, "--json").stdout), &again)
	if again.Deleted+again.Rewritten != 0 {
		t.Errorf("a second prune deleted %d and rewrote %d archives", again.Deleted, again.Rewritten)
	}

	// Backups go on from the kept snapshots; a second round of forget and
	// prune rewrites what the first one rewrote.
	snaps = append(kept, snapshotsWithChanges(t, st, repoDir, 2)...)
	mustMV(t, "forget", "--repo", repoDir, "--keep-last", "1")
	mustMV(t, "prune", "--repo", repoDir)
	last := snaps[len(snaps)-1]
	sameTree(t, "the last snapshot after a second prune", restoredTree(t, st, repoDir, last.at, "last"), last.tree)
	if r := mv(t, "verify", "--repo", repoDir, "--read-data"); r.code != 0 {
		t.Errorf("verify after the second prune: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	snaps = append(snaps[len(snaps)-1:], snapshotsWithChanges(t, st, repoDir, 1)...)
	for i, k := range snaps {
		sameTree(t, fmt.Sprint("snapshot ", i, " after a backup on a pruned repository"), restoredTree(t, st, repoDir, k.at, fmt.Sprint("then-", i)), k.tree)
	}
	log := mustMV(t, "log", "--repo", repoDir).stdout
	if !strings.Contains(log, "forget") || !strings.Contains(log, "prune") {
		t.Errorf("the log does not show the forget and prune runs:\n%s", log)
	}
}

// TestPruneKilled: a prune killed with SIGKILL at a random point loses
// nothing kept, and a rerun finishes it.
func TestPruneKilled(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 60)
	time.Sleep(2100 * time.Millisecond)
	base := filepath.Join(t.TempDir(), "repo")
	snaps := snapshotsWithChanges(t, st, base, 4)
	mustMV(t, "forget", "--repo", base, "--keep-last", "2")
	kept := snaps[2:]

	// How long a whole prune takes, on a copy.
	timing := copyRepo(t, base)
	start := time.Now()
	mustMV(t, "prune", "--repo", timing)
	whole := time.Since(start)
	wantBytes := archivesBytes(t, timing)
	listing := func(dir string) string {
		a, _ := filepath.Glob(filepath.Join(dir, "archives", "*.mva"))
		tmp, _ := filepath.Glob(filepath.Join(dir, "tmp", "prune-*"))
		return strings.Join(append(a, tmp...), " ")
	}
	untouched := strings.ReplaceAll(listing(base), base, "")
	phases := map[string]int{} // where the kills landed

	tries := figures.Size(3, 20)
	held, lost := 0, 0
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range tries {
		dir := copyRepo(t, base)
		delay := time.Duration(rng.Int64N(int64(whole)))
		cmd := exec.Command(binary, "prune", "--repo", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		switch now := strings.ReplaceAll(listing(dir), dir, ""); {
		case now == untouched:
			phases["before any change"]++
		case strings.Contains(now, "/tmp/"):
			phases["writing a replacement"]++
		default:
			phases["between the first rename and the end"]++
		}
		ok := true
		for j, k := range kept {
			got := restoredTree(t, st, dir, k.at, fmt.Sprint("killed-", i, "-", j))
			if strings.Join(got, "\n") != strings.Join(k.tree, "\n") {
				ok = false
				lost += missing(got, k.tree)
				t.Errorf("try %d (killed after %v): kept snapshot %d: %s", i, delay, j, firstDiff(strings.Join(got, "\n"), strings.Join(k.tree, "\n")))
			}
		}
		mustMV(t, "prune", "--repo", dir)
		if got := archivesBytes(t, dir); got != wantBytes {
			// A rerun finishes the work: what is left is what an unbroken
			// prune leaves (rewrites differ in their random ids only).
			ok = false
			t.Errorf("try %d: after the rerun archives/ holds %d bytes, after an unbroken prune %d", i, got, wantBytes)
		}
		for j, k := range kept {
			got := restoredTree(t, st, dir, k.at, fmt.Sprint("rerun-", i, "-", j))
			if strings.Join(got, "\n") != strings.Join(k.tree, "\n") {
				ok = false
				lost += missing(got, k.tree)
				t.Errorf("try %d: after the rerun, kept snapshot %d: %s", i, j, firstDiff(strings.Join(got, "\n"), strings.Join(k.tree, "\n")))
			}
		}
		if r := mv(t, "verify", "--repo", dir); r.code != 0 {
			ok = false
			t.Errorf("try %d: verify after the rerun: exit %d\n%s%s", i, r.code, r.stdout, r.stderr)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "tmp", "prune-*")); len(left) > 0 {
			t.Errorf("try %d: the rerun left %v", i, left)
		}
		if ok {
			held++
		}
		os.RemoveAll(dir)
	}
	figures.Record(t, figures.Row{Suite: "crash", What: "prune killed at a random point", Tried: tries, Held: held, Lost: lost,
		Note: fmt.Sprintf("SIGKILL within a %v prune of %d snapshots (2 kept), landing %v; every kept snapshot restored, then after a rerun", whole.Round(time.Millisecond), len(snaps), phases)})
}

// missing counts the lines of want that got lacks.
func missing(got, want []string) int {
	have := map[string]bool{}
	for _, g := range got {
		have[g] = true
	}
	n := 0
	for _, w := range want {
		if !have[w] {
			n++
		}
	}
	return n
}

// TestForgetAndPruneUnderMount: a running mount hides a snapshot within
// seconds of its forget, and serves every message of the kept snapshot
// after a prune removed the archive where its index found them.
func TestForgetAndPruneUnderMount(t *testing.T) {
	requireFUSE(t)
	quickExit(t)
	st := buildStore(t, 40)
	time.Sleep(2100 * time.Millisecond)
	tmp := t.TempDir()
	repoDir, mnt := filepath.Join(tmp, "repo"), filepath.Join(tmp, "mnt")
	// The --full run stores every message again, and the index finds
	// them there; prune keeps the first run's copies and removes those.
	args := []string{"--repo", repoDir, "--server", "mail1", st.Template}
	backupJSON(t, args...)
	backupJSON(t, append([]string{"--full"}, args...)...)
	backupJSON(t, args...)
	startMount(t, repoDir, mnt)
	views := func() int {
		e, _ := os.ReadDir(filepath.Join(mnt, ".snapshots"))
		return len(e) - 1 // and "latest"
	}
	if n := views(); n != 3 {
		t.Fatalf("the mount shows %d snapshots, want 3", n)
	}
	mustMV(t, "forget", "--repo", repoDir, "--keep-last", "1")
	deadline := time.Now().Add(15 * time.Second)
	for views() != 1 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := views(); n != 1 {
		t.Fatalf("15 s after forget the mount shows %d snapshots, want 1", n)
	}
	r := mustMV(t, "prune", "--repo", repoDir)
	if !strings.Contains(r.stdout, "pruned:") || strings.Contains(r.stdout, " 0 archives deleted, 0 rewritten") {
		t.Errorf("prune under a mount: %s", r.stdout)
	}
	time.Sleep(2 * time.Second) // the mount looks at archives/ every second
	got := fileSums(t, filepath.Join(mnt, "mail1"))
	want := fileSums(t, st.Root)
	sameTree(t, "the mount's latest view after prune", got, want)
}

// fileSums lists "size sha256" of every message file under root, sorted:
// the same messages whatever the layout of the tree.
func fileSums(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		if sub := filepath.Base(filepath.Dir(p)); !fi.Mode().IsRegular() || sub != "cur" && sub != "new" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", p, err)
			return nil
		}
		out = append(out, fmt.Sprintf("%d %x", len(data), sha256.Sum256(data)))
		return nil
	})
	sort.Strings(out)
	return out
}

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/internal/teststore"
)

// runSummary is the JSON summary of a backup run.
type runSummary struct {
	Status           string    `json:"status"`
	Start            time.Time `json:"start"`
	Archives         []string  `json:"archives"`
	Folders          int       `json:"folders"`
	FoldersUnchanged int       `json:"folders_unchanged"`
	Messages         int       `json:"messages"`
	BytesTotal       int64     `json:"bytes_total"`
	BytesRead        int64     `json:"bytes_read"`
	BytesNew         int64     `json:"bytes_new"`
	BytesStored      int64     `json:"bytes_stored"`
}

func backupJSON(t *testing.T, args ...string) runSummary {
	t.Helper()
	r := mustMV(t, append([]string{"backup", "--json"}, args...)...)
	var s runSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("backup summary %q: %v", r.stdout, err)
	}
	return s
}

// contentTree lists the message files under a store root as "relative
// path size mtime sha256", so two trees are equal only if every file's
// name (flags included), metadata and bytes are.
func contentTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, line := range messageTree(t, root) {
		rel := strings.Fields(line)[0]
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		out = append(out, line+" "+hex.EncodeToString(sum[:8]))
	}
	return out
}

func sameTree(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: %d files, want %d: %s", what, len(got), len(want), firstDiff(strings.Join(got, "\n"), strings.Join(want, "\n")))
	}
}

// firstFile returns a message file of a user's INBOX cur/.
func firstFile(t *testing.T, st *teststore.Store, user string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(st.Maildir(user), "cur", "*"))
	if len(files) == 0 {
		t.Fatalf("%s has no messages in cur/", user)
	}
	return files[0]
}

// TestIncrementalRuns: an unchanged store costs almost nothing, a changed
// one what changed, and every snapshot restores to the store as it was.
func TestIncrementalRuns(t *testing.T) {
	st := buildStore(t, 300)
	time.Sleep(2100 * time.Millisecond) // older than the racy-mtime margin
	repoDir := filepath.Join(t.TempDir(), "repo")
	args := []string{"--repo", repoDir, "--server", "mail1", st.Template}

	full := backupJSON(t, args...)
	before := contentTree(t, st.Root)
	same := backupJSON(t, args...)
	if same.FoldersUnchanged != same.Folders || same.BytesRead != 0 || same.BytesNew != 0 || same.Messages != full.Messages {
		t.Errorf("no-change run: %+v", same)
	}
	if same.BytesStored*50 > full.BytesStored {
		t.Errorf("no-change run stored %d bytes, the full run %d", same.BytesStored, full.BytesStored)
	}

	// New deliveries, a flag change (a rename), a deletion.
	cut := time.Now()
	var news [][]byte
	var newBytes int64
	for i := range 3 {
		m := fmt.Appendf(nil, "Return-Path: <x@example.com>\nDelivered-To: alice@example.org\nSubject: new %d\n\n%s\n", i, strings.Repeat("fresh mail ", 100+i))
		news = append(news, m)
		newBytes += int64(len(m))
	}
	if err := st.Deliver("alice@example.org", news); err != nil {
		t.Fatal(err)
	}
	flagged := firstFile(t, st, "bob@example.org")
	if err := os.Rename(flagged, strings.TrimSuffix(flagged, "F")+"F"); err != nil && !strings.HasSuffix(flagged, "F") {
		t.Fatal(err)
	}
	os.Rename(flagged, flagged+"T")
	if err := os.Remove(firstFile(t, st, "carol@example.net")); err != nil {
		t.Fatal(err)
	}
	after := contentTree(t, st.Root)
	changed := backupJSON(t, args...)
	if changed.BytesRead != newBytes || changed.Messages != full.Messages+3-1 {
		t.Errorf("after changes: read %d bytes (want the %d new ones), %d messages (want %d)", changed.BytesRead, newBytes, changed.Messages, full.Messages+2)
	}
	if changed.FoldersUnchanged == 0 || changed.FoldersUnchanged >= changed.Folders {
		t.Errorf("after changes in 3 folders: %d of %d folders unchanged", changed.FoldersUnchanged, changed.Folders)
	}

	// A --since run is partial: it lists the new messages only, and it is
	// never the latest.
	since := backupJSON(t, append([]string{"--since", cut.Format(time.RFC3339Nano)}, args...)...)
	if since.Messages != 3 {
		t.Errorf("--since %s listed %d messages, want the 3 new ones", cut.Format(time.RFC3339Nano), since.Messages)
	}
	if snaps := mustMV(t, "snapshots", "--repo", repoDir).stdout; strings.Count(snaps, "partial") != 1 {
		t.Errorf("snapshots do not show one partial snapshot:\n%s", snaps)
	}
	latest := newStoreRoot(t, st, "latest")
	mustMV(t, "restore", "--repo", repoDir, "/mail1", "--to", locationUnder(latest))
	sameTree(t, "latest after a --since run", contentTree(t, latest), after)

	// Each snapshot restores to the store as it was then.
	for i, c := range []struct {
		at   time.Time
		want []string
	}{{full.Start, before}, {same.Start, before}, {changed.Start, after}} {
		root := newStoreRoot(t, st, fmt.Sprint("at-", i))
		mustMV(t, "restore", "--repo", repoDir, "--at", c.at.Format(time.RFC3339Nano), "/mail1", "--to", locationUnder(root))
		sameTree(t, fmt.Sprint("snapshot ", i), contentTree(t, root), c.want)
	}
}

// TestSingleCopy: copies of one delivery share what follows their trace
// lines; --copies stores every copy.
func TestSingleCopy(t *testing.T) {
	st := buildStore(t, 300)
	one := backupJSON(t, "--repo", filepath.Join(t.TempDir(), "repo"), "--server", "mail1", st.Template)
	if one.BytesNew*100 > one.BytesTotal*85 {
		t.Errorf("single copy stored %d new bytes of %d listed: copies are not shared", one.BytesNew, one.BytesTotal)
	}
	all := backupJSON(t, "--repo", filepath.Join(t.TempDir(), "repo"), "--server", "mail1", "--copies", st.Template)
	if all.BytesNew != all.BytesTotal {
		t.Errorf("--copies stored %d new bytes of %d listed", all.BytesNew, all.BytesTotal)
	}
}

// TestParallelGroupsAndStreams: --jobs writes one archive per group of one
// snapshot; -f - writes a self-contained archive that restores from a pipe.
func TestParallelGroupsAndStreams(t *testing.T) {
	st := buildStore(t, 200)
	groupsFile := filepath.Join(t.TempDir(), "groups")
	os.WriteFile(groupsFile, []byte(e2eGroups), 0o644)
	repoDir := filepath.Join(t.TempDir(), "repo")
	s := backupJSON(t, "--repo", repoDir, "--server", "mail1", "--groups", groupsFile, "--jobs", "4", st.Template)
	if len(s.Archives) != 3 {
		t.Fatalf("--jobs 4 over 3 groups wrote %v", s.Archives)
	}
	snaps := mustMV(t, "snapshots", "--repo", repoDir).stdout
	if n := strings.Count(snaps, s.Start.Format(time.RFC3339)); n != 3 {
		t.Errorf("snapshot %s has %d groups, want 3:\n%s", s.Start.Format(time.RFC3339), n, snaps)
	}

	if r := mv(t, "backup", "-f", "-", "--groups", groupsFile, st.Template); r.code != exitUsage {
		t.Errorf("-f - over 3 groups: exit %d, want %d: %s", r.code, exitUsage, r.stderr)
	}
	root := newStoreRoot(t, st, "from-pipe")
	sh := fmt.Sprintf("%s backup -f - --server mail1 --groups %s '%s' /staff | %s restore -f - /mail1/staff --to '%s'",
		binary, groupsFile, st.Template, binary, locationUnder(root))
	if out, err := exec.Command("bash", "-c", "set -o pipefail; "+sh).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", sh, err, out)
	}
	var want []string
	for _, line := range contentTree(t, st.Root) {
		if e2eUsers[userOfPath(line)] == "staff" {
			want = append(want, line)
		}
	}
	sameTree(t, "staff restored from a pipe", contentTree(t, root), want)
}

// userOfPath reads the user id from "<domain>/<local>/Maildir/...".
func userOfPath(rel string) string {
	p := strings.Split(rel, "/")
	if len(p) < 2 {
		return ""
	}
	return p[1] + "@" + p[0]
}

// TestConcurrentBackups: two backups of different groups into one
// repository at once (two cron jobs) both succeed, and the index ends up
// with both.
func TestConcurrentBackups(t *testing.T) {
	st := buildStore(t, 200)
	groupsFile := filepath.Join(t.TempDir(), "groups")
	os.WriteFile(groupsFile, []byte(e2eGroups), 0o644)
	repoDir := filepath.Join(t.TempDir(), "repo")
	mustMV(t, "init", "--repo", repoDir)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for _, scope := range []string{"/staff", "/net", "/user"} {
		cmd := exec.Command(binary, "backup", "--repo", repoDir, "--server", "mail1", "--groups", groupsFile, st.Template, scope)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("backup %d: %v\n%s", i, err, outs[i])
		}
	}
	snaps := mustMV(t, "snapshots", "--repo", repoDir).stdout
	for _, g := range []string{"staff", "net", "user"} {
		if !strings.Contains(snaps, " "+g+" ") {
			t.Errorf("no snapshot of %s:\n%s", g, snaps)
		}
	}
}

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// names lists a directory, sorted; nil if it cannot be read.
func names(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// waitFor polls until cond holds, for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 15 s", what)
}

// messageNames lists a Maildir folder's message files as "cur/name".
func messageNames(dir string) []string {
	var out []string
	for _, sub := range []string{"cur", "new"} {
		for _, n := range names(filepath.Join(dir, sub)) {
			out = append(out, sub+"/"+n)
		}
	}
	return out
}

func statOf(t *testing.T, path string) syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestMountFollowsNewSnapshots: a mount started on an empty repository
// shows each backup run within seconds, as the new latest at the root and
// as a directory of its own under .snapshots/, with older snapshots left as
// they were and message files keeping their inode, size and mtime.
func TestMountFollowsNewSnapshots(t *testing.T) {
	requireFUSE(t)
	st := buildStore(t, 120)
	repoDir := filepath.Join(t.TempDir(), "repo")
	mustMV(t, "init", "--repo", repoDir)
	mnt := filepath.Join(t.TempDir(), "mnt")
	m := startMount(t, repoDir, mnt)
	const user = "alice@example.org"
	inbox := st.Maildir(user)
	view := filepath.Join(mnt, "mail1", "user", user, "INBOX")

	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	waitFor(t, "the first snapshot in the mount", func() bool { return len(names(filepath.Join(mnt, ".snapshots"))) == 2 })
	before := messageNames(inbox)
	if got := messageNames(view); strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Fatalf("root view of INBOX: %v, store %v", got, before)
	}
	first := names(filepath.Join(mnt, ".snapshots"))[0]
	kept := before[0]
	keptStat := statOf(t, filepath.Join(view, kept))

	// Changes: a delivery, a flag change, a deletion; then a second run.
	if err := st.Deliver(user, [][]byte{[]byte("Subject: new\n\nhello\n")}); err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(inbox, before[1])
	os.Rename(renamed, renamed+"F")
	os.Remove(filepath.Join(inbox, before[2]))
	after := messageNames(inbox)
	time.Sleep(1100 * time.Millisecond) // a snapshot name of its own second
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	waitFor(t, "the second snapshot at the root", func() bool {
		return strings.Join(messageNames(view), "\n") == strings.Join(after, "\n")
	})
	snaps := names(filepath.Join(mnt, ".snapshots"))
	if len(snaps) != 3 || snaps[0] != first || snaps[2] != "latest" {
		t.Fatalf(".snapshots: %v", snaps)
	}
	if target, _ := os.Readlink(filepath.Join(mnt, ".snapshots", "latest")); target != snaps[1] {
		t.Errorf("latest -> %q, want %q", target, snaps[1])
	}
	for snap, want := range map[string][]string{first: before, snaps[1]: after, "latest": after} {
		got := messageNames(filepath.Join(mnt, ".snapshots", snap, "mail1", "user", user, "INBOX"))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf(".snapshots/%s INBOX: %v, want %v", snap, got, want)
		}
	}
	// The same message file is the same file in every view.
	for _, p := range []string{
		filepath.Join(view, kept),
		filepath.Join(mnt, ".snapshots", first, "mail1", "user", user, "INBOX", kept),
		filepath.Join(mnt, ".snapshots", snaps[1], "mail1", "user", user, "INBOX", kept),
	} {
		s := statOf(t, p)
		if s.Ino != keptStat.Ino || s.Size != keptStat.Size || s.Mtim != keptStat.Mtim || s.Ctim != keptStat.Mtim {
			t.Errorf("%s: ino %d size %d mtime %v ctime %v; at first ino %d size %d mtime %v", p, s.Ino, s.Size, s.Mtim, s.Ctim, keptStat.Ino, keptStat.Size, keptStat.Mtim)
		}
	}
	// And after a remount.
	m.stop(t)
	startMount(t, repoDir, mnt)
	if s := statOf(t, filepath.Join(view, kept)); s.Ino != keptStat.Ino || s.Mtim != keptStat.Mtim {
		t.Errorf("after a remount: ino %d mtime %v, was %d %v", s.Ino, s.Mtim, keptStat.Ino, keptStat.Mtim)
	}
}

// resticSummary runs restic backup of dir and returns its summary.
func resticSummary(t *testing.T, env []string, dir string) map[string]any {
	t.Helper()
	cmd := exec.Command("restic", "backup", "--json", "--exclude", filepath.Join(dir, ".snapshots"), dir)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic backup: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message_type"] == "summary" {
			return m
		}
	}
	t.Fatalf("no summary from restic:\n%s", out)
	return nil
}

// TestResticReadsOnlyNewMessagesOfTheMount: message files keep their
// metadata from one snapshot to the next, so restic backing up the mount
// twice across a new snapshot finds only the new messages new.
func TestResticReadsOnlyNewMessagesOfTheMount(t *testing.T) {
	requireFUSE(t)
	if _, err := exec.LookPath("restic"); err != nil {
		t.Skip("restic not installed (apt-get install restic)")
	}
	st := buildStore(t, 120)
	repoDir := filepath.Join(t.TempDir(), "repo")
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	mnt := filepath.Join(t.TempDir(), "mnt")
	startMount(t, repoDir, mnt)
	env := append(os.Environ(), "RESTIC_REPOSITORY="+filepath.Join(t.TempDir(), "restic"), "RESTIC_PASSWORD=test", "RESTIC_CACHE_DIR="+t.TempDir())
	cmd := exec.Command("restic", "init")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restic init: %v\n%s", err, out)
	}
	first := resticSummary(t, env, mnt)

	const user = "bob@example.org"
	if err := st.Deliver(user, [][]byte{[]byte("Subject: one\n\nnew\n"), []byte("Subject: two\n\nnewer\n")}); err != nil {
		t.Fatal(err)
	}
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	waitFor(t, "the new snapshot in the mount", func() bool {
		return len(names(filepath.Join(mnt, "mail1", "user", user, "INBOX", "new"))) >= 2
	})
	second := resticSummary(t, env, mnt)
	// The two messages are new; the folder's dovecot-uidlist may have
	// changed; every other file is unmodified.
	if second["files_new"] != 2.0 || second["files_changed"].(float64) > 1 ||
		second["files_unmodified"].(float64) < first["files_new"].(float64)-1 {
		t.Errorf("restic's second run: %v new, %v changed, %v unmodified; the first saw %v files",
			second["files_new"], second["files_changed"], second["files_unmodified"], first["files_new"])
	}
	t.Logf("restic: first run %v files, second %v new, %v changed, %v unmodified",
		first["files_new"], second["files_new"], second["files_changed"], second["files_unmodified"])
}

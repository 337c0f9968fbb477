package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mailvault/mailvault/internal/teststore"
	"github.com/mailvault/mailvault/maildir"
)

// maxMsg is a message file of the store, as ls names it.
type maxMsg struct {
	key   string // user/folder/cur|new/name
	rel   string // path under the store root, as in a mailState
	size  int64
	mtime int64
}

// storeMessages lists every message file of the store by folder.
func storeMessages(t *testing.T, st *teststore.Store) (msgs []maxMsg, folders map[string]bool) {
	t.Helper()
	loc, err := maildir.ParseLocation(st.Template)
	if err != nil {
		t.Fatal(err)
	}
	users, _ := loc.Users()
	folders = map[string]bool{}
	for _, u := range users {
		fds, err := maildir.ListFolders(u.Root)
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			folders[u.ID+"/"+fd.Name] = true
			for _, sub := range []string{"cur", "new"} {
				dir := filepath.Join(u.Root, fd.Dir, sub)
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					fi, err := e.Info()
					if err != nil || !fi.Mode().IsRegular() {
						continue
					}
					rel, _ := filepath.Rel(st.Root, filepath.Join(dir, e.Name()))
					msgs = append(msgs, maxMsg{key: u.ID + "/" + fd.Name + "/" + sub + "/" + e.Name(), rel: rel, size: fi.Size(), mtime: fi.ModTime().UnixNano()})
				}
			}
		}
	}
	// The order the backup chooses in: newest first, then by user and
	// base name (copies to several users share their mtime).
	order := func(m maxMsg) string {
		user, rest, _ := strings.Cut(m.key, "/")
		return user + "\x00" + maildir.BaseName(filepath.Base(rest))
	}
	sort.Slice(msgs, func(i, j int) bool {
		if msgs[i].mtime != msgs[j].mtime {
			return msgs[i].mtime > msgs[j].mtime
		}
		return order(msgs[i]) < order(msgs[j])
	})
	return msgs, folders
}

// lsAll lists every folder and message of the latest snapshots with ls
// --json: message key → left out.
func lsAll(t *testing.T, repoDir string) (msgs map[string]bool, folders map[string]bool) {
	t.Helper()
	msgs, folders = map[string]bool{}, map[string]bool{}
	rows := func(path string) []lsRow {
		var out []lsRow
		for _, l := range strings.Split(strings.TrimSpace(mustMV(t, "ls", "--repo", repoDir, "--json", path).stdout), "\n") {
			if l == "" {
				continue // an empty folder
			}
			var r lsRow
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("ls %s: %q: %v", path, l, err)
			}
			out = append(out, r)
		}
		return out
	}
	for user, group := range e2eUsers {
		for _, f := range rows("/mail1/" + group + "/" + user) {
			folders[user+"/"+f.Name] = true
			for _, m := range rows("/mail1/" + group + "/" + user + "/" + f.Name) {
				msgs[user+"/"+f.Name+"/"+m.Name] = m.LeftOut
			}
		}
	}
	return msgs, folders
}

var leftOutCount = regexp.MustCompile(`(\d+) messages \([^)]*\) left out by --max-size`)

// leftOutOf reads how many messages a backup left out from its stderr.
func leftOutOf(t *testing.T, r result) int {
	t.Helper()
	m := leftOutCount.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("backup: exit %d, stderr does not say how many messages were left out:\n%s", r.code, r.stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestMaxSizeCatchesUp backs up a store in a third of its size: every
// folder and message is listed, the newest messages are stored, restore
// names the rest; a run with room for just the mail delivered since stores
// that first; a run without a limit then stores everything, and a restore
// gives every message back byte for byte.
func TestMaxSizeCatchesUp(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 60)
	repoDir := filepath.Join(t.TempDir(), "repo")
	gf := filepath.Join(t.TempDir(), "groups.conf")
	if err := os.WriteFile(gf, []byte(e2eGroups), 0o644); err != nil {
		t.Fatal(err)
	}
	backupArgs := func(flags ...string) []string {
		return append([]string{"backup", "--repo", repoDir, "--server", "mail1", "--groups", gf, st.Template}, flags...)
	}
	msgs, storeFolders := storeMessages(t, st)
	var total int64
	for _, m := range msgs {
		total += m.size
	}
	limit := total / 3 / 1024 * 1024

	metrics := filepath.Join(t.TempDir(), "mailvault.prom")
	r := mv(t, backupArgs("--max-size", fmt.Sprintf("%dK", limit/1024), "--metrics-file", metrics)...)
	if r.code != 3 {
		t.Fatalf("limited backup: exit %d, want 3 (PARTIAL)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	n := leftOutOf(t, r)
	if n == 0 || n == len(msgs) {
		t.Fatalf("left out %d of %d messages", n, len(msgs))
	}
	if prom, _ := os.ReadFile(metrics); !strings.Contains(string(prom), fmt.Sprintf(`mailvault_backup_left_out_messages{server="mail1",scope="/"} %d`+"\n", n)) {
		t.Errorf("metrics do not count the %d left-out messages:\n%s", n, prom)
	}
	run := lastRun(t, repoDir)
	events := 0
	for _, e := range run.Events {
		if e.Word == "LEFTOUT" {
			events++
		}
	}
	if run.Status != "PARTIAL" || events != n {
		t.Errorf("log: status %s, %d LEFTOUT events; want PARTIAL and %d", run.Status, events, n)
	}

	// Every folder and message is listed, and the stored ones are the
	// newest: a message is left out only when the newer ones stored, and
	// it, would not fit.
	listed, folders := lsAll(t, repoDir)
	if fmt.Sprint(folders) != fmt.Sprint(storeFolders) {
		t.Errorf("ls folders %v\nstore folders %v", folders, storeFolders)
	}
	var used int64
	leftOut := map[string]bool{}
	for _, m := range msgs {
		out, ok := listed[m.key]
		switch {
		case !ok:
			t.Errorf("%s is not listed by ls", m.key)
		case out:
			leftOut[m.rel] = true
			if used+m.size <= limit {
				t.Errorf("%s (%d bytes) was left out, but %d of %d bytes were used by newer messages", m.key, m.size, used, limit)
			}
		default:
			used += m.size
		}
	}
	if len(leftOut) != n || used > limit {
		t.Errorf("ls marks %d messages left out, backup said %d; %d bytes stored, limit %d", len(leftOut), n, used, limit)
	}

	// Verify counts them, and calls them no damage.
	if code, rep := verifyJSON(t, repoDir); code != 0 || rep.LeftOut != n || len(rep.Affected) > 0 {
		t.Errorf("verify: exit %d, left out %d (want %d), affected %v", code, rep.LeftOut, n, rep.Affected)
	}

	// locate needs no archive for them and says so.
	if r := mustMV(t, "locate", "--repo", repoDir, "/mail1"); !strings.Contains(r.stderr, fmt.Sprintf("%d messages", n)) || !strings.Contains(r.stderr, "listed without their bytes") {
		t.Errorf("locate does not count the left-out messages:\n%s", r.stderr)
	}

	// The mount shows the stored messages, byte for byte, and not the
	// others, which it has no bytes for.
	t.Run("mount", func(t *testing.T) {
		requireFUSE(t)
		mnt := filepath.Join(t.TempDir(), "mnt")
		m := startMount(t, repoDir, mnt)
		defer m.stop(t)
		for _, msg := range msgs {
			user, rest, _ := strings.Cut(msg.key, "/")
			data, err := os.ReadFile(filepath.Join(mnt, "mail1", e2eUsers[user], user, rest))
			switch {
			case listed[msg.key] && err == nil:
				t.Errorf("%s: left out, yet the mount shows it", msg.key)
			case !listed[msg.key] && err != nil:
				t.Errorf("%s: stored, yet the mount cannot read it: %v", msg.key, err)
			case !listed[msg.key]:
				if want, _ := os.ReadFile(filepath.Join(st.Root, msg.rel)); string(data) != string(want) {
					t.Errorf("%s: the mount gives other bytes than the store", msg.key)
				}
			}
		}
	})

	// A restore gets the stored messages and names the others.
	want := readMailState(t, st.Root)
	root := newStoreRoot(t, st, "maxsize-partial")
	r = mv(t, "restore", "--repo", repoDir, "/mail1", "--to", locationUnder(root))
	if r.code != 3 || strings.Count(r.stderr, "left out by backup --max-size") != n || !strings.Contains(r.stderr, " in the backup of ") {
		t.Errorf("partial restore: exit %d (want 3), stderr names %d left-out messages, want %d:\n%s", r.code, strings.Count(r.stderr, "left out by backup --max-size"), n, r.stderr)
	}
	got := readMailState(t, root)
	for rel, h := range want {
		if leftOut[rel] != (got[rel] == "") || !leftOut[rel] && got[rel] != h {
			t.Errorf("%s: restored %v, left out %v", rel, got[rel] != "", leftOut[rel])
		}
	}

	// New mail, and room for it only: it is stored before the old backlog.
	if _, err := st.DeliverNew(4, 7); err != nil {
		t.Fatal(err)
	}
	after, _ := storeMessages(t, st)
	var fresh []maxMsg
	var freshBytes int64
	for _, m := range after {
		if _, ok := listed[m.key]; !ok {
			fresh = append(fresh, m)
			freshBytes += m.size
		}
	}
	if len(fresh) != 4 {
		t.Fatalf("%d new message files, want 4", len(fresh))
	}
	r = mv(t, backupArgs("--max-size", strconv.FormatInt(freshBytes, 10))...)
	if r.code != 3 || leftOutOf(t, r) != n {
		t.Fatalf("backup with room for the new mail: exit %d, want 3 with the %d old messages still left out\n%s", r.code, n, r.stderr)
	}
	listed, _ = lsAll(t, repoDir)
	for _, m := range fresh {
		if out, ok := listed[m.key]; !ok || out {
			t.Errorf("new message %s: listed %v, left out %v; want it stored", m.key, ok, out)
		}
	}

	// A run without a limit catches up, also in folders that did not
	// change since the last run.
	r = mustMV(t, backupArgs()...)
	if strings.Contains(r.stderr, "left out") {
		t.Errorf("unlimited backup still leaves messages out:\n%s", r.stderr)
	}
	root = newStoreRoot(t, st, "maxsize-full")
	mustMV(t, "restore", "--repo", repoDir, "/mail1", "--to", locationUnder(root))
	if lost, extra, ex := readMailState(t, root).diff(readMailState(t, st.Root)); lost+extra > 0 {
		t.Errorf("restore after catching up: %d messages missing or different, %d extra: %v", lost, extra, ex)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "500M": 500 << 20, "2G": 2 << 30, "2g": 2 << 30, "1T": 1 << 40, "64K": 64 << 10, "3MiB": 3 << 20, "10KB": 10 << 10} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1G", "0", "1.5G", "2X", "99999999999T"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestMaxSizeUsageErrors(t *testing.T) {
	repoDir := filepath.Join(t.TempDir(), "repo")
	for _, flags := range [][]string{{"--max-size", "lots"}, {"--max-size", "1G", "--full"}, {"--max-size", "1G", "--since", "2026-01-01"}} {
		args := append([]string{"backup", "--repo", repoDir, "maildir:/nonexistent/%n"}, flags...)
		if r := mv(t, args...); r.code != 2 || !strings.Contains(r.stderr, "--max-size") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error about --max-size", flags, r.code, r.stderr)
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailvault/mailvault/repo"
)

// TestBackupHooks backs up from a copy of the store that --pre-exec makes
// and --post-exec removes, as with an LVM snapshot, and checks what the
// hooks are told, where their output goes, and what a failing or hanging
// hook does to the run.
func TestBackupHooks(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 60)
	tmp := t.TempDir()
	repoDir, snap, report := filepath.Join(tmp, "repo"), filepath.Join(tmp, "snap"), filepath.Join(tmp, "report")
	template := "maildir:" + snap + "/%d/%n/Maildir"
	takeSnap := "cp -a " + st.Root + " " + snap + " && echo snapshot taken"
	dropSnap := `echo "status=$MAILVAULT_STATUS server=$MAILVAULT_SERVER archives=$MAILVAULT_ARCHIVES" >> ` + report + "; rm -rf " + snap + "; echo snapshot removed"
	backup := func(flags ...string) result {
		t.Helper()
		os.Remove(report)
		return mv(t, append(append([]string{"backup", "--repo", repoDir, "--server", "mail1"}, flags...), template)...)
	}
	reported := func() string {
		t.Helper()
		data, err := os.ReadFile(report)
		if err != nil {
			t.Fatalf("post-exec did not run: %v", err)
		}
		return string(data)
	}
	archives := func() int { return len(names(filepath.Join(repoDir, "archives"))) }
	lastLogBlock := func() string {
		t.Helper()
		data, _ := os.ReadFile(filepath.Join(repoDir, "logs", "backup.log"))
		s := string(data)
		return s[strings.LastIndex(s, " START backup "):]
	}

	// A good run: snapshot, backup of the snapshot, snapshot removed.
	r := backup("--pre-exec", takeSnap, "--post-exec", dropSnap)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(snap); !os.IsNotExist(err) {
		t.Errorf("the post-exec did not remove the snapshot: %v", err)
	}
	arch := names(filepath.Join(repoDir, "archives"))
	if got := reported(); len(arch) != 1 || got != "status=FULL server=mail1 archives="+arch[0]+"\n" {
		t.Errorf("post-exec was told %q; archives %v", got, arch)
	}
	if !strings.Contains(r.stderr, "mailvault: pre-exec: snapshot taken\n") || !strings.Contains(r.stderr, "mailvault: post-exec: snapshot removed\n") {
		t.Errorf("hook output not on stderr:\n%s", r.stderr)
	}
	block := lastLogBlock()
	pre, post, end := strings.Index(block, "HOOK pre-exec| snapshot taken\n"), strings.Index(block, "HOOK post-exec| snapshot removed\n"), strings.Index(block, "FULL BACKUP completed successfully")
	if pre < 0 || post < pre || end < post {
		t.Errorf("the log block does not hold the hooks' output before the run's end:\n%s", block)
	}
	ls := mustMV(t, "ls", "--repo", repoDir, "--json", "/mail1/user")
	if n := strings.Count(ls.stdout, `"kind":"user"`); n != len(st.Users) {
		t.Errorf("the snapshot has %d users, the store %d:\n%s", n, len(st.Users), ls.stdout)
	}

	// A run that leaves a file out: the post-exec is told PARTIAL.
	r = backup("--pre-exec", takeSnap+" && ln -s /etc/passwd "+snap+"/example.org/alice/Maildir/cur/evil:2,S", "--post-exec", dropSnap)
	if r.code != exitPartial || !strings.HasPrefix(reported(), "status=PARTIAL ") {
		t.Errorf("exit %d, post-exec told %q; want %d and PARTIAL\n%s", r.code, reported(), exitPartial, r.stderr)
	}

	// A failing pre-exec: no backup, exit 1, the post-exec cleans up.
	n := archives()
	r = backup("--pre-exec", takeSnap+" && echo cannot freeze >&2 && exit 7", "--post-exec", dropSnap)
	if r.code != exitFailed || !strings.Contains(r.stderr, "exited with status 7; the backup did not run") || !strings.Contains(r.stderr, "mailvault: pre-exec: cannot freeze") {
		t.Errorf("exit %d, want %d naming the pre-exec's status\n%s", r.code, exitFailed, r.stderr)
	}
	if archives() != n || !strings.HasPrefix(reported(), "status=FAILED ") {
		t.Errorf("%d archives (was %d); post-exec told %q", archives(), n, reported())
	}
	if _, err := os.Stat(snap); !os.IsNotExist(err) {
		t.Errorf("the post-exec did not remove the snapshot: %v", err)
	}
	if block := lastLogBlock(); !strings.Contains(block, "HOOK pre-exec| cannot freeze\n") || !strings.Contains(block, "BACKUP FAILED | pre-exec") {
		t.Errorf("log block:\n%s", block)
	}

	// A pre-exec that hangs is killed at --hook-timeout, children and all.
	pidFile := filepath.Join(tmp, "pid")
	start := time.Now()
	r = backup("--hook-timeout", "1s", "--pre-exec", "sleep 60 & echo $! > "+pidFile+"; wait")
	if r.code != exitFailed || !strings.Contains(r.stderr, "did not finish in time: killed after 1s") {
		t.Errorf("exit %d, want %d and a timeout\n%s", r.code, exitFailed, r.stderr)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the run took %s with a 1s hook timeout", took)
	}
	if data, err := os.ReadFile(pidFile); err != nil {
		t.Error(err)
	} else if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pid > 0 && syscall.Kill(pid, 0) == nil {
		if stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(stat), ") Z ") {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("the hook's child %d outlived the timeout", pid)
		}
	}

	// A failing post-exec: the snapshot is kept, the exit code is 1.
	n = archives()
	r = backup("--pre-exec", takeSnap, "--post-exec", "rm -rf "+snap+"; exit 4")
	if r.code != exitFailed || archives() != n+1 || !strings.Contains(r.stderr, `the backup completed (FULL), but post-exec "rm -rf`) {
		t.Errorf("exit %d, %d archives (was %d)\n%s", r.code, archives(), n, r.stderr)
	}

	// Hooks run around an archive written to a file too.
	out := filepath.Join(tmp, "out.mva")
	r = backup("-f", out, "--pre-exec", takeSnap+"; exit 3", "--post-exec", dropSnap)
	if _, err := os.Stat(out); r.code != exitFailed || !os.IsNotExist(err) || !strings.HasPrefix(reported(), "status=FAILED ") {
		t.Errorf("-f with a failing pre-exec: exit %d, archive file left: %v\n%s", r.code, !os.IsNotExist(err), r.stderr)
	}
	r = backup("-f", out, "--pre-exec", takeSnap, "--post-exec", dropSnap)
	if _, err := os.Stat(out); r.code != 0 || err != nil || !strings.HasPrefix(reported(), "status=FULL ") {
		t.Errorf("-f with hooks: exit %d, archive file: %v\n%s", r.code, err, r.stderr)
	}

	// A second backup with hooks of the same server is refused before
	// its pre-exec runs.
	lock, err := repo.Layout(repoDir).LockHooks("mail1")
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(tmp, "ran")
	r = backup("--pre-exec", "touch "+marker)
	lock.Unlock()
	if _, err := os.Stat(marker); r.code != exitLocked || err == nil || !strings.Contains(r.stderr, "with --pre-exec or --post-exec is running") {
		t.Errorf("exit %d (want %d), pre-exec ran: %v\n%s", r.code, exitLocked, err == nil, r.stderr)
	}
}

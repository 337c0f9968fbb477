package repo

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func newLogLayout(t *testing.T) Layout {
	t.Helper()
	dir := t.TempDir()
	if err := Init(dir); err != nil {
		t.Fatal(err)
	}
	return Layout(dir)
}

// Two runs that interleave their lines are told apart by their ids; a run
// without an END line is UNFINISHED; lines of the older format still read.
func TestRunsInterleaved(t *testing.T) {
	l := newLogLayout(t)
	old := "2026-11-01T02:30:00Z START backup server=mail1 scope=/ kind=incremental\n" +
		"  ERROR mail1/user/a@x/INBOX/cur/1: permission denied\n" +
		"2026-11-01T02:31:00Z PARTIAL BACKUP completed | 1 not backed up\n"
	if err := os.WriteFile(l.logPath(), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	a, _ := l.StartRun("backup", "scope=/staff", "mode=unattended")
	b, _ := l.StartRun("backup", "scope=/net")
	a.Event("ERROR", "mail1/staff/alice/INBOX/cur/x: gone\nwith a second line")
	b.End("FULL BACKUP completed successfully | 3 users")
	a.End("PARTIAL BACKUP completed | 1 messages not backed up")
	l.StartRun("verify")

	runs, err := l.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 {
		t.Fatalf("%d runs: %+v", len(runs), runs)
	}
	if r := runs[0]; r.Status != "PARTIAL" || len(r.Events) != 1 || r.Fields["scope"] != "/" {
		t.Errorf("old-format run: %+v", r)
	}
	if r := runs[1]; r.Fields["scope"] != "/staff" || r.Status != "PARTIAL" || len(r.Events) != 1 || r.Events[0].Text != "mail1/staff/alice/INBOX/cur/x: gone with a second line" {
		t.Errorf("run a: %+v", r)
	}
	if r := runs[2]; r.Fields["scope"] != "/net" || r.Status != "FULL" || len(r.Events) != 0 {
		t.Errorf("run b: %+v", r)
	}
	if r := runs[3]; r.Command != "verify" || r.Status != "UNFINISHED" {
		t.Errorf("run c: %+v", r)
	}
}

// Trimming keeps the newest runs whole, and appends made while it runs
// all land in the log.
func TestTrimLogLosesNoAppend(t *testing.T) {
	l := newLogLayout(t)
	for i := range 50 {
		r, _ := l.StartRun("backup", fmt.Sprintf("scope=/g%d", i))
		r.End("FULL BACKUP completed successfully")
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				r, err := l.StartRun("backup", fmt.Sprintf("scope=/w%d-%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				r.End("FULL BACKUP completed successfully")
			}
		}()
	}
	for range 10 {
		if err := l.TrimLog(120); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	runs, err := l.Runs()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range runs {
		if r.Status != "FULL" {
			t.Errorf("a run cut in half by the trim: %+v", r)
		}
		seen[r.Fields["scope"]] = true
	}
	for w := range 4 {
		if !seen[fmt.Sprintf("/w%d-24", w)] {
			t.Errorf("writer %d's last run is missing after trims", w)
		}
	}
	if err := l.TrimLog(10); err != nil {
		t.Fatal(err)
	}
	if runs, _ := l.Runs(); len(runs) != 10 {
		t.Errorf("after TrimLog(10): %d runs", len(runs))
	}
	if fi, err := os.Stat(filepath.Join(string(l), "logs", "backup.log")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode after a trim: %v %v", fi.Mode(), err)
	}
}

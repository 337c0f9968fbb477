package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNightlyRunsTellTheTruth: three unattended nights (a good one, one
// that leaves a folder out, one whose pre-exec fails) each leave a verdict
// in the log, the exit code an alarm watches, the matching alarm hook, and
// a metrics file whose last success stays at the good night.
func TestNightlyRunsTellTheTruth(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 30)
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	metrics := filepath.Join(dir, "mailvault.prom")
	alarms := filepath.Join(dir, "alarms")
	alarm := "echo \"$MAILVAULT_HOOK $MAILVAULT_STATUS $MAILVAULT_PROBLEMS $MAILVAULT_RUN | $MAILVAULT_SUMMARY\" >> " + alarms
	night := func(extra ...string) result {
		t.Helper()
		args := append([]string{"backup", "--repo", repoDir, "--server", "mail1", "--metrics-file", metrics,
			"--on-failure", alarm, "--on-partial", alarm, "--log-keep", "3"}, extra...)
		return mv(t, append(args, st.Template)...)
	}
	gauge := func(name string) float64 {
		t.Helper()
		data, err := os.ReadFile(metrics)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(l, "mailvault_backup_"+name+`{server="mail1",scope="/"} `); ok {
				v, err := strconv.ParseFloat(rest, 64)
				if err != nil {
					t.Fatalf("%s: %q", name, l)
				}
				return v
			}
		}
		t.Fatalf("no %s in the metrics file:\n%s", name, data)
		return 0
	}
	alarmLines := func() []string {
		data, _ := os.ReadFile(alarms)
		return strings.Split(strings.TrimSpace(string(data)), "\n")
	}

	// Night 1: FULL, no alarm.
	if r := night(); r.code != exitOK {
		t.Fatalf("night 1: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(alarms); err == nil {
		t.Errorf("an alarm after a FULL run: %v", alarmLines())
	}
	success := gauge("last_success_timestamp_seconds")
	if gauge("status") != 0 || success == 0 || gauge("messages") != float64(st.Files) || gauge("problems") != 0 {
		t.Errorf("metrics after night 1: status %v, success %v, messages %v of %d", gauge("status"), success, gauge("messages"), st.Files)
	}

	// Night 2: a folder that is a symlink out of the store is left out.
	evil := filepath.Join(st.Maildir("alice@example.org"), ".Evil")
	if err := os.Symlink(dir, evil); err != nil {
		t.Fatal(err)
	}
	if r := night(); r.code != exitPartial {
		t.Fatalf("night 2: exit %d, want %d\n%s", r.code, exitPartial, r.stderr)
	}
	if a := alarmLines(); len(a) != 1 || !strings.HasPrefix(a[0], "on-partial PARTIAL 1 ") || !strings.Contains(a[0], "PARTIAL BACKUP completed") || !strings.Contains(a[0], ".Evil") {
		t.Errorf("alarms after night 2: %q", a)
	}
	if gauge("status") != 1 || gauge("last_success_timestamp_seconds") != success || gauge("problems") != 1 {
		t.Errorf("metrics after night 2: status %v, success %v (was %v)", gauge("status"), gauge("last_success_timestamp_seconds"), success)
	}
	os.Remove(evil)

	// Night 3: the pre-exec fails, nothing is read.
	if r := night("--pre-exec", "echo cannot freeze; exit 7"); r.code != exitFailed {
		t.Fatalf("night 3: exit %d, want %d\n%s", r.code, exitFailed, r.stderr)
	}
	if a := alarmLines(); len(a) != 2 || !strings.HasPrefix(a[1], "on-failure FAILED 0 ") || !strings.Contains(a[1], "BACKUP FAILED | pre-exec") {
		t.Errorf("alarms after night 3: %q", a)
	}
	if gauge("status") != 2 || gauge("last_success_timestamp_seconds") != success {
		t.Errorf("metrics after night 3: status %v, success %v (was %v)", gauge("status"), gauge("last_success_timestamp_seconds"), success)
	}

	// The log reads like the three nights, newest last, each unattended.
	var runs []struct {
		Status  string
		Verdict string
		Fields  map[string]string
		Events  []struct{ Word, Text string }
	}
	for _, l := range strings.Split(strings.TrimSpace(mustMV(t, "log", "--repo", repoDir, "--json").stdout), "\n") {
		var r struct {
			Status  string
			Verdict string
			Fields  map[string]string
			Events  []struct{ Word, Text string }
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("log --json: %v: %s", err, l)
		}
		runs = append(runs, r)
	}
	if len(runs) != 3 || runs[0].Status != "FULL" || runs[1].Status != "PARTIAL" || runs[2].Status != "FAILED" {
		t.Fatalf("log: %+v", runs)
	}
	for _, r := range runs {
		if r.Fields["mode"] != "unattended" || r.Fields["kind"] == "" {
			t.Errorf("a run's fields: %v", r.Fields)
		}
	}
	if !strings.HasPrefix(runs[0].Verdict, "FULL BACKUP completed successfully | Backed up") {
		t.Errorf("night 1's verdict: %s", runs[0].Verdict)
	}
	if e := runs[1].Events; len(e) == 0 || e[0].Word != "ERROR" || !strings.Contains(e[0].Text, ".Evil") {
		t.Errorf("night 2's lines: %+v", e)
	}
	last := mustMV(t, "log", "--repo", repoDir, "--last", "1").stdout
	if strings.Count(last, "\n") < 1 || !strings.Contains(last, "backup / (incremental, unattended): BACKUP FAILED | pre-exec") {
		t.Errorf("log --last 1:\n%s", last)
	}

	// --log-keep 3: a fourth night pushes the first out.
	if r := night("--verbose"); r.code != exitOK || !strings.Contains(r.stderr, "wrote archives/") {
		t.Fatalf("night 4 (--verbose): exit %d\n%s", r.code, r.stderr)
	}
	out := mustMV(t, "log", "--repo", repoDir, "--last", "0").stdout
	if strings.Count(out, "): ") != 3 || !strings.Contains(out, "PARTIAL BACKUP") || strings.Index(out, "PARTIAL") > strings.Index(out, "BACKUP FAILED") {
		t.Errorf("log after 4 nights kept with --log-keep 3:\n%s", out)
	}
	if gauge("status") != 0 || gauge("last_success_timestamp_seconds") <= success {
		t.Errorf("metrics after night 4: status %v, success %v (night 1 %v)", gauge("status"), gauge("last_success_timestamp_seconds"), success)
	}
}

package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runCLI runs the command line in-process.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	tmp := t.TempDir()
	badGroups := filepath.Join(tmp, "groups.conf")
	os.WriteFile(badGroups, []byte("# ok\nstaff=.*@example\\.org\nbroken line\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "usage: mailvault COMMAND"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"backup", "maildir:/x/%n"}, exitUsage, "no repository"},
		{[]string{"backup", "--repo", tmp + "/r", "/no/maildir/prefix"}, exitUsage, "maildir:"},
		{[]string{"backup", "--repo", tmp + "/r", "--groups", badGroups, "maildir:" + tmp + "/%n"}, exitUsage, "line 3"},
		{[]string{"backup", "--repo", tmp + "/r", "maildir:" + tmp + "/%n", "nogroup"}, exitUsage, "scope"},
		{[]string{"backup", "--repo", tmp + "/r", "--server", "a/b", "maildir:" + tmp + "/%n"}, exitUsage, "--server"},
		{[]string{"ls", "--repo", tmp}, exitFailed, "not a mailvault repository"},
		{[]string{"mount", "--repo", tmp}, exitUsage, "mount point"},
	} {
		code, _, stderr := runCLI(c.args...)
		if c.args == nil {
			_, stdout, _ := runCLI()
			stderr += stdout
		}
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("mailvault %q: exit %d, want %d; stderr %q should contain %q", c.args, code, c.code, stderr, c.want)
		}
	}
}

func TestHelpExplainsEveryCommand(t *testing.T) {
	for _, c := range commands {
		args := append(strings.Fields(c.name), "--help")
		code, stdout, _ := runCLI(args...)
		if code != exitOK || !strings.Contains(stdout, "usage: mailvault "+c.name) || !strings.Contains(stdout, "-repo") {
			t.Errorf("%s --help: exit %d\n%s", c.name, code, stdout)
		}
	}
}

func TestBackupOfEmptyScopeIsAUsageError(t *testing.T) {
	st := buildStore(t, 30)
	code, _, stderr := runCLI("backup", "--repo", t.TempDir(), st.Template, "/nosuchgroup")
	if code != exitUsage || !strings.Contains(stderr, "no user") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// TestPartialWhenAFileIsUnreadable runs the backup as the store's owner
// (as a mail admin would) with one message file it cannot read: the file is
// named, everything else is backed up, and the run exits PARTIAL.
func TestPartialWhenAFileIsUnreadable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the backup as the store's owner")
	}
	st := buildStore(t, 60)
	inbox := filepath.Join(st.Root, "example.org", "alice", "Maildir", "cur")
	entries, err := os.ReadDir(inbox)
	if err != nil || len(entries) < 2 {
		t.Fatalf("alice's INBOX: %v, %d files", err, len(entries))
	}
	bad := filepath.Join(inbox, entries[0].Name())
	if err := os.Chmod(bad, 0); err != nil {
		t.Fatal(err)
	}
	var owner syscall.Stat_t
	if err := syscall.Stat(inbox, &owner); err != nil {
		t.Fatal(err)
	}
	// The owner must be able to reach the store and write the repository.
	for d := st.Root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	repoDir := filepath.Join(filepath.Dir(st.Root), "repo")
	os.Mkdir(repoDir, 0o700)
	os.Chown(repoDir, int(owner.Uid), int(owner.Gid))

	r := mvAs(t, owner.Uid, owner.Gid, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	if r.code != exitPartial {
		t.Fatalf("exit %d, want %d (PARTIAL)\n%s\n%s", r.code, exitPartial, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, entries[0].Name()) || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("stderr does not name the unreadable file:\n%s", r.stderr)
	}
	log, _ := os.ReadFile(filepath.Join(repoDir, "logs", "backup.log"))
	if !strings.Contains(string(log), "PARTIAL BACKUP completed") || !strings.Contains(string(log), entries[0].Name()) {
		t.Errorf("backup log:\n%s", log)
	}
	ls := mustMV(t, "ls", "--repo", repoDir, "--json", "/mail1/user/alice@example.org/INBOX")
	got := strings.Count(ls.stdout, `"kind":"message"`)
	all, _ := os.ReadDir(filepath.Join(st.Root, "example.org", "alice", "Maildir", "new"))
	if want := len(entries) - 1 + len(all); got != want {
		t.Errorf("INBOX holds %d messages in the backup, want %d (all but the unreadable one)", got, want)
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	to := fs.String("to", "", "")
	json := fs.Bool("json", false, "")
	args, err := parseInterspersed(fs, []string{"/mail1/staff", "--to", "maildir:/x/%n", "second", "--json", "--", "--not-a-flag"})
	if err != nil || *to != "maildir:/x/%n" || !*json || strings.Join(args, " ") != "/mail1/staff second --not-a-flag" {
		t.Errorf("args %q to %q json %v err %v", args, *to, *json, err)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]string{
		"":                               "",
		"2026-11-22T03:05:00Z":           "2026-11-22T03:05:00.999999999Z", // as 'snapshots' prints it
		"2026-11-22T03:05:00+01:00":      "2026-11-22T02:05:00.999999999Z",
		"20261122T030500Z":               "2026-11-22T03:05:00.999999999Z",
		"2026-11-22T03:05:00.123456789Z": "2026-11-22T03:05:00.123456789Z",
		"2026-11-22":                     "2026-11-22T23:59:59.999999999Z",
	} {
		ns, err := parseTime(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		got := ""
		if ns != 0 {
			got = time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
		}
		if got != want {
			t.Errorf("parseTime(%q) = %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"yesterday", "2999-01-01", "1500-01-01T00:00:00Z"} {
		if _, err := parseTime(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// --since takes the start of what it names.
	if start, _, _ := parseSpan("2026-11-22"); time.Unix(0, start).UTC().Format(time.RFC3339Nano) != "2026-11-22T00:00:00Z" {
		t.Errorf("start of a day: %s", time.Unix(0, start).UTC())
	}
}

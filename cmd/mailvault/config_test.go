package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigFile: a nightly command line of only the scope does the same
// backup as the long one, the command line and $MAILVAULT_REPO win over the
// file, and a mistyped key or a missing named file stops the run with
// exit 2 before anything is read.
func TestConfigFile(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 30)
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	groupsFile := filepath.Join(dir, "groups.conf")
	if err := os.WriteFile(groupsFile, []byte(e2eGroups), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "mailvault.toml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("repo = '" + repoDir + "'\n[backup]\nserver = 'mail9'\ngroups = '" + groupsFile + "'\nsource = '" + st.Template + "'\n")

	r := mustMV(t, "backup", "--config", conf, "/staff")
	if !strings.Contains(r.stdout, "in groups staff") {
		t.Errorf("backup /staff from the file: %s", r.stdout)
	}
	snaps := mustMV(t, "snapshots", "--config", conf).stdout
	if !strings.Contains(snaps, "mail9") || !strings.Contains(snaps, "staff") || strings.Contains(snaps, " net ") {
		t.Errorf("snapshots after a backup of /staff as mail9:\n%s", snaps)
	}

	// The command line wins over the file.
	mustMV(t, "backup", "--config", conf, "--server", "mail8")
	if snaps := mustMV(t, "snapshots", "--config", conf).stdout; !strings.Contains(snaps, "mail8") {
		t.Errorf("--server mail8 on the command line did not win:\n%s", snaps)
	}
	// $MAILVAULT_REPO wins over repo in the file.
	other := filepath.Join(dir, "other")
	t.Setenv("MAILVAULT_REPO", other)
	mustMV(t, "backup", "--config", conf, "/net")
	if _, err := os.Stat(filepath.Join(other, "archives")); err != nil {
		t.Errorf("MAILVAULT_REPO did not win over the file: %v", err)
	}
	t.Setenv("MAILVAULT_REPO", "")

	write("repo = '" + repoDir + "'\n[backup]\nsevrer = 'mail9'\n[mount]\ncache-mb = 8\n")
	before := archiveFiles(t, repoDir)
	r = mv(t, "backup", "--config", conf, st.Template)
	if r.code != exitUsage || !strings.Contains(r.stderr, "[backup] sevrer") || !strings.Contains(r.stderr, conf) {
		t.Errorf("a mistyped key: exit %d, %s", r.code, r.stderr)
	}
	if got := archiveFiles(t, repoDir); len(got) != len(before) {
		t.Errorf("a run with a bad file wrote archives: %v", got)
	}
	r = mv(t, "ls", "--config", filepath.Join(dir, "missing.toml"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "missing.toml") {
		t.Errorf("a missing --config file: exit %d, %s", r.code, r.stderr)
	}
	write("[backup]\njobs = 'many'\n")
	if r := mv(t, "backup", "--config", conf); r.code != exitUsage || !strings.Contains(r.stderr, "jobs") {
		t.Errorf("a bad value: exit %d, %s", r.code, r.stderr)
	}
	// --config none reads nothing, so a source must be given.
	if r := mv(t, "backup", "--config", "none", "--repo", repoDir); r.code != exitUsage {
		t.Errorf("--config none without a source: exit %d, %s", r.code, r.stderr)
	}
}

// TestShippedConfigIsValid: the example file in dist/ passes the check
// that a run makes, so an admin can start from it.
func TestShippedConfigIsValid(t *testing.T) {
	r := mv(t, "ls", "--config", "../../dist/mailvault.toml", "--repo", t.TempDir())
	if strings.Contains(r.stderr, "configuration file") {
		t.Errorf("dist/mailvault.toml is refused: %s", r.stderr)
	}
}

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/internal/teststore"
)

// quickExit keeps a race-enabled binary from sleeping a second at exit, so
// that tests running it many times stay quick; races are still reported.
func quickExit(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// backupWithGroups backs up st into a new repository with the end-to-end
// groups file and returns the repository and its archives by group.
func backupWithGroups(t *testing.T, st *teststore.Store) (string, map[string]string) {
	t.Helper()
	repoDir := filepath.Join(t.TempDir(), "repo")
	return repoDir, backupGroups(t, st, repoDir)
}

// backupGroups runs a backup with the end-to-end groups file and returns
// the archives it wrote, by group.
func backupGroups(t *testing.T, st *teststore.Store, repoDir string, flags ...string) map[string]string {
	t.Helper()
	gf := filepath.Join(t.TempDir(), "groups.conf")
	if err := os.WriteFile(gf, []byte(e2eGroups), 0o644); err != nil {
		t.Fatal(err)
	}
	before := map[string]bool{}
	for _, p := range archiveFiles(t, repoDir) {
		before[p] = true
	}
	mustMV(t, append([]string{"backup", "--repo", repoDir, "--server", "mail1", "--groups", gf, st.Template}, flags...)...)
	byGroup := map[string]string{}
	for _, p := range archiveFiles(t, repoDir) {
		if before[p] {
			continue
		}
		m := regexp.MustCompile(`^\d{8}T\d{6}Z-mail1-([a-z]+)-[0-9a-f]{8}\.mva$`).FindStringSubmatch(filepath.Base(p))
		if m == nil {
			t.Fatalf("archive %s is not named <time>-<server>-<group>-<random>.mva", p)
		}
		byGroup[m[1]] = p
	}
	if len(byGroup) != 3 {
		t.Fatalf("archives by group: %v", byGroup)
	}
	return byGroup
}

// archiveFiles lists REPO/archives/*.mva, sorted.
// archiveFiles lists a repository's archives in the order they were
// taken (names sort by the second only).
func archiveFiles(t *testing.T, repoDir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoDir, "archives", "*.mva"))
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]int64{}
	for _, f := range files {
		a, err := archive.OpenFile(f)
		if err != nil {
			t.Fatal(err)
		}
		created[f] = a.Header().Created
		a.Close()
	}
	sort.Slice(files, func(i, j int) bool { return created[files[i]] < created[files[j]] })
	return files
}

// checkClean fails unless archives/ holds exactly n archives and tmp/
// holds nothing but private indexes of other commands.
func checkClean(t *testing.T, repoDir string, n int) {
	t.Helper()
	if got := archiveFiles(t, repoDir); len(got) != n {
		t.Errorf("archives/ holds %d archives, want %d: %v", len(got), n, got)
	}
	entries, _ := os.ReadDir(filepath.Join(repoDir, "tmp"))
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "index-") {
			t.Errorf("tmp/ holds %s", e.Name())
		}
	}
}

// mvStdin runs the binary with a file as its standard input.
func mvStdin(t *testing.T, file string, args ...string) result {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return mvInput(t, f, args...)
}

func mvInput(t *testing.T, in *os.File, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// lsTree walks 'ls --json' from path down to the message files and returns
// every row under its path.
func lsTree(t *testing.T, repoDir, path string, flags ...string) string {
	t.Helper()
	var b strings.Builder
	var walk func(path string)
	walk = func(path string) {
		r := mustMV(t, append([]string{"ls", "--repo", repoDir, "--json", path}, flags...)...)
		if r.stdout == "" {
			return // an empty folder
		}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var row lsRow
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("ls %s: %q: %v", path, line, err)
			}
			b.WriteString(path + " " + line + "\n")
			if row.Kind != "message" {
				walk(strings.TrimSuffix(path, "/") + "/" + row.Name)
			}
		}
	}
	walk(path)
	return b.String()
}

// TestImportIntoAnotherRepository copies archives of one repository into a
// fresh one, from a file and from a pipe: the new repository shows the same
// tree and restores from it; importing again changes nothing.
func TestImportIntoAnotherRepository(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 80)
	repo1, archives := backupWithGroups(t, st)
	repo2 := filepath.Join(t.TempDir(), "repo2") // created by the import

	r := mustMV(t, "import", "--repo", repo2, archives["staff"])
	if !strings.Contains(r.stdout, "Imported "+archives["staff"]+" as archives/") || !strings.Contains(r.stdout, "group staff") {
		t.Errorf("import summary: %s", r.stdout)
	}
	r = mvStdin(t, archives["net"], "import", "--repo", repo2, "--json", "-")
	if r.code != 0 {
		t.Fatalf("import -: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var res struct {
		Archive, Server, Group, Snapshot string
		Messages                         int
		Bytes                            int64
		Indexed                          bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("import --json: %q: %v", r.stdout, err)
	}
	if res.Server != "mail1" || res.Group != "net" || res.Messages == 0 || res.Bytes == 0 || !res.Indexed ||
		!strings.Contains(res.Archive, "-mail1-net-") || res.Snapshot == "" {
		t.Errorf("import --json: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(repo2, "archives", res.Archive)); err != nil {
		t.Errorf("archive of --json: %v", err)
	}
	checkClean(t, repo2, 2)

	for _, g := range []string{"/mail1/staff", "/mail1/net"} {
		if got, want := lsTree(t, repo2, g), lsTree(t, repo1, g); got != want {
			t.Errorf("ls %s in the new repository differs: %s", g, firstDiff(got, want))
		}
	}
	groups := mustMV(t, "ls", "--repo", repo2, "--json", "/mail1").stdout
	if strings.Count(groups, `"kind":"group"`) != 2 || strings.Contains(groups, `"name":"user"`) {
		t.Errorf("groups in the new repository:\n%s", groups)
	}

	// A message stored once for the whole run may lie in another group's
	// archive: locate names what else to bring over before a restore.
	const user = "alice@example.org"
	for _, n := range strings.Fields(mustMV(t, "locate", "--repo", repo1, "/mail1/staff/"+user).stdout) {
		if p := filepath.Join(repo1, "archives", n); p != archives["staff"] && p != archives["net"] {
			mustMV(t, "import", "--repo", repo2, p)
		}
	}
	if r := mv(t, "locate", "--repo", repo2, "/mail1/staff/"+user); r.code != 0 {
		t.Fatalf("locate in the new repository: exit %d\n%s", r.code, r.stderr)
	}
	want := dovecotView(t, st, user, "")
	root := newStoreRoot(t, st, "from-import")
	mustMV(t, "restore", "--repo", repo2, "/mail1/staff/"+user, "--to", locationUnder(root))
	if got := dovecotView(t, st, user, locationUnder(root)); got != want {
		t.Errorf("%s restored from the imported archive: Dovecot's view differs: %s", user, firstDiff(got, want))
	}

	// Twice is refused, from a file and from a pipe; into the repository
	// the archive came from too.
	for _, c := range []struct {
		name string
		run  func() result
	}{
		{"file", func() result { return mv(t, "import", "--repo", repo2, archives["staff"]) }},
		{"pipe", func() result { return mvStdin(t, archives["net"], "import", "--repo", repo2, "-") }},
		{"origin", func() result { return mv(t, "import", "--repo", repo1, archives["user"]) }},
	} {
		r := c.run()
		if r.code != exitUsage || !strings.Contains(r.stderr, "already in the repository") || !strings.Contains(r.stderr, "nothing imported") {
			t.Errorf("import again (%s): exit %d, want %d\n%s", c.name, r.code, exitUsage, r.stderr)
		}
	}
	n := len(archiveFiles(t, repo2))
	checkClean(t, repo2, n)
	checkClean(t, repo1, 3)
	if snaps := mustMV(t, "snapshots", "--repo", repo2, "--json").stdout; strings.Count(snaps, "\n") != n {
		t.Errorf("snapshots after refused imports:\n%s", snaps)
	}
}

// TestImportRejectsDamagedArchives: a truncated or bit-flipped archive is
// refused with exit code 5 and a message naming the input, and leaves
// nothing in archives/ or tmp/.
func TestImportRejectsDamagedArchives(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 40)
	repo1 := filepath.Join(t.TempDir(), "repo")
	mustMV(t, "backup", "--repo", repo1, "--server", "mail1", st.Template)
	files := archiveFiles(t, repo1)
	if len(files) != 1 {
		t.Fatalf("archives: %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	flipped := bytes.Clone(data)
	flipped[len(data)/2] ^= 0x04
	bad := map[string][]byte{
		"truncated.mva":    data[:len(data)*2/3],
		"no-footer.mva":    data[:len(data)-archive.FooterSize],
		"flipped.mva":      flipped,
		"not-an-archive.x": []byte("Subject: not an archive\n\nhello\n"),
	}
	repo2 := filepath.Join(t.TempDir(), "repo2")
	mustMV(t, "init", "--repo", repo2)
	for name, b := range bad {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, pipe := range []bool{false, true} {
			var r result
			what := p
			if pipe {
				r, what = mvStdin(t, p, "import", "--repo", repo2, "-"), "standard input"
			} else {
				r = mv(t, "import", "--repo", repo2, p)
			}
			if r.code != exitCorrupt || !strings.HasPrefix(r.stderr, "mailvault: "+what+": ") || !strings.Contains(r.stderr, "nothing imported") {
				t.Errorf("import of %s (pipe %v): exit %d, want %d\n%s", name, pipe, r.code, exitCorrupt, r.stderr)
			}
			checkClean(t, repo2, 0)
		}
	}
	// The intact archive goes in after all that.
	mustMV(t, "import", "--repo", repo2, files[0])
	checkClean(t, repo2, 1)
}

// incremental writes a copy of an archive as an incremental run would: a
// later snapshot of the same folders that holds only some of the blobs
// (every other one), the others being in the earlier archive.
func incremental(t *testing.T, from, dir string) string {
	t.Helper()
	ar, err := archive.OpenFile(from)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	h := ar.Header()
	h.Created += int64(time.Hour)
	h.Snapshot = time.Unix(0, h.Created).UTC().Format(time.RFC3339Nano)
	h.Flags &^= archive.FlagFull
	rand.Read(h.ID[:])
	path := filepath.Join(dir, "incremental.mva")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := archive.NewWriter(f, h, archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range ar.Trailer().Blobs {
		if i%2 == 1 {
			continue
		}
		data, err := ar.ReadBlob(b.Hash, b.Loc)
		if err != nil {
			t.Fatal(err)
		}
		w.AddBlob(b.Hash, data)
	}
	folders, err := ar.Folders()
	if err != nil {
		t.Fatal(err)
	}
	for _, fo := range folders {
		w.AddFolder(fo)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLocateNamesTheArchives: locate names the archive of a scope, follows
// the bytes of an incremental archive into the earlier one, and reports
// them missing where the earlier one is not in the repository.
func TestLocateNamesTheArchives(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 60)
	repo1, archives := backupWithGroups(t, st)
	const user = "alice@example.org"
	staff := filepath.Base(archives["staff"])
	var all []string
	for _, p := range archiveFiles(t, repo1) {
		all = append(all, filepath.Base(p))
	}

	// A message is stored once in the run: alice's may lie in the
	// archives of other groups too.
	got := strings.Fields(mustMV(t, "locate", "--repo", repo1, "/mail1/staff/"+user).stdout)
	if !slices.Contains(got, staff) || !slices.IsSorted(got) {
		t.Errorf("locate of %s: %q, want %s first of all", user, got, staff)
	}
	for _, n := range got {
		if !slices.Contains(all, n) {
			t.Errorf("locate names %s, not in the repository", n)
		}
	}
	if r := mustMV(t, "locate", "--repo", repo1, "/mail1"); r.stdout != strings.Join(all, "\n")+"\n" {
		t.Errorf("locate /mail1: %q, want %q", r.stdout, all)
	}

	// A full backup's archives hold all their folders need: alice's alone.
	full := backupGroups(t, st, repo1, "--full")
	staff = filepath.Base(full["staff"])
	msgs := strings.Count(lsTree(t, repo1, "/mail1/staff/"+user), `"kind":"message"`)
	if r := mustMV(t, "locate", "--repo", repo1, "/mail1/staff/"+user); r.stdout != staff+"\n" {
		t.Errorf("locate of %s after a full backup: %q, want %q", user, r.stdout, staff)
	}
	r := mustMV(t, "locate", "--repo", repo1, "--json", "/mail1/staff/"+user+"/INBOX")
	var need struct {
		Archive, Path     string
		Folders, Messages int
		Bytes             int64
	}
	if err := json.Unmarshal([]byte(r.stdout), &need); err != nil {
		t.Fatalf("locate --json: %q: %v", r.stdout, err)
	}
	inbox := strings.Count(mustMV(t, "ls", "--repo", repo1, "--json", "/mail1/staff/"+user+"/INBOX").stdout, "\n")
	if need.Archive != staff || need.Path != full["staff"] || need.Folders != 1 || need.Messages != inbox || need.Bytes == 0 {
		t.Errorf("locate --json INBOX: %+v, want %s with 1 folder and %d messages", need, staff, inbox)
	}
	r = mustMV(t, "locate", "--repo", repo1, "--verbose", "/mail1/staff/"+user)
	if !strings.Contains(r.stdout, "ARCHIVE") || !strings.Contains(r.stdout, staff) || !strings.Contains(r.stdout, itoa(int64(msgs))+" messages") {
		t.Errorf("locate --verbose:\n%s", r.stdout)
	}
	if r := mv(t, "locate", "--repo", repo1, "/mail1/staff/nobody@example.org"); r.code != exitFailed || !strings.Contains(r.stderr, "nothing in the repository matches") {
		t.Errorf("locate of nobody: exit %d %s", r.code, r.stderr)
	}
	if r := mv(t, "locate", "--repo", repo1, "mail1"); r.code != exitUsage {
		t.Errorf("locate without a leading slash: exit %d %s", r.code, r.stderr)
	}

	// An incremental archive in the repository that holds the earlier one:
	// both are needed, nothing is missing.
	inc := incremental(t, full["staff"], t.TempDir())
	r = mustMV(t, "import", "--repo", repo1, "--json", inc)
	var imp struct{ Archive string }
	json.Unmarshal([]byte(r.stdout), &imp)
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("import of an incremental archive whose blobs are there: %s", r.stderr)
	}
	// The index names one archive for a blob that several hold: the bytes
	// the incremental archive lacks come from the staff archive or from
	// another full one that holds them too.
	got = strings.Fields(mustMV(t, "locate", "--repo", repo1, "/mail1/staff").stdout)
	if len(got) < 2 || !slices.Contains(got, imp.Archive) || !slices.IsSorted(got) {
		t.Errorf("locate after an incremental: %q, want %s and the archives of the rest", got, imp.Archive)
	}
	for _, n := range got {
		if _, err := os.Stat(filepath.Join(repo1, "archives", n)); err != nil {
			t.Errorf("locate names %s: %v", n, err)
		}
	}

	// Alone in a repository, it imports, and locate reports the rest missing.
	repo3 := filepath.Join(t.TempDir(), "repo3")
	r = mustMV(t, "import", "--repo", repo3, "--json", inc)
	if !strings.Contains(r.stderr, "earlier archives that are not in the repository") {
		t.Errorf("import of an incremental archive alone: no warning: %s", r.stderr)
	}
	json.Unmarshal([]byte(r.stdout), &imp)
	r = mv(t, "locate", "--repo", repo3, "/mail1/staff/"+user)
	if r.code != exitPartial || !strings.Contains(r.stderr, "missing") || r.stdout != imp.Archive+"\n" {
		t.Errorf("locate with missing bytes: exit %d, want %d\n%s%s", r.code, exitPartial, r.stdout, r.stderr)
	}
	r = mv(t, "locate", "--repo", repo3, "--json", "/mail1/staff/"+user)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var miss struct {
		Missing  bool
		Messages int
		Blobs    []string
	}
	json.Unmarshal([]byte(lines[len(lines)-1]), &miss)
	if r.code != exitPartial || !miss.Missing || miss.Messages == 0 || miss.Messages > msgs || len(miss.Blobs) == 0 {
		t.Errorf("locate --json with missing bytes: exit %d\n%s", r.code, r.stdout)
	}
}

// TestLsAt: with two backups and a delivery between them, ls --at shows
// the tree of each.
func TestLsAt(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 40)
	repoDir := filepath.Join(t.TempDir(), "repo")
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	first := archiveFiles(t, repoDir)
	between := time.Now().UTC().Format(time.RFC3339Nano)
	const user = "alice@example.org"
	inbox := "/mail1/user/" + user + "/INBOX"
	before := lsTree(t, repoDir, inbox)
	msg := []byte("From: carol@example.net\r\nTo: alice@example.org\r\nSubject: between the backups\r\n\r\nhello\r\n")
	if err := st.Deliver(user, [][]byte{msg}); err != nil {
		t.Fatal(err)
	}
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)

	after := lsTree(t, repoDir, inbox)
	if got := lsTree(t, repoDir, inbox, "--at", between); got != before {
		t.Errorf("ls --at between the backups differs from the first: %s", firstDiff(got, before))
	}
	if strings.Count(after, "\n") != strings.Count(before, "\n")+1 {
		t.Errorf("INBOX after the delivery:\n%s\nbefore:\n%s", after, before)
	}
	latest := mustMV(t, "ls", "--repo", repoDir, "/mail1/user").stdout
	if got := mustMV(t, "ls", "--repo", repoDir, "--at", "2200-01-01", "/mail1/user").stdout; got != latest {
		t.Errorf("ls --at in the future differs from the latest: %s", firstDiff(got, latest))
	}
	var users [2]string
	for i, at := range []string{between, ""} {
		args := []string{"ls", "--repo", repoDir, "/mail1/user"}
		if at != "" {
			args = append(args, "--at", at)
		}
		users[i] = mustMV(t, args...).stdout
	}
	if users[0] == users[1] {
		t.Errorf("ls of the users shows the same at both times:\n%s", users[0])
	}
	for _, path := range []string{"/", "/mail1", "/mail1/user", "/mail1/user/" + user} {
		r := mv(t, "ls", "--repo", repoDir, "--at", "2001-01-01", path)
		if r.code != exitFailed || !strings.Contains(r.stderr, "at or before 2001-01-01T23:59:59") {
			t.Errorf("ls --at before any backup %s: exit %d %q", path, r.code, r.stderr)
		}
	}
	if r := mv(t, "ls", "--repo", repoDir, "--at", "last tuesday"); r.code != exitUsage {
		t.Errorf("ls --at of a word: exit %d", r.code)
	}
	// locate --at names the archive of the first backup.
	if r := mustMV(t, "locate", "--repo", repoDir, "--at", between, "/mail1/user/"+user); r.stdout != filepath.Base(first[0])+"\n" {
		t.Errorf("locate --at between: %q, want %s", r.stdout, filepath.Base(first[0]))
	}
}

// TestImportOfAnIncrementalBackup: the archive of an incremental run,
// imported without the archive of the run before it, is kept and named in
// a warning; once the earlier one is imported, the repository shows the
// latest state and locate names both.
func TestImportOfAnIncrementalBackup(t *testing.T) {
	quickExit(t)
	st := buildStore(t, 40)
	repo1 := filepath.Join(t.TempDir(), "repo")
	mustMV(t, "backup", "--repo", repo1, "--server", "mail1", st.Template)
	const user = "alice@example.org"
	if err := st.Deliver(user, [][]byte{[]byte("Subject: after the first backup\r\n\r\nhello\r\n")}); err != nil {
		t.Fatal(err)
	}
	mustMV(t, "backup", "--repo", repo1, "--server", "mail1", st.Template)
	files := archiveFiles(t, repo1)
	if len(files) != 2 {
		t.Fatalf("archives: %v", files)
	}

	repo2 := filepath.Join(t.TempDir(), "repo2")
	r := mv(t, "import", "--repo", repo2, files[1])
	if r.code != 0 || !strings.Contains(r.stderr, "warning") {
		t.Fatalf("import of the incremental archive alone: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("incremental alone:\n%s%s", r.stdout, r.stderr)
	checkClean(t, repo2, 1)
	// Whichever way the two names sort, both are indexed now.
	if r := mustMV(t, "import", "--repo", repo2, files[0]); r.stderr != "" {
		t.Errorf("import of the earlier archive: %s", r.stderr)
	}
	checkClean(t, repo2, 2)
	inbox := "/mail1/user/" + user + "/INBOX"
	if got, want := lsTree(t, repo2, inbox), lsTree(t, repo1, inbox); got != want {
		t.Errorf("ls %s after both imports: %s", inbox, firstDiff(got, want))
	}
	var names []string
	for _, p := range archiveFiles(t, repo2) {
		names = append(names, filepath.Base(p))
	}
	sort.Strings(names) // locate lists by name; archiveFiles by creation
	if got := mustMV(t, "locate", "--repo", repo2, "/mail1/user/"+user).stdout; got != strings.Join(names, "\n")+"\n" {
		t.Errorf("locate in the new repository: %q, want both archives %q", got, names)
	}
}

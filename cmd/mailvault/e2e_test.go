package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mailvault/mailvault/internal/teststore"
	"github.com/mailvault/mailvault/maildir"
)

// The users of the end-to-end store and the groups they must land in.
var e2eUsers = map[string]string{
	"alice@example.org": "staff",
	"bob@example.org":   "staff",
	"carol@example.net": "net",
	"dave@example.net":  "net",
	"erin@example.org":  "user", // matches no line
}

const e2eGroups = `# staff first; the order matters: first match wins
staff = (alice|bob)@example\.org

net=.*@example\.net
`

func buildStore(t *testing.T, messages int) *teststore.Store {
	t.Helper()
	teststore.Require(t)
	var users []string
	for u := range e2eUsers {
		users = append(users, u)
	}
	sort.Strings(users)
	st, err := teststore.Build(teststore.Options{Root: filepath.Join(teststore.TempRoot(t), "vmail"), Users: users, Messages: messages, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// storeFile is one message file of the store, where the mount must show it.
type storeFile struct {
	path, mountPath string
	st              syscall.Stat_t
}

// storeFiles lists every message file of the store with its place in the
// mount: MNT/mail1/<group>/<user>/<folder>/<cur|new>/<name>.
func storeFiles(t *testing.T, st *teststore.Store, mnt string) []storeFile {
	t.Helper()
	loc, err := maildir.ParseLocation(st.Template)
	if err != nil {
		t.Fatal(err)
	}
	users, errs := loc.Users()
	if len(errs) > 0 || len(users) != len(e2eUsers) {
		t.Fatalf("store users %v, errors %v", users, errs)
	}
	var out []storeFile
	for _, u := range users {
		entries, err := os.ReadDir(u.Root)
		if err != nil {
			t.Fatal(err)
		}
		folderDirs := []string{""} // INBOX is the root
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), ".") {
				folderDirs = append(folderDirs, e.Name())
			}
		}
		for _, dir := range folderDirs {
			folder := "INBOX"
			if dir != "" {
				if folder, err = maildir.DecodeFolderDir(dir); err != nil {
					t.Fatal(err)
				}
			}
			for _, sub := range []string{"cur", "new"} {
				d := filepath.Join(u.Root, dir, sub)
				files, _ := os.ReadDir(d)
				for _, f := range files {
					sf := storeFile{path: filepath.Join(d, f.Name()),
						mountPath: filepath.Join(mnt, "mail1", e2eUsers[u.ID], u.ID, folder, sub, f.Name())}
					if err := syscall.Lstat(sf.path, &sf.st); err != nil {
						t.Fatal(err)
					}
					out = append(out, sf)
				}
			}
		}
	}
	return out
}

// TestBackupMountRoundTrip backs up a real Dovecot store with a groups file,
// mounts it, and checks every message in the mount against the store.
func TestBackupMountRoundTrip(t *testing.T) {
	requireFUSE(t)
	st := buildStore(t, 400)
	tmp := t.TempDir()
	repoDir, mnt := filepath.Join(tmp, "repo"), filepath.Join(tmp, "mnt")
	groupsFile := filepath.Join(tmp, "groups.conf")
	os.WriteFile(groupsFile, []byte(e2eGroups), 0o644)

	r := mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", "--groups", groupsFile, st.Template)
	if !strings.Contains(r.stdout, "Backed up 5 users") {
		t.Errorf("summary: %s", r.stdout)
	}
	files := storeFiles(t, st, mnt)
	if len(files) < 400 {
		t.Fatalf("store has only %d message files", len(files))
	}

	m := startMount(t, repoDir, mnt)
	before := checkMount(t, files, mnt)
	checkMailClient(t, st, mnt)
	checkControlFiles(t, st, mnt)
	m.stop(t)

	// The index is a cache: without it the mount shows the same tree.
	if err := os.RemoveAll(filepath.Join(repoDir, "index")); err != nil {
		t.Fatal(err)
	}
	m = startMount(t, repoDir, mnt)
	after := checkMount(t, files, mnt)
	m.stop(t)
	if len(before) != len(after) {
		t.Errorf("tree after index rebuild differs: %d entries before, %d after", len(before), len(after))
	}
	for i := range min(len(before), len(after)) {
		if before[i] != after[i] {
			t.Errorf("after index rebuild:\n%s\nbefore:\n%s", after[i], before[i])
		}
	}
}

// checkMount compares every store message with the mount and checks that
// the mount holds nothing else. It returns the mount's tree as lines.
func checkMount(t *testing.T, files []storeFile, mnt string) []string {
	t.Helper()
	want := map[string]bool{}
	inodes := map[uint64]uint64{} // store inode -> mount inode
	for _, f := range files {
		want[f.mountPath] = true
		var ms syscall.Stat_t
		if err := syscall.Stat(f.mountPath, &ms); err != nil {
			t.Errorf("%s: %v", f.mountPath, err)
			continue
		}
		if ms.Size != f.st.Size {
			t.Errorf("%s: size %d, store %d", f.mountPath, ms.Size, f.st.Size)
		}
		if ms.Mtim != f.st.Mtim {
			t.Errorf("%s: mtime %v, store %v", f.mountPath, ms.Mtim, f.st.Mtim)
		}
		if ms.Nlink != f.st.Nlink {
			t.Errorf("%s: nlink %d, store %d", f.mountPath, ms.Nlink, f.st.Nlink)
		}
		if mi, ok := inodes[f.st.Ino]; ok && mi != ms.Ino {
			t.Errorf("%s: hard link of the store has inode %d in the mount, its other name %d", f.mountPath, ms.Ino, mi)
		}
		inodes[f.st.Ino] = ms.Ino
		got, err := os.ReadFile(f.mountPath)
		if err != nil {
			t.Errorf("read %s: %v", f.mountPath, err)
			continue
		}
		orig, _ := os.ReadFile(f.path)
		if !bytes.Equal(got, orig) {
			t.Errorf("%s: content differs from %s", f.mountPath, f.path)
		}
	}
	links := 0
	for _, f := range files {
		if f.st.Nlink > 1 {
			links++
		}
	}
	if links == 0 {
		t.Error("the store has no hard links; the test store should have some")
	}
	if len(inodes) == len(files) {
		t.Error("no two mounted names share an inode")
	}
	var tree []string
	err := filepath.Walk(mnt, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		if fi.Name() == ".snapshots" {
			return filepath.SkipDir // the same files again, per snapshot
		}
		st := fi.Sys().(*syscall.Stat_t)
		tree = append(tree, strings.Join([]string{p, fi.Mode().String(), itoa(fi.Size()), fi.ModTime().String(), itoa(int64(st.Ino))}, " "))
		sub := filepath.Base(filepath.Dir(p))
		if fi.Mode().IsRegular() && (sub == "cur" || sub == "new") && !want[p] {
			t.Errorf("%s is in the mount but not in the store", p)
		}
		if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s has write bits: %v", p, fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// checkMailClient has mblaze list and show a mounted folder.
func checkMailClient(t *testing.T, st *teststore.Store, mnt string) {
	t.Helper()
	if _, err := exec.LookPath("mlist"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("mblaze is needed: apt-get install -y mblaze")
		}
		t.Skip("mblaze not installed")
	}
	folder := filepath.Join(mnt, "mail1", "staff", "alice@example.org", "INBOX")
	out, err := exec.Command("mlist", folder).Output()
	if err != nil {
		t.Fatalf("mlist %s: %v", folder, err)
	}
	listed := strings.Fields(string(out))
	cur, _ := os.ReadDir(filepath.Join(folder, "cur"))
	nw, _ := os.ReadDir(filepath.Join(folder, "new"))
	if len(listed) == 0 || len(listed) != len(cur)+len(nw) {
		t.Fatalf("mlist listed %d messages, folder has %d", len(listed), len(cur)+len(nw))
	}
	show, err := exec.Command("mshow", "-q", "-h", "subject", listed[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("mshow %s: %v\n%s", listed[0], err, show)
	}
	raw, _ := os.ReadFile(listed[0])
	if !bytes.Contains(bytes.ToLower(raw), []byte("subject:")) || !strings.HasPrefix(strings.ToLower(string(show)), "subject:") {
		t.Errorf("mshow printed %q", show)
	}
}

// checkControlFiles: the mounted INBOX carries a dovecot-uidlist with the
// backed-up UIDVALIDITY, GUID and UIDs.
func checkControlFiles(t *testing.T, st *teststore.Store, mnt string) {
	t.Helper()
	loc, _ := maildir.ParseLocation(st.Template)
	root, err := loc.Path("alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	parse := func(path string) *maildir.UIDList {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		u, err := maildir.ParseUIDList(data)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return u
	}
	want := parse(filepath.Join(root, "dovecot-uidlist"))
	got := parse(filepath.Join(mnt, "mail1", "staff", "alice@example.org", "INBOX", "dovecot-uidlist"))
	if got.UIDValidity != want.UIDValidity || got.GUID != want.GUID || got.NextUID != want.NextUID || len(got.Records) != len(want.Records) {
		t.Fatalf("mounted uidlist V%d N%d G%s with %d records, store V%d N%d G%s with %d",
			got.UIDValidity, got.NextUID, got.GUID, len(got.Records), want.UIDValidity, want.NextUID, want.GUID, len(want.Records))
	}
	for _, r := range want.Records {
		if uid, ok := got.Lookup(maildir.ParseName(r.Base).Base); !ok || uid != r.UID {
			t.Errorf("mounted uidlist gives %s UID %d, store %d", r.Base, uid, r.UID)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestMountSurvivesCrashesAndRuns: a backup while a mount holds the index
// still succeeds, and a mount killed without unmounting leaves a stale
// mount point that the next mount clears.
func TestMountSurvivesCrashesAndRuns(t *testing.T) {
	requireFUSE(t)
	st := buildStore(t, 40)
	tmp := t.TempDir()
	repoDir, mnt := filepath.Join(tmp, "repo"), filepath.Join(tmp, "mnt")
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	m := startMount(t, repoDir, mnt)

	r := mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	if !strings.Contains(r.stdout, "held by another mailvault process") {
		t.Errorf("backup under a mount should say the index is held: %s", r.stdout)
	}
	// Read-only commands work while the mount holds the index, and see
	// the archive the second backup just wrote.
	snaps := mustMV(t, "snapshots", "--repo", repoDir, "--json")
	if n := strings.Count(snaps.stdout, "\n"); n != 2 || !strings.Contains(snaps.stderr, "held by another") {
		t.Errorf("snapshots while mounted: %d lines\n%s\n%s", n, snaps.stdout, snaps.stderr)
	}

	m.cmd.Process.Kill()
	<-m.done
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(mnt, &sfs); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("a killed mount should leave a stale mount point: statfs gives %v", err)
	}
	m = startMount(t, repoDir, mnt)
	if !strings.Contains(m.stderr.String(), "cleared a stale mount") {
		t.Errorf("second mount did not say it cleared the stale one: %s", m.stderr)
	}
	users, _ := os.ReadDir(filepath.Join(mnt, "mail1", "user"))
	if len(users) != len(e2eUsers) {
		t.Errorf("remounted tree has %d users", len(users))
	}

	// A process sitting in the mount keeps it busy: SIGTERM still
	// unmounts, lazily as a last resort.
	busy := exec.Command("sleep", "60")
	busy.Dir = filepath.Join(mnt, "mail1", "user")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { busy.Process.Kill(); busy.Wait() }()
	m.stop(t)
	if !strings.Contains(m.stderr.String(), "lazily") {
		t.Errorf("busy unmount should say it detached lazily: %s", m.stderr)
	}
}

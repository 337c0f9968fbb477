package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mailvault/mailvault/internal/figures"
	"github.com/mailvault/mailvault/internal/teststore"
)

// Local accounts of the access tests; no passwd entry is needed to run a
// command as them.
const (
	aliceUID = 61001 // owns alice@example.org's mail in the store
	otherUID = 61002 // owns no mail in the store
)

// runAs runs a command as uid (and gid = uid) and returns its output and
// whether it was refused with "Permission denied".
func runAs(t *testing.T, uid uint32, name string, args ...string) (out []byte, denied bool, err error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		err = fmt.Errorf("%s %s as uid %d: %v: %s", name, strings.Join(args, " "), uid, err, strings.TrimSpace(stderr.String()))
	}
	return out, strings.Contains(stderr.String(), "Permission denied"), err
}

// firstMessage returns the mount path of a user's first INBOX message in a
// view (the mount or one of its .snapshots/<time>/) and its store path.
func firstMessage(t *testing.T, st *teststore.Store, view, user string) (mounted, stored string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(st.Maildir(user), "[cn][ue][rw]", "*"))
	if len(files) == 0 {
		t.Fatalf("%s has no messages in INBOX", user)
	}
	stored = files[0]
	rel, _ := filepath.Rel(st.Maildir(user), stored)
	return filepath.Join(view, "mail1", e2eUsers[user], user, "INBOX", rel), stored
}

// checkModes walks a view and fails for any entry whose owner or mode is
// not what the mount promises; it returns how many entries it saw.
func checkModes(t *testing.T, root string, want func(rel string, dir bool) (uid uint32, perm fs.FileMode)) int {
	t.Helper()
	n := 0
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil
		}
		n++
		rel, _ := filepath.Rel(root, p)
		uid, perm := want(rel, fi.IsDir())
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != uid || fi.Mode().Perm() != perm {
			t.Errorf("%s: owner %d mode %v, want owner %d mode %v", p, st.Uid, fi.Mode().Perm(), uid, perm)
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMountAccess: without --allow-other no one but the mounting user
// (root) gets in; with it each local user reads their own mail's tree and
// no one else's, the owners coming from the store or from --owner-map, and
// the kernel enforcing the modes.
func TestMountAccess(t *testing.T) {
	requireFUSE(t)
	quickExit(t)
	st := buildStore(t, 150)
	const alice, bob = "alice@example.org", "bob@example.org"
	mailUID := storeOwner(t, st).Uid
	// alice's mail belongs to a local account of her own; the others' to
	// the store's mail user, as on a virtual-mail server.
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", aliceUID, aliceUID), st.Maildir(alice)).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	tmp := teststore.TempRoot(t)
	os.MkdirAll(tmp, 0o755) // the test's users walk to the mount
	repoDir, mnt := filepath.Join(tmp, "repo"), filepath.Join(tmp, "mnt")
	backupGroups(t, st, repoDir)
	aliceMsg, aliceStored := firstMessage(t, st, mnt, alice)
	bobMsg, _ := firstMessage(t, st, mnt, bob)
	aliceSnap, _ := firstMessage(t, st, filepath.Join(mnt, ".snapshots", "latest"), alice)
	bobSnap, _ := firstMessage(t, st, filepath.Join(mnt, ".snapshots", "latest"), bob)
	aliceBytes, err := os.ReadFile(aliceStored)
	if err != nil {
		t.Fatal(err)
	}

	// tries counts the attempts to read mail one may not read, and the
	// refused ones; own counts reads of one's own mail, and those served.
	var tries, refused, own, served int
	mustRefuse := func(uid uint32, name string, args ...string) {
		t.Helper()
		tries++
		if _, denied, err := runAs(t, uid, name, args...); err != nil && denied {
			refused++
		} else {
			t.Errorf("%s %v as uid %d: want Permission denied, got %v", name, args, uid, err)
		}
	}
	mustRead := func(uid uint32, path string) {
		t.Helper()
		own++
		if out, _, err := runAs(t, uid, "cat", path); err != nil {
			t.Error(err)
		} else if !bytes.Equal(out, aliceBytes) {
			t.Errorf("cat %s as uid %d: not the stored bytes", path, uid)
		} else {
			served++
		}
	}

	// Without --allow-other: root's alone, and the modes say so.
	m := startMount(t, repoDir, mnt)
	if got, err := os.ReadFile(aliceMsg); err != nil || !bytes.Equal(got, aliceBytes) {
		t.Errorf("root reads %s: %v", aliceMsg, err)
	}
	mustRefuse(aliceUID, "cat", aliceMsg)
	mustRefuse(aliceUID, "ls", filepath.Join(mnt, "mail1"))
	checkModes(t, mnt, func(rel string, dir bool) (uint32, fs.FileMode) {
		if dir {
			return 0, 0o500
		}
		return 0, 0o400
	})
	m.stop(t)

	// With --allow-other: each user's tree is its mail owner's.
	m = startMount(t, repoDir, mnt, "--allow-other")
	for _, p := range []string{aliceMsg, aliceSnap} {
		mustRead(aliceUID, p)
	}
	for _, p := range []string{bobMsg, bobSnap} {
		mustRefuse(aliceUID, "cat", p)
	}
	mustRefuse(aliceUID, "ls", filepath.Join(mnt, "mail1", "staff", bob))
	mustRefuse(otherUID, "cat", aliceMsg)
	mustRefuse(otherUID, "ls", filepath.Join(mnt, "mail1", "staff", alice, "INBOX"))
	if _, _, err := runAs(t, otherUID, "ls", filepath.Join(mnt, "mail1", "staff")); err != nil {
		t.Errorf("the group directory should be open to all: %v", err)
	}
	entries := checkModes(t, mnt, func(rel string, dir bool) (uint32, fs.FileMode) {
		parts := strings.Split(rel, string(filepath.Separator))
		if parts[0] == ".snapshots" {
			parts = parts[min(2, len(parts)-1):]
		}
		if len(parts) < 3 || rel == "." {
			return 0, 0o555 // the root, servers, groups, .snapshots and its times
		}
		uid := mailUID
		if parts[2] == alice {
			uid = aliceUID
		}
		if dir {
			return uid, 0o500
		}
		return uid, 0o400
	})
	m.stop(t)

	// With --owner-map the map names the owners: bob's mail is the other
	// account's, and alice, whom it does not name, is root's alone.
	ownerMap := filepath.Join(tmp, "owners")
	os.WriteFile(ownerMap, []byte(fmt.Sprintf("# backed-up user  local owner\n%s %d:%d\n", bob, otherUID, otherUID)), 0o644)
	m = startMount(t, repoDir, mnt, "--allow-other", "--owner-map", ownerMap)
	if out, _, err := runAs(t, otherUID, "cat", bobMsg); err != nil || len(out) == 0 {
		t.Errorf("bob's mail mapped to uid %d: %v", otherUID, err)
	}
	mustRefuse(aliceUID, "cat", aliceMsg)
	mustRefuse(otherUID, "cat", aliceMsg)
	mustRefuse(aliceUID, "cat", bobMsg)
	m.stop(t)

	if r := mv(t, "mount", "--repo", repoDir, "--owner-map", ownerMap, mnt); r.code != exitUsage || !strings.Contains(r.stderr, "--owner-map needs --allow-other") {
		t.Errorf("--owner-map without --allow-other: exit %d %s", r.code, r.stderr)
	}
	os.WriteFile(ownerMap, []byte("alice@example.org 61001\n"), 0o644)
	if r := mv(t, "mount", "--repo", repoDir, "--allow-other", "--owner-map", ownerMap, mnt); r.code != exitUsage || !strings.Contains(r.stderr, ownerMap+":1:") {
		t.Errorf("a bad owner map: exit %d %s", r.code, r.stderr)
	}

	figures.Record(t, figures.Row{Suite: "security", What: "reads of another user's mail through the mount", Tried: tries, Held: refused, Lost: tries - refused,
		Note: fmt.Sprintf("as uids %d and %d; without and with --allow-other, store owners and --owner-map; %d entries' owners and modes checked", aliceUID, otherUID, entries)})
	figures.Record(t, figures.Row{Suite: "security", What: "reads of one's own mail through the mount (--allow-other)", Tried: own, Held: served, Lost: 0,
		Note: "latest view and .snapshots/latest"})
}

// TestRepositoryIsPrivate: after a backup, a mount that ingests another
// backup, a reader's private index and a restore, no file or directory of
// the repository grants anything to group or others.
func TestRepositoryIsPrivate(t *testing.T) {
	requireFUSE(t)
	quickExit(t)
	st := buildStore(t, 40)
	repoDir := filepath.Join(t.TempDir(), "repo")
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	mnt := filepath.Join(t.TempDir(), "mnt")
	m := startMount(t, repoDir, mnt)
	if err := st.Deliver("bob@example.org", [][]byte{[]byte("Subject: later\n\nlater\n")}); err != nil {
		t.Fatal(err)
	}
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	waitFor(t, "the second snapshot in the mount", func() bool { return len(names(filepath.Join(mnt, ".snapshots"))) == 3 })
	mustMV(t, "ls", "--repo", repoDir, "/mail1") // a private index under tmp/
	m.stop(t)
	mustMV(t, "restore", "--repo", repoDir, "/mail1/user/bob@example.org", "--to", locationUnder(newStoreRoot(t, st, "restored")))

	tried, open := 0, 0
	kinds := map[string]int{}
	filepath.Walk(repoDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		tried++
		rel, _ := filepath.Rel(repoDir, p)
		kinds[strings.Split(rel, string(filepath.Separator))[0]]++
		if fi.Mode().Perm()&0o077 != 0 {
			open++
			t.Errorf("%s has mode %v: the repository holds every user's mail", p, fi.Mode().Perm())
		}
		return nil
	})
	for _, sub := range []string{"archives", "index", "logs", "locks", "tmp"} {
		if kinds[sub] == 0 {
			t.Errorf("the walk saw nothing of %s/", sub)
		}
	}
	figures.Record(t, figures.Row{Suite: "security", What: "repository files and directories with group or other bits", Tried: tried, Held: tried - open, Lost: open,
		Note: fmt.Sprintf("after backup, a mount ingesting a backup, ls with a private index, restore: %v", kinds)})
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mailvault/mailvault/internal/teststore"
)

// dovecotView is what Dovecot reports of a user's mail at a location:
// every mailbox's UIDVALIDITY, next UID, GUID and message count, and every
// message's UID, flags (keywords included), received date and size. Two
// stores with equal views look the same to every IMAP client.
func dovecotView(t *testing.T, st *teststore.Store, user, location string) string {
	t.Helper()
	list, err := st.DoveadmAt(user, location, "mailbox", "list")
	if err != nil {
		t.Fatal(err)
	}
	boxes := strings.Fields(strings.TrimSpace(list))
	sort.Strings(boxes)
	var b strings.Builder
	for _, box := range boxes {
		status, err := st.DoveadmAt(user, location, "mailbox", "status", "messages uidvalidity uidnext guid", box)
		if err != nil {
			// A parent without cur/ (\NoSelect) has no status.
			t.Logf("no status of %s: %v", box, err)
			continue
		}
		fetch, err := st.DoveadmAt(user, location, "fetch", "uid flags date.received size.physical", "mailbox", box, "all")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(status)
		for _, line := range strings.Split(fetch, "\n") {
			if rest, ok := strings.CutPrefix(line, "flags:"); ok {
				// \Recent belongs to a session (the first to see a
				// message), not to the mailbox.
				var kept []string
				for _, f := range strings.Fields(rest) {
					if f != `\Recent` {
						kept = append(kept, f)
					}
				}
				line = "flags: " + strings.Join(kept, " ")
			}
			b.WriteString(line + "\n")
		}
	}
	if b.Len() == 0 {
		t.Fatalf("Dovecot sees no mailboxes of %s at %q", user, location)
	}
	return b.String()
}

// firstDiff shows where two views part.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d: got %q, want %q", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("got %d lines, want %d", len(g), len(w))
}

func locationUnder(root string) string { return "maildir:" + root + "/%d/%n/Maildir" }

// newStoreRoot makes an empty store root owned like the store, as an admin
// would prepare one for a disaster recovery.
func newStoreRoot(t *testing.T, st *teststore.Store, name string) string {
	t.Helper()
	root := filepath.Join(filepath.Dir(st.Root), name)
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	own := storeOwner(t, st)
	os.Chown(root, int(own.Uid), int(own.Gid))
	return root
}

// storeOwner is who owns the users' Maildirs (the Dovecot mail user).
func storeOwner(t *testing.T, st *teststore.Store) syscall.Stat_t {
	t.Helper()
	var own syscall.Stat_t
	if err := syscall.Stat(st.Maildir(st.Users[0]), &own); err != nil {
		t.Fatal(err)
	}
	return own
}

// checkOwned fails for any file under root not owned by the store's owner.
func checkOwned(t *testing.T, st *teststore.Store, root string) {
	t.Helper()
	own := storeOwner(t, st)
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if s := fi.Sys().(*syscall.Stat_t); s.Uid != own.Uid || s.Gid != own.Gid {
			t.Errorf("%s is owned by %d:%d, the store by %d:%d", p, s.Uid, s.Gid, own.Uid, own.Gid)
		}
		return nil
	})
}

// TestRestoreDisasterRecovery restores a whole server into an empty root:
// Dovecot must see exactly what it saw in the original store.
func TestRestoreDisasterRecovery(t *testing.T) {
	st := buildStore(t, 300)
	views := map[string]string{}
	for _, u := range st.Users {
		views[u] = dovecotView(t, st, u, "")
	}
	repoDir := filepath.Join(t.TempDir(), "repo")
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)

	root := newStoreRoot(t, st, "recovered")
	r := mustMV(t, "restore", "--repo", repoDir, "/mail1", "--to", locationUnder(root))
	if !strings.Contains(r.stdout, "recreated") {
		t.Errorf("summary: %s", r.stdout)
	}
	for _, u := range st.Users {
		if got := dovecotView(t, st, u, locationUnder(root)); got != views[u] {
			t.Errorf("%s: Dovecot's view after restore differs: %s", u, firstDiff(got, views[u]))
		}
	}
	checkOwned(t, st, root)
	// Same file names, sizes and mtimes as the original.
	orig, restored := messageTree(t, st.Root), messageTree(t, root)
	if len(orig) != len(restored) {
		t.Fatalf("%d message files restored, %d in the store", len(restored), len(orig))
	}
	for i := range orig {
		if orig[i] != restored[i] {
			t.Errorf("restored %s, original %s", restored[i], orig[i])
		}
	}
}

// messageTree lists the message files under a store root as
// "relative path size mtime".
func messageTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		sub := filepath.Base(filepath.Dir(p))
		if sub != "cur" && sub != "new" {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel+" "+strconv.FormatInt(fi.Size(), 10)+" "+strconv.FormatInt(fi.ModTime().UnixNano(), 10))
		return nil
	})
	sort.Strings(out)
	return out
}

// uids returns the UIDs Dovecot reports for a mailbox.
func uids(t *testing.T, st *teststore.Store, user, box string) []int {
	t.Helper()
	out, err := st.Doveadm(user, "fetch", "uid", "mailbox", box, "all")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, f := range strings.Fields(out) {
		if n, err := strconv.Atoi(f); err == nil {
			got = append(got, n)
		}
	}
	return got
}

// TestRestoreIntoExistingFolder: messages expunged since the backup come
// back with new UIDs after the existing ones, nothing is duplicated, and a
// second restore changes nothing.
func TestRestoreIntoExistingFolder(t *testing.T) {
	st := buildStore(t, 200)
	const user = "alice@example.org"
	before := uids(t, st, user, "INBOX")
	if len(before) < 5 {
		t.Fatalf("alice's INBOX has %d messages", len(before))
	}
	repoDir := filepath.Join(t.TempDir(), "repo")
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	status := func() string {
		s, err := st.Doveadm(user, "mailbox", "status", "uidvalidity", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	validity := status()
	if _, err := st.Doveadm(user, "expunge", "mailbox", "INBOX", "uid", "1:3"); err != nil {
		t.Fatal(err)
	}
	maxUID := before[len(before)-1]

	scope := "/mail1/user/" + user + "/INBOX"
	r := mustMV(t, "restore", "--repo", repoDir, "--json", scope, "--to", st.Template)
	if !strings.Contains(r.stdout, `"added":3`) || !strings.Contains(r.stdout, `"skipped":`+strconv.Itoa(len(before)-3)) {
		t.Errorf("first restore: %s", r.stdout)
	}
	after := uids(t, st, user, "INBOX")
	if len(after) != len(before) {
		t.Fatalf("INBOX has %d messages after restore, %d before the expunge", len(after), len(before))
	}
	for _, u := range after[len(after)-3:] {
		if u <= maxUID {
			t.Errorf("restored message got UID %d, not above the old maximum %d", u, maxUID)
		}
	}
	if status() != validity {
		t.Errorf("UIDVALIDITY changed: %s -> %s", validity, status())
	}
	r = mustMV(t, "restore", "--repo", repoDir, "--json", scope, "--to", st.Template)
	if !strings.Contains(r.stdout, `"added":0`) {
		t.Errorf("second restore added messages: %s", r.stdout)
	}
	if again := uids(t, st, user, "INBOX"); len(again) != len(after) {
		t.Errorf("second restore changed the mailbox: %d -> %d messages", len(after), len(again))
	}
	checkOwned(t, st, st.Maildir(user))
}

// TestRestoreElsewhereAndFromArchives restores into a new folder, and
// straight from an archive file and from a pipe without the repository.
func TestRestoreElsewhereAndFromArchives(t *testing.T) {
	st := buildStore(t, 200)
	repoDir := filepath.Join(t.TempDir(), "repo")
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	const user = "alice@example.org"
	n := len(uids(t, st, user, "INBOX"))

	mustMV(t, "restore", "--repo", repoDir, "/mail1/user/"+user+"/INBOX", "--to", st.Template, "--to-folder", "Restored/2026-11-20")
	if got := len(uids(t, st, user, "Restored/2026-11-20")); got != n {
		t.Errorf("Restored/2026-11-20 has %d messages, INBOX %d", got, n)
	}

	sent := len(uids(t, st, user, "Sent"))
	mustMV(t, "restore", "--repo", repoDir, "/mail1/user/"+user+"/Sent", "--to", st.Template, "--to-user", "dave@example.net", "--to-folder", "From alice")
	if got := len(uids(t, st, "dave@example.net", "From alice")); got != sent || sent == 0 {
		t.Errorf("dave's 'From alice' has %d messages, alice's Sent %d", got, sent)
	}

	archives, _ := filepath.Glob(filepath.Join(repoDir, "archives", "*.mva"))
	if len(archives) != 1 {
		t.Fatalf("archives: %v", archives)
	}
	for i, u := range []string{"bob@example.org", "carol@example.net"} {
		want := dovecotView(t, st, u, "")
		root := newStoreRoot(t, st, "from-file-"+strconv.Itoa(i))
		args := []string{"restore", "-f", archives[0], "/mail1/user/" + u, "--to", locationUnder(root)}
		var r result
		if i == 0 {
			r = mv(t, args...)
		} else {
			args[2] = "-" // the same archive as a pipe
			cmd := exec.Command(binary, args...)
			f, _ := os.Open(archives[0])
			cmd.Stdin = f
			out, err := cmd.CombinedOutput()
			f.Close()
			r.stdout = string(out)
			if err != nil {
				r.code = 1
			}
		}
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if got := dovecotView(t, st, u, locationUnder(root)); got != want {
			t.Errorf("%s restored from %s: Dovecot's view differs: %s", u, args[2], firstDiff(got, want))
		}
	}
}

// TestDovecotReadsTheMount: Dovecot serves a mounted user read-only with
// the original UIDs, and a copy of the mounted tree is a working home.
func TestDovecotReadsTheMount(t *testing.T) {
	requireFUSE(t)
	st := buildStore(t, 200)
	const user = "alice@example.org"
	want := dovecotView(t, st, user, "")
	tmp := teststore.TempRoot(t)
	os.MkdirAll(tmp, 0o755) // Dovecot's mail user walks into the mount
	repoDir, mnt := filepath.Join(tmp, "repo"), filepath.Join(tmp, "mnt")
	mustMV(t, "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	m := startMount(t, repoDir, mnt, "--allow-other")
	home := filepath.Join(mnt, "mail1", "user", user)
	fsLayout := func(dir string) string {
		return "maildir:" + dir + ":LAYOUT=fs:UTF-8:INBOX=" + dir + "/INBOX:INDEX=MEMORY"
	}
	if got := dovecotView(t, st, user, fsLayout(home)); got != want {
		t.Errorf("Dovecot's view of the mount differs: %s", firstDiff(got, want))
	}

	copyDir := filepath.Join(tmp, "copy")
	if out, err := exec.Command("cp", "-a", home, copyDir).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
	m.stop(t)
	own := storeOwner(t, st)
	if out, err := exec.Command("chown", "-R", strconv.Itoa(int(own.Uid))+":"+strconv.Itoa(int(own.Gid)), copyDir).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	exec.Command("chmod", "-R", "u+w", copyDir).Run()
	if got := dovecotView(t, st, user, fsLayout(copyDir)); got != want {
		t.Errorf("Dovecot's view of a cp -a copy of the mount differs: %s", firstDiff(got, want))
	}
}

package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/internal/figures"
	"github.com/mailvault/mailvault/internal/teststore"
	"github.com/mailvault/mailvault/maildir"
	"github.com/mailvault/mailvault/repo"
)

// TestBackupWhileTheStoreChanges runs backups, full and incremental, while a
// writer delivers, changes flags (renames in cur/, moves from new/ to cur/,
// doveadm flags), moves and expunges messages and creates and deletes
// folders, as a busy Dovecot does. Every run must finish FULL (exit 0: a
// message renamed meanwhile is found under its new name, one expunged is
// left out and counted, neither is a problem), and its snapshot must be
// self-consistent: every message readable with the bytes its blob hash
// names, no message twice in a folder, UIDs unique per folder, no folder
// that never was, and every message that stayed untouched for the whole
// run present with its name and bytes.
func TestBackupWhileTheStoreChanges(t *testing.T) {
	quickExit(t)
	st := buildStore(t, figures.Size(300, 2000))
	repoDir := filepath.Join(t.TempDir(), "repo")
	gf := filepath.Join(t.TempDir(), "groups.conf")
	if err := os.WriteFile(gf, []byte(e2eGroups), 0o644); err != nil {
		t.Fatal(err)
	}
	// A big, busy INBOX: a full run takes a while to read it, and the
	// writer's changes land between its listing and its reads.
	var bulk [][]byte
	for i := range figures.Size(1000, 5000) {
		bulk = append(bulk, fmt.Appendf(nil, "Subject: bulk %d\n\n%s", i, strings.Repeat("some text\n", 50+i%500)))
	}
	if err := st.Deliver(st.Users[0], bulk); err != nil {
		t.Fatal(err)
	}
	w := startLiveWriter(t, st)
	runs := figures.Size(3, 20)
	held, lost, vanished, foldersVanished := 0, 0, 0, 0
	for i := range runs {
		args := []string{"backup", "--repo", repoDir, "--server", "mail1", "--groups", gf, "--json"}
		switch i % 3 {
		case 0:
			args = append(args, "--full")
		case 2:
			args = append(args, "--jobs", "2")
		}
		before := listStore(t, st)
		r := mv(t, append(args, st.Template)...)
		after := listStore(t, st)
		ok := r.code == 0 && !strings.Contains(r.stderr, "not backed up")
		if !ok {
			t.Errorf("backup %d (%s) while the store changes: exit %d\n%s", i, strings.Join(args[6:], " "), r.code, r.stderr)
		}
		var sum struct {
			Start           time.Time
			Messages        int
			Vanished        int
			FoldersVanished int `json:"folders_vanished"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil && ok {
			t.Fatalf("backup %d: summary: %v\n%s", i, err, r.stdout)
		}
		if ok {
			bad, missing := checkLiveSnapshot(t, repoDir, sum.Start.UnixNano(), before, after, w.everCreated())
			lost += missing
			vanished += sum.Vanished
			foldersVanished += sum.FoldersVanished
			if bad == 0 && missing == 0 {
				held++
			}
			t.Logf("backup %d (%s): %d messages, %d expunged while read; %d untouched", i, strings.Join(args[6:], " "), sum.Messages, sum.Vanished, len(untouched(before, after)))
		}
	}
	ops := w.stop()
	var opNames []string
	total := 0
	for k, n := range ops {
		opNames = append(opNames, fmt.Sprintf("%d %s", n, k))
		total += n
	}
	sort.Strings(opNames)
	if total < 10*runs {
		t.Errorf("the writer did only %d operations over %d backups: the test did not test much", total, runs)
	}
	figures.Record(t, figures.Row{Suite: "live", What: "backups while a writer delivers, renames, expunges and creates folders",
		Tried: runs, Held: held, Lost: lost,
		Note: fmt.Sprintf("%d writer operations: %s; %d messages and %d folders vanished mid-run", total, strings.Join(opNames, ", "), vanished, foldersVanished)})
}

// storeMessage is a message file of the store as listStore saw it.
type storeMessage struct {
	ino    uint64
	size   int64
	mtime  int64
	sha256 [32]byte
}

// storeListing is a listing of the store: user → folder → "cur/name".
type storeListing map[string]map[string]map[string]storeMessage

// listStore lists and hashes every message file of the store, leaving out
// what vanishes meanwhile.
func listStore(t *testing.T, st *teststore.Store) storeListing {
	t.Helper()
	out := storeListing{}
	for _, u := range st.Users {
		out[u] = map[string]map[string]storeMessage{}
		root := st.Maildir(u)
		dirs := []string{""}
		ents, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), ".") && !strings.Contains(e.Name(), "DOVECOT-TRASHED") {
				dirs = append(dirs, e.Name())
			}
		}
		for _, d := range dirs {
			name, err := maildir.DecodeFolderDir(d)
			if err != nil {
				t.Fatal(err)
			}
			msgs := map[string]storeMessage{}
			for _, sub := range []string{"cur", "new"} {
				for _, n := range names(filepath.Join(root, d, sub)) {
					p := filepath.Join(root, d, sub, n)
					data, err := os.ReadFile(p)
					var fst syscall.Stat_t
					if err != nil || syscall.Stat(p, &fst) != nil {
						continue // renamed or expunged meanwhile
					}
					msgs[sub+"/"+n] = storeMessage{ino: fst.Ino, size: fst.Size, mtime: fst.Mtim.Nano(), sha256: sha256.Sum256(data)}
				}
			}
			out[u][name] = msgs
		}
	}
	return out
}

// untouched returns the message files listed before and after a run under
// the same name and inode: the writer only ever adds flags, so a name
// never comes back, and such a file was there, unchanged, all along.
func untouched(before, after storeListing) map[string]storeMessage {
	out := map[string]storeMessage{}
	for u, folders := range before {
		for f, msgs := range folders {
			for p, m := range msgs {
				if a, ok := after[u][f][p]; ok && a.ino == m.ino {
					out[u+"\x00"+f+"\x00"+p] = m
				}
			}
		}
	}
	return out
}

// stayedInFolder returns, by user, folder and base name, the messages
// whose base name is in the same folder before and after a run: base names
// are never used again (a move to another folder and back gives a new
// one), so such a message was in that folder all along, maybe renamed.
func stayedInFolder(before, after storeListing) map[string]storeMessage {
	out := map[string]storeMessage{}
	for u, folders := range before {
		for f, msgs := range folders {
			later := map[string]bool{}
			for p := range after[u][f] {
				later[maildir.BaseName(filepath.Base(p))] = true
			}
			for p, m := range msgs {
				if b := maildir.BaseName(filepath.Base(p)); later[b] {
					out[u+"\x00"+f+"\x00"+b] = m
				}
			}
		}
	}
	return out
}

// checkLiveSnapshot checks the snapshot taken at snap against the store
// listings made before and after the run. It returns the number of
// inconsistencies and of messages missing from the snapshot: in their
// folder all through the run, under their name when untouched.
func checkLiveSnapshot(t *testing.T, repoDir string, snap int64, before, after storeListing, created map[string]bool) (bad, missing int) {
	t.Helper()
	r, _, err := repo.Open(repoDir, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fail := func(format string, args ...any) {
		t.Helper()
		bad++
		if bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	got := map[string]bool{} // user, folder, "cur/name" or base of messages whose bytes are as in the store
	want, stayed := untouched(before, after), stayedInFolder(before, after)
	groups, err := r.Groups("mail1")
	if err != nil {
		t.Fatal(err)
	}
	users := 0
	for _, g := range groups {
		us, err := r.Users("mail1", g, snap)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if u.Time != snap {
				fail("user %s: latest snapshot at %d is %d, not this run's", u.Name, snap, u.Time)
				continue
			}
			users++
			folders, err := r.Folders(u.Server, u.Group, u.Name, u.Time)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range folders {
				where := u.Name + "/" + f.Name
				_, inBefore := before[u.Name][f.Name]
				_, inAfter := after[u.Name][f.Name]
				if !inBefore && !inAfter && !created[u.Name+"/"+f.Name] {
					fail("%s: a folder that never was in the store", where)
				}
				msgs, err := r.Messages(f.Listing)
				if err != nil {
					t.Fatal(err)
				}
				bases, uids := map[string]bool{}, map[uint32]bool{}
				for _, m := range msgs {
					base := maildir.BaseName(m.Name)
					if bases[base] {
						fail("%s: message %s listed twice", where, base)
					}
					bases[base] = true
					if m.UID != 0 {
						if uids[m.UID] {
							fail("%s: UID %d given twice", where, m.UID)
						}
						if f.NextUID != 0 && m.UID >= f.NextUID {
							fail("%s: UID %d of %s not below the next UID %d", where, m.UID, m.Name, f.NextUID)
						}
						uids[m.UID] = true
					}
					data, err := r.ReadBlob(m.Blob)
					if err != nil {
						fail("%s/%s/%s: cannot read: %v", where, m.Subdir, m.Name, err)
						continue
					}
					if h, _ := archive.Split(data); h != m.Blob || int64(len(data)) != m.Size {
						fail("%s/%s/%s: %d bytes hashing to %x, listed as %d bytes %x", where, m.Subdir, m.Name, len(data), h[:8], m.Size, m.Blob[:8])
						continue
					}
					k := u.Name + "\x00" + f.Name + "\x00" + m.Subdir + "/" + m.Name
					sum := sha256.Sum256(data)
					if s, ok := want[k]; ok && s.sha256 == sum && s.mtime == m.Mtime {
						got[k] = true
					}
					kb := u.Name + "\x00" + f.Name + "\x00" + base
					if s, ok := stayed[kb]; ok && s.sha256 == sum && s.mtime == m.Mtime {
						got[kb] = true
					}
				}
			}
		}
	}
	if users != len(before) {
		fail("the snapshot has %d users, the store %d", users, len(before))
	}
	for k := range stayed {
		if !got[k] {
			missing++
			if missing <= 20 {
				t.Errorf("in its folder all through the run (renamed maybe) but not in the snapshot (or not with its bytes and mtime): %s", strings.ReplaceAll(k, "\x00", "/"))
			}
		}
	}
	for k := range want {
		if !got[k] && got[k[:strings.LastIndexByte(k, 0)+1]+maildir.BaseName(filepath.Base(k))] {
			missing++
			if missing <= 20 {
				t.Errorf("untouched during the run but in the snapshot under another name: %s", strings.ReplaceAll(k, "\x00", "/"))
			}
		}
	}
	return bad, missing
}

// liveWriter changes a store the way mail traffic and IMAP clients do,
// until stopped: one goroutine works on the files directly, as the LDA and
// Dovecot's renames do, quickly; another runs doveadm (flags, expunges,
// moves, folders), as IMAP sessions do. Flags are only ever added.
type liveWriter struct {
	t    *testing.T
	st   *teststore.Store
	quit chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	ops     map[string]int
	created map[string]bool // user/folder of every folder the writer made
	live    []string        // user/folder of the writer's folders that exist
	n       int
}

func startLiveWriter(t *testing.T, st *teststore.Store) *liveWriter {
	w := &liveWriter{t: t, st: st, quit: make(chan struct{}), ops: map[string]int{}, created: map[string]bool{}}
	w.wg.Add(2)
	go w.run(w.fileStep, rand.New(rand.NewPCG(7, 1)), 200*time.Microsecond)
	go w.run(w.doveadmStep, rand.New(rand.NewPCG(7, 2)), time.Millisecond)
	t.Cleanup(func() { w.stop() })
	return w
}

// stop stops the writer and returns how many operations of each kind it did.
func (w *liveWriter) stop() map[string]int {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.ops)
}

func (w *liveWriter) everCreated() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.created)
}

func (w *liveWriter) run(step func(*rand.Rand) (string, error), rng *rand.Rand, pause time.Duration) {
	defer w.wg.Done()
	for {
		select {
		case <-w.quit:
			return
		default:
		}
		op, err := step(rng)
		if err != nil {
			w.t.Errorf("writer: %s: %v", op, err)
			return
		}
		if op != "" {
			w.mu.Lock()
			w.ops[op]++
			w.mu.Unlock()
		}
		time.Sleep(pause)
	}
}

// next returns a number for a new message or folder.
func (w *liveWriter) next() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	return w.n
}

// where picks a user and one of the store's folders.
func (w *liveWriter) where(rng *rand.Rand) (user string, folder teststore.Folder, dir string) {
	user = w.st.Users[rng.IntN(len(w.st.Users))]
	folder = teststore.Folders[rng.IntN(len(teststore.Folders))]
	if rng.IntN(2) == 0 { // a busy INBOX, as most traffic goes there
		user, folder = w.st.Users[0], teststore.Folders[0]
	}
	return user, folder, filepath.Join(w.st.Maildir(user), folder.Dir)
}

// fileStep does one change to the files; "" if it found nothing to do it on.
func (w *liveWriter) fileStep(rng *rand.Rand) (string, error) {
	u, _, dir := w.where(rng)
	switch p := rng.IntN(100); {
	case p < 20:
		n := w.next()
		msg := fmt.Appendf(nil, "From: live@example.com\nSubject: live %d\nMessage-ID: <live%d@example.com>\n\n%s", n, n, strings.Repeat("line of text\n", 1+rng.IntN(400)))
		return "deliveries", w.st.Deliver(u, [][]byte{msg})
	case p < 60:
		// A flag change as Dovecot does it: a rename in cur/, flags sorted.
		name := pick(rng, filepath.Join(dir, "cur"))
		if name == "" {
			return "", nil
		}
		base, flags, _ := strings.Cut(name, ":2,")
		flag := "DFRST"[rng.IntN(5)]
		if strings.IndexByte(flags, flag) >= 0 {
			return "", nil
		}
		fl := []byte(flags + string(flag))
		slices.Sort(fl)
		return "flag renames", rename(filepath.Join(dir, "cur", name), filepath.Join(dir, "cur", base+":2,"+string(fl)))
	case p < 80:
		name := pick(rng, filepath.Join(dir, "new"))
		if name == "" {
			return "", nil
		}
		return "moves new/ to cur/", rename(filepath.Join(dir, "new", name), filepath.Join(dir, "cur", name+":2,"))
	default:
		sub := []string{"cur", "new"}[rng.IntN(2)]
		name := pick(rng, filepath.Join(dir, sub))
		if name == "" {
			return "", nil
		}
		err := os.Remove(filepath.Join(dir, sub, name))
		if os.IsNotExist(err) {
			return "", nil
		}
		return "expunges", err
	}
}

// doveadmStep does one change through doveadm.
func (w *liveWriter) doveadmStep(rng *rand.Rand) (string, error) {
	u, folder, _ := w.where(rng)
	seq := fmt.Sprint(1 + rng.IntN(30))
	switch p := rng.IntN(100); {
	case p < 30:
		_, err := w.st.Doveadm(u, "flags", "add", []string{`\Seen`, `\Flagged`, `\Answered`, "$Label1"}[rng.IntN(4)], "mailbox", folder.Name, seq)
		return "doveadm flags", err
	case p < 40:
		_, err := w.st.Doveadm(u, "expunge", "mailbox", folder.Name, seq)
		return "doveadm expunges", err
	case p < 55:
		to := teststore.Folders[rng.IntN(len(teststore.Folders))]
		if to.Name == folder.Name {
			return "", nil
		}
		_, err := w.st.Doveadm(u, "move", to.Name, "mailbox", folder.Name, seq)
		return "doveadm moves", err
	case p < 65:
		n := w.next()
		return "doveadm saves", w.st.Save(u, folder.Name, fmt.Appendf(nil, "Subject: saved %d\n\nbody %d\n", n, n))
	case p < 85:
		name := fmt.Sprintf("Live/f%d", w.next())
		w.mu.Lock()
		w.created[u+"/"+name] = true
		w.live = append(w.live, u+"/"+name)
		w.mu.Unlock()
		if _, err := w.st.Doveadm(u, "mailbox", "create", name); err != nil {
			return "folder creations", err
		}
		for i := range 1 + rng.IntN(5) {
			if err := w.st.Save(u, name, fmt.Appendf(nil, "Subject: in %s %d\n\nbody %d\n", name, i, i)); err != nil {
				return "folder creations", err
			}
		}
		return "folder creations", nil
	default:
		w.mu.Lock()
		if len(w.live) == 0 {
			w.mu.Unlock()
			return "", nil
		}
		i := rng.IntN(len(w.live))
		uf := w.live[i]
		w.live = slices.Delete(w.live, i, i+1)
		w.mu.Unlock()
		user, name, _ := strings.Cut(uf, "/")
		_, err := w.st.Doveadm(user, "mailbox", "delete", name)
		return "folder deletions", err
	}
}

// pick returns a random file name in dir, "" if there is none.
func pick(rng *rand.Rand, dir string) string {
	ns := names(dir)
	if len(ns) == 0 {
		return ""
	}
	return ns[rng.IntN(len(ns))]
}

func rename(from, to string) error {
	err := os.Rename(from, to)
	if os.IsNotExist(err) {
		return nil // doveadm moved or expunged it since the pick
	}
	return err
}

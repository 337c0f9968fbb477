package teststore

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// writeConfig writes dovecot.conf, the users file and the run and state
// directories into dir. The configuration serves doveadm without a daemon;
// the passdb and userdb make it usable by a real dovecot too.
func (s *Store) writeConfig(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, "run"), filepath.Join(dir, "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("teststore: %w", err)
		}
	}
	var users bytes.Buffer
	for _, u := range s.Users {
		fmt.Fprintf(&users, "%s:{PLAIN}secret:%d:%d::%s::\n", u, s.owner.uid, s.owner.gid, s.Home(u))
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), users.Bytes(), 0o644); err != nil {
		return fmt.Errorf("teststore: %w", err)
	}
	conf := fmt.Sprintf(`# written by mailvault's teststore; used by doveadm without a running daemon:
# run it with USER=<user> HOME=<home> in the environment and without -u
# (-u makes doveadm ask the auth daemon's userdb socket, which is not there).
protocols =
listen =
ssl = no
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = /dev/stderr
info_log_path = /dev/null
mail_uid = %[2]s
mail_gid = %[6]s
first_valid_uid = %[4]d
first_valid_gid = %[3]d
mail_location = %[5]s
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/users
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/users
}
namespace inbox {
  inbox = yes
  separator = /
}
`, dir, s.owner.name, s.owner.gid, s.owner.uid, s.Template, s.owner.group)
	if err := os.WriteFile(s.Conf, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("teststore: %w", err)
	}
	return nil
}

// index lets Dovecot take in every user's mail, users in parallel: resync,
// subscriptions, keywords.
func (s *Store) index(seed int64) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.Users))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, u := range s.Users {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)+1))
			errs[i] = s.indexUser(u, rng)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) indexUser(u string, rng *rand.Rand) error {
	if _, err := s.Doveadm(u, "force-resync", "*"); err != nil {
		return err
	}
	names := make([]string, len(Folders))
	for i, f := range Folders {
		names[i] = f.Name
	}
	if _, err := s.Doveadm(u, append([]string{"mailbox", "subscribe"}, names...)...); err != nil {
		return err
	}
	for _, kw := range []struct {
		keyword, folder string
		share           float64
	}{
		{"$Forwarded", "", 0.03},
		{"Junk", "", 0.02},
		{"Junk", ".Trash", 0.05},
	} {
		if err := s.setKeyword(u, kw.folder, kw.keyword, kw.share, rng); err != nil {
			return err
		}
	}
	return nil
}

// setKeyword has Dovecot set keyword on a share (at least one) of the
// messages in cur/ of a folder, then checks that Dovecot renamed their files
// to carry the keyword's letter.
func (s *Store) setKeyword(user, folderDir, keyword string, share float64, rng *rand.Rand) error {
	dir := filepath.Join(s.Maildir(user), folderDir)
	uids, err := readUIDList(filepath.Join(dir, "dovecot-uidlist"))
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(filepath.Join(dir, "cur"))
	if err != nil {
		return fmt.Errorf("teststore: %w", err)
	}
	inCur := map[string]bool{}
	for _, e := range ents {
		inCur[baseName(e.Name())] = true
	}
	var cand []int
	for _, r := range uids {
		if inCur[r.base] {
			cand = append(cand, r.uid)
		}
	}
	if len(cand) == 0 {
		return nil
	}
	n := max(1, int(float64(len(cand))*share))
	var chosen []int
	for _, i := range rng.Perm(len(cand))[:n] {
		chosen = append(chosen, cand[i])
	}
	slices.Sort(chosen)
	set := make([]string, len(chosen))
	for i, uid := range chosen {
		set[i] = strconv.Itoa(uid)
	}
	name := "INBOX"
	for _, f := range Folders {
		if f.Dir == folderDir {
			name = f.Name
		}
	}
	if _, err := s.Doveadm(user, "flags", "add", keyword, "mailbox", name, "uid", strings.Join(set, ",")); err != nil {
		return err
	}

	// Dovecot must have renamed the files: letter = index in dovecot-keywords.
	letter, err := keywordLetter(filepath.Join(dir, "dovecot-keywords"), keyword)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, r := range uids {
		if slices.Contains(chosen, r.uid) {
			want[r.base] = true
		}
	}
	ents, err = os.ReadDir(filepath.Join(dir, "cur"))
	if err != nil {
		return fmt.Errorf("teststore: %w", err)
	}
	got := 0
	for _, e := range ents {
		_, fl, _ := strings.Cut(e.Name(), ":2,")
		if want[baseName(e.Name())] && strings.ContainsRune(fl, letter) {
			got++
		}
	}
	if got != len(chosen) {
		return fmt.Errorf("teststore: %s %s: doveadm flags add %s renamed %d of %d files", user, name, keyword, got, len(chosen))
	}
	return nil
}

// baseName strips the ",S=…" and ":2,…" parts from a maildir file name.
func baseName(name string) string {
	if i := strings.IndexAny(name, ",:"); i >= 0 {
		return name[:i]
	}
	return name
}

type uidRecord struct {
	uid  int
	base string
}

// readUIDList reads the records of a dovecot-uidlist (version 3).
func readUIDList(path string) ([]uidRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("teststore: dovecot did not index: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var recs []uidRecord
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			if !strings.HasPrefix(line, "3 ") {
				return nil, fmt.Errorf("teststore: %s: not a version 3 uidlist: %q", path, line)
			}
			first = false
			continue
		}
		head, name, ok := strings.Cut(line, " :")
		if !ok {
			if head, name, ok = strings.Cut(line, ":"); !ok {
				continue
			}
		}
		uidText, _, _ := strings.Cut(head, " ")
		uid, err := strconv.Atoi(uidText)
		if err != nil {
			return nil, fmt.Errorf("teststore: %s: bad line %q", path, line)
		}
		recs = append(recs, uidRecord{uid, baseName(name)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("teststore: %w", err)
	}
	return recs, nil
}

// keywordLetter returns the file-name letter of keyword in a dovecot-keywords
// file ("0 $Forwarded" is 'a').
func keywordLetter(path, keyword string) (rune, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("teststore: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		idx, kw, ok := strings.Cut(line, " ")
		if !ok || kw != keyword {
			continue
		}
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= 26 {
			return 0, fmt.Errorf("teststore: %s: bad line %q", path, line)
		}
		return rune('a' + i), nil
	}
	return 0, fmt.Errorf("teststore: %s has no keyword %s", path, keyword)
}

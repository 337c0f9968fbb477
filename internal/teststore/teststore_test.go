package teststore

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildSmall builds the default small store of the tests once per call.
func buildSmall(t *testing.T, seed int64) *Store {
	t.Helper()
	Require(t)
	s, err := Build(Options{Root: TempRoot(t), NumUsers: 4, Messages: 300, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type folderStatus struct{ messages, uidvalidity int }

// status asks Dovecot for every folder of user.
func status(t *testing.T, s *Store, user string) map[string]folderStatus {
	t.Helper()
	out, err := s.Doveadm(user, "mailbox", "status", "messages uidvalidity", "*")
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]folderStatus{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		// "Archive/2002 messages=24 uidvalidity=1796221044"
		i := strings.LastIndex(line, " messages=")
		if i < 0 {
			t.Fatalf("unexpected status line %q", line)
		}
		var fs folderStatus
		for _, kv := range strings.Fields(line[i:]) {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.Atoi(v)
			switch k {
			case "messages":
				fs.messages = n
			case "uidvalidity":
				fs.uidvalidity = n
			}
		}
		st[line[:i]] = fs
	}
	return st
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestBuild(t *testing.T) {
	start := time.Now()
	s := buildSmall(t, 1)
	t.Logf("built %d files for %d users in %v", s.Files, len(s.Users), time.Since(start))
	if s.Files != 300 {
		t.Errorf("Files = %d, want 300", s.Files)
	}
	if s.Template != "maildir:"+s.Root+"/%d/%n/Maildir" {
		t.Errorf("Template = %q", s.Template)
	}
	conf, err := os.ReadFile(s.Conf)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && !bytes.Contains(conf, []byte("mail_uid = mail\nmail_gid = mail\n")) {
		t.Errorf("dovecot.conf does not run as mail:\n%s", conf)
	}

	domains := map[string]bool{}
	total := 0
	flagsSeen := map[string]bool{}
	inodes := map[uint64][]string{}
	for _, u := range s.Users {
		_, d, _ := strings.Cut(u, "@")
		domains[d] = true
		st := status(t, s, u)
		md := s.Maildir(u)
		for _, f := range Folders {
			fs, ok := st[f.Name]
			if !ok {
				t.Errorf("%s: dovecot does not see folder %q (has %v)", u, f.Name, st)
				continue
			}
			if fs.uidvalidity == 0 {
				t.Errorf("%s %s: no uidvalidity", u, f.Name)
			}
			cur := listDir(t, filepath.Join(md, f.Dir, "cur"))
			nw := listDir(t, filepath.Join(md, f.Dir, "new"))
			if fs.messages != len(cur)+len(nw) {
				t.Errorf("%s %s: dovecot sees %d messages, %d files on disk", u, f.Name, fs.messages, len(cur)+len(nw))
			}
			total += len(cur) + len(nw)
			if len(cur)+len(nw) > 0 {
				if _, err := os.Stat(filepath.Join(md, f.Dir, "dovecot-uidlist")); err != nil {
					t.Errorf("%s %s: %v", u, f.Name, err)
				}
			}
			for _, n := range nw {
				if strings.Contains(n, ":2,") {
					t.Errorf("%s: file in new/ with info: %s", u, n)
				}
			}
			for _, n := range cur {
				base, fl, ok := strings.Cut(n, ":2,")
				if !ok || !strings.Contains(base, ",S=") || !strings.Contains(base, ",W=") {
					t.Errorf("%s: bad name %s", u, n)
				}
				flagsSeen[f.Dir+":"+strings.Map(func(r rune) rune {
					if r >= 'a' && r <= 'z' {
						return -1
					}
					return r
				}, fl)] = true
				p := filepath.Join(md, f.Dir, "cur", n)
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				sys := fi.Sys().(*syscall.Stat_t)
				inodes[sys.Ino] = append(inodes[sys.Ino], p)
				if os.Geteuid() == 0 && fi.Sys().(*syscall.Stat_t).Uid == 0 {
					t.Errorf("%s owned by root", p)
				}
				sz, _ := strconv.ParseInt(base[strings.Index(base, ",S=")+3:strings.Index(base, ",W=")], 10, 64)
				if sz != fi.Size() {
					t.Errorf("%s: S= says %d, size is %d", n, sz, fi.Size())
				}
				if sys.Nlink == 1 {
					secs, _ := strconv.ParseInt(n[:strings.IndexByte(n, '.')], 10, 64)
					if fi.ModTime().Unix() != secs {
						t.Errorf("%s: mtime %v is not the delivery time", n, fi.ModTime())
					}
				}
			}
		}
		if _, ok := st["Entwürfe"]; !ok {
			t.Errorf("%s: no Entwürfe", u)
		}
		if _, err := os.Stat(filepath.Join(md, ".Entw&APw-rfe", "cur")); err != nil {
			t.Error(err)
		}
		if len(listDir(t, filepath.Join(md, "new"))) == 0 {
			t.Errorf("%s: nothing in INBOX/new", u)
		}
		kw, err := os.ReadFile(filepath.Join(md, "dovecot-keywords"))
		if err != nil {
			t.Errorf("%s: %v", u, err)
		} else if !bytes.Contains(kw, []byte("$Forwarded")) || !bytes.Contains(kw, []byte("Junk")) {
			t.Errorf("%s: dovecot-keywords is %q", u, kw)
		}
		// The keyword letters are in the names, and Dovecot reports them.
		out, err := s.Doveadm(u, "search", "mailbox", "INBOX", "keyword", "$Forwarded")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) == "" {
			t.Errorf("%s: no INBOX message has $Forwarded", u)
		}
		subs, err := s.Doveadm(u, "mailbox", "list", "-s")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range Folders {
			if !slices.Contains(strings.Split(strings.TrimSpace(subs), "\n"), f.Name) {
				t.Errorf("%s: %s not subscribed (%q)", u, f.Name, subs)
			}
		}
	}
	if total != s.Files {
		t.Errorf("files on disk %d, Store.Files %d", total, s.Files)
	}
	if len(domains) != 2 {
		t.Errorf("domains %v", domains)
	}
	for _, fl := range []string{":S", ":RS", ":FS", ":", ".Trash:ST", ".Entw&APw-rfe:DS"} {
		if !flagsSeen[fl] {
			t.Errorf("no message with flags %q (seen %v)", fl, flagsSeen)
		}
	}

	// Hard links into Archive/2002, same inode, different name.
	links := 0
	for _, ps := range inodes {
		if len(ps) < 2 {
			continue
		}
		links++
		if !strings.Contains(ps[1], "/.Archive.2002/cur/") && !strings.Contains(ps[0], "/.Archive.2002/cur/") {
			t.Errorf("hard link outside Archive/2002: %v", ps)
		}
	}
	if links < len(s.Users) {
		t.Errorf("%d hard links, want at least one per user", links)
	}

	// Multi-recipient deliveries: copies differ only in Return-Path and
	// Delivered-To.
	groups := map[[32]byte][]string{}
	for _, ps := range inodes {
		data, err := os.ReadFile(ps[0])
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.SplitN(data, []byte("\n"), 3)
		if !bytes.HasPrefix(lines[0], []byte("Return-Path: ")) || !bytes.HasPrefix(lines[1], []byte("Delivered-To: ")) {
			continue // the user's own message
		}
		h := sha256.Sum256(lines[2])
		groups[h] = append(groups[h], string(lines[1]))
	}
	multi := 0
	for _, g := range groups {
		if len(g) > 1 {
			multi += len(g)
			slices.Sort(g)
			if len(slices.Compact(g)) != len(g) {
				t.Errorf("copies with the same Delivered-To: %v", g)
			}
		}
	}
	if share := float64(multi) / float64(len(inodes)); share < 0.15 || share > 0.45 {
		t.Errorf("%.0f%% of the files are multi-recipient copies, want ~30%%", 100*share)
	}
}

func TestDeterministic(t *testing.T) {
	tree := func(s *Store) map[string][32]byte {
		m := map[string][32]byte{}
		filepath.WalkDir(s.Root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			if dir := filepath.Base(filepath.Dir(p)); d.IsDir() || dir != "cur" && dir != "new" {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(s.Root, p)
			m[rel] = sha256.Sum256(data)
			return nil
		})
		return m
	}
	a, b := tree(buildSmall(t, 7)), tree(buildSmall(t, 7))
	if len(a) != len(b) {
		t.Fatalf("same seed, %d and %d files", len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("same seed, %s differs or is missing", k)
		}
	}
	c := tree(buildSmall(t, 8))
	same := 0
	for k := range c {
		if _, ok := a[k]; ok {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 7 and 8 share %d file names", same)
	}
}

func TestDeliver(t *testing.T) {
	s := buildSmall(t, 2)
	u := s.Users[0]
	before := status(t, s, u)["INBOX"].messages
	msgs := [][]byte{
		[]byte("From: a@example.com\nSubject: one\n\nbody\n"),
		[]byte("From: a@example.com\r\nSubject: two\r\n\r\nbody\r\n"),
		[]byte("From: a@example.com\nSubject: three\n\nbody\n"),
	}
	files := s.Files
	if err := s.Deliver(u, msgs); err != nil {
		t.Fatal(err)
	}
	if s.Files != files+3 {
		t.Errorf("Files = %d after delivering 3 to %d", s.Files, files)
	}
	if n := len(listDir(t, filepath.Join(s.Maildir(u), "tmp"))); n != 0 {
		t.Errorf("%d files left in tmp/", n)
	}
	var found int
	for _, n := range listDir(t, filepath.Join(s.Maildir(u), "new")) {
		data, err := os.ReadFile(filepath.Join(s.Maildir(u), "new", n))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if bytes.Equal(data, m) {
				found++
				want := ",S=" + strconv.Itoa(len(m)) + ",W=" + strconv.Itoa(vsize(m))
				if !strings.HasSuffix(n, want) || strings.Contains(n, ":2,") {
					t.Errorf("delivered as %s, want suffix %s", n, want)
				}
			}
		}
	}
	if found != 3 {
		t.Errorf("found %d delivered messages in new/", found)
	}
	if _, err := s.Doveadm(u, "force-resync", "INBOX"); err != nil {
		t.Fatal(err)
	}
	if after := status(t, s, u)["INBOX"].messages; after != before+3 {
		t.Errorf("dovecot sees %d messages after delivery, want %d", after, before+3)
	}
}

func TestDoveadmError(t *testing.T) {
	s := buildSmall(t, 3)
	_, err := s.Doveadm(s.Users[0], "mailbox", "status", "messages", "NoSuchFolder")
	if err == nil || !strings.Contains(err.Error(), "NoSuchFolder") {
		t.Errorf("doveadm error without its stderr: %v", err)
	}
}

func TestBuildRefusesUnreachableRoot(t *testing.T) {
	Require(t)
	if os.Geteuid() != 0 {
		t.Skip("the store belongs to the current user")
	}
	_, err := Build(Options{Root: filepath.Join(t.TempDir(), "store"), NumUsers: 1, Messages: 1})
	if err == nil || !strings.Contains(err.Error(), "not searchable") {
		t.Errorf("Build under a 0700 root directory: %v", err)
	}
}

func TestBuildRefusesNonEmptyRoot(t *testing.T) {
	Require(t)
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "x"), nil, 0o644)
	if _, err := Build(Options{Root: root, NumUsers: 1, Messages: 1}); err == nil {
		t.Error("Build into a non-empty root succeeded")
	}
}

func TestMakeUsers(t *testing.T) {
	for _, n := range []int{1, 2, 3, 50, 500} {
		us := makeUsers(rand.New(rand.NewPCG(uint64(n), 0)), n)
		if len(us) != n {
			t.Fatalf("%d users, want %d", len(us), n)
		}
		doms := map[string]bool{}
		for _, u := range us {
			_, d, _ := strings.Cut(u, "@")
			doms[d] = true
		}
		if n >= 2 && len(doms) != 2 {
			t.Errorf("n=%d: domains %v", n, doms)
		}
		sorted := slices.Clone(us)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != n {
			t.Errorf("n=%d: repeated users", n)
		}
	}
}

func TestHeaderFields(t *testing.T) {
	h := []byte("Return-Path: <a@b>\nSubject: x\n\tfolded\nContent-Length: 3\nX-A: 1\n")
	if got := string(removeFields(h, "return-path", "Content-Length")); got != "Subject: x\n\tfolded\nX-A: 1\n" {
		t.Errorf("removeFields: %q", got)
	}
	if got := string(setField(h, "Subject", "y")); got != "Return-Path: <a@b>\nSubject: y\nContent-Length: 3\nX-A: 1\n" {
		t.Errorf("setField: %q", got)
	}
	if got := string(setField([]byte("A: 1\n"), "Date", "d")); got != "A: 1\nDate: d\n" {
		t.Errorf("setField append: %q", got)
	}
	hdr, body := splitMessage([]byte("A: 1\n\nbody\n\nmore"))
	if string(hdr) != "A: 1\n" || string(body) != "body\n\nmore" {
		t.Errorf("splitMessage: %q %q", hdr, body)
	}
}

func TestMutateBody(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("some binary payload "), 3))
	body := []byte("--BOUNDARY\nContent-Type: text/plain\n\nthis is some plain text with several words here\n" +
		"see http://example.com/path/words or someone@example.com\n" +
		"--BOUNDARY\nContent-Transfer-Encoding: base64\n\n" + b64 + "\n--BOUNDARY--\n")
	rng := func() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
	m1, m2 := mutateBody(rng(), body), mutateBody(rng(), body)
	if !bytes.Equal(m1, m2) {
		t.Error("mutateBody is not deterministic")
	}
	if bytes.Equal(m1, body) {
		t.Error("mutateBody changed nothing")
	}
	lines := strings.Split(string(m1), "\n")
	if lines[0] != "--BOUNDARY" || lines[1] != "Content-Type: text/plain" || lines[4] != "see http://example.com/path/words or someone@example.com" {
		t.Errorf("structure changed:\n%s", m1)
	}
	if lines[8] == b64 {
		t.Error("base64 line not changed")
	}
	if _, err := base64.StdEncoding.DecodeString(lines[8]); err != nil {
		t.Errorf("base64 line no longer decodes: %v", err)
	}
}

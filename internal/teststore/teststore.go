package teststore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options says what store to build.
type Options struct {
	Root     string   // store root, created if missing, must be empty; layout Root/<domain>/<local>/Maildir
	Users    []string // "local@domain"; if empty, NumUsers users are generated in example.org and example.net
	NumUsers int
	Messages int // total message files over all users, hard links included
	Seed     int64
	ConfDir  string // dovecot.conf, the users file and run/state dirs; default Root+".dovecot"
}

// Store is a built store.
type Store struct {
	Root     string
	Template string // mail_location: "maildir:"+Root+"/%d/%n/Maildir"
	Conf     string // path of dovecot.conf
	Users    []string
	Files    int // message files (directory entries in cur/ and new/, hard links counted)

	owner owner

	mu     sync.Mutex // guards last
	last   time.Time  // last delivery time used by Deliver, for unique names
	hostMu sync.Once
	host   string
}

// Folder is a mail folder of every user of a store.
type Folder struct {
	Dir  string // directory under Maildir/: "" for INBOX, ".Archive.2002" …
	Name string // IMAP name, with "/" as separator: "INBOX", "Archive/2002" …
}

// Folders lists the folders every user has.
var Folders = []Folder{
	{"", "INBOX"},
	{".Sent", "Sent"},
	{".Trash", "Trash"},
	{".Archive.2002", "Archive/2002"},
	{".Lists.fork", "Lists/fork"},
	{".Entw&APw-rfe", "Entwürfe"},
}

// Available reports whether doveadm is installed.
func Available() error {
	if _, err := exec.LookPath("doveadm"); err != nil {
		return errors.New("teststore: doveadm not found\nhint: apt-get install dovecot-core dovecot-imapd")
	}
	return nil
}

// Require skips the test when doveadm is missing, or fails it when the
// environment variable CI is set, so that CI cannot pass by skipping.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// TempRoot returns a path for a store root in a fresh t.TempDir, removed
// when the test ends. The temporary directories are made searchable (0711)
// so that Dovecot, running as the mail user, can reach the store.
func TempRoot(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "store")
}

// checkReachable returns an error when a directory on the way to dir (which
// need not exist yet) is not searchable by o, so Dovecot could not reach it.
func checkReachable(dir string, o owner) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			st := fi.Sys().(*syscall.Stat_t)
			m := fi.Mode().Perm()
			ok := m&0o001 != 0 ||
				int(st.Uid) == o.uid && m&0o100 != 0 ||
				int(st.Gid) == o.gid && m&0o010 != 0
			if !ok {
				return fmt.Errorf("teststore: %s (mode %04o, owner %d:%d) is not searchable by %s, so dovecot cannot reach the store\nhint: chmod o+x %s, or use TempRoot in tests", d, m, st.Uid, st.Gid, o.name, d)
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// owner is who owns the store's files and whom Dovecot runs as.
type owner struct {
	name, group string
	uid, gid    int
}

func storeOwner() (owner, error) {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("mail")
		if err != nil {
			return owner{}, fmt.Errorf("teststore: no mail user: %w", err)
		}
		return ownerOf(u), nil
	}
	u, err := user.Current()
	if err != nil {
		return owner{}, fmt.Errorf("teststore: %w", err)
	}
	return ownerOf(u), nil
}

func ownerOf(u *user.User) owner {
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	group := u.Gid
	if g, err := user.LookupGroupId(u.Gid); err == nil {
		group = g.Name
	}
	return owner{name: u.Username, group: group, uid: uid, gid: gid}
}

// Home returns the home directory of user (Root/<domain>/<local>).
func (s *Store) Home(user string) string {
	local, domain, _ := strings.Cut(user, "@")
	return filepath.Join(s.Root, domain, local)
}

// Maildir returns the Maildir of user.
func (s *Store) Maildir(user string) string { return filepath.Join(s.Home(user), "Maildir") }

// Doveadm runs `doveadm -c Conf args...` as user, without a daemon (USER and
// HOME in the environment, no -u), and returns its standard output. The error
// carries doveadm's standard error.
func (s *Store) Doveadm(user string, args ...string) (string, error) {
	return s.DoveadmAt(user, "", args...)
}

// DoveadmAt runs doveadm like Doveadm but with another mail_location for
// the user (e.g. a restored copy of the store, or a mount of a backup), in
// which %d, %n and %u are expanded; "" keeps the store's own.
func (s *Store) DoveadmAt(user, location string, args ...string) (string, error) {
	if !strings.Contains(user, "@") {
		return "", fmt.Errorf("teststore: doveadm: user %q is not local@domain", user)
	}
	pre := []string{"-c", s.Conf}
	if location != "" {
		// doveadm does not expand %-variables in -o values: do it here.
		local, domain, _ := strings.Cut(user, "@")
		location = strings.NewReplacer("%d", domain, "%n", local, "%u", user).Replace(location)
		pre = append(pre, "-o", "mail_location="+location)
	}
	return s.doveadm(user, nil, append(pre, args...))
}

// Save stores msg in user's folder (IMAP name) with `doveadm save`, as an
// IMAP APPEND does: Dovecot writes the file and gives it its UID.
func (s *Store) Save(user, folder string, msg []byte) error {
	if !strings.Contains(user, "@") {
		return fmt.Errorf("teststore: doveadm save: user %q is not local@domain", user)
	}
	_, err := s.doveadm(user, msg, []string{"-c", s.Conf, "save", "-m", folder})
	return err
}

func (s *Store) doveadm(user string, stdin []byte, args []string) (string, error) {
	cmd := exec.Command("doveadm", args...)
	cmd.Env = []string{"USER=" + user, "HOME=" + s.Home(user), "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = "/"
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("teststore: doveadm %s (user %s): %v: %s",
			strings.Join(args, " "), user, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Deliver puts msgs into user's INBOX/new as a plain LDA does: each is written
// to tmp/ and renamed into new/ with a Dovecot-style unique name
// <time>.M<usec>P<pid>.<host>,S=<size>,W=<vsize> (no ":2," part), owned like
// the rest of the store, its mtime the delivery time (now). The bytes are
// written as given. Dovecot is not told: it assigns UIDs at its next sync
// (run s.Doveadm(user, "force-resync", "INBOX") to have that happen now).
func (s *Store) Deliver(user string, msgs [][]byte) error {
	md := s.Maildir(user)
	if _, err := os.Stat(filepath.Join(md, "new")); err != nil {
		return fmt.Errorf("teststore: deliver to %s: %w", user, err)
	}
	if s.owner.name == "" {
		o, err := storeOwner()
		if err != nil {
			return err
		}
		s.owner = o
	}
	s.hostMu.Do(func() { s.host = hostname() })
	for _, m := range msgs {
		t := s.nextTime()
		base := fmt.Sprintf("%d.M%dP%d.%s", t.Unix(), t.Nanosecond()/1000, os.Getpid(), s.host)
		name := fmt.Sprintf("%s,S=%d,W=%d", base, len(m), vsize(m))
		tmp := filepath.Join(md, "tmp", base)
		if err := writeFile(tmp, m, s.owner, t); err != nil {
			return fmt.Errorf("teststore: deliver to %s: %w", user, err)
		}
		if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
			return fmt.Errorf("teststore: deliver to %s: %w", user, err)
		}
		s.Files++
	}
	return nil
}

// nextTime returns now, or a microsecond after the last time it returned,
// as Dovecot does to keep names unique within a process.
func (s *Store) nextTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := time.Now().Truncate(time.Microsecond)
	if !t.After(s.last) {
		t = s.last.Add(time.Microsecond)
	}
	s.last = t
	return t
}

// hostname returns the host name as Dovecot puts it in file names: '/' and
// ':' escaped as \057 and \072.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return strings.NewReplacer("/", `\057`, ":", `\072`).Replace(h)
}

// writeFile writes a message file with mode 0600, owned by o, mtime t.
func writeFile(path string, data []byte, o owner, t time.Time) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Lchown(path, o.uid, o.gid)
	}
	if err == nil {
		err = os.Chtimes(path, t, t)
	}
	return err
}

// vsize is the size with CRLF line ends, as in Dovecot's W= field.
func vsize(data []byte) int {
	return len(data) + bytes.Count(data, []byte("\n")) - bytes.Count(data, []byte("\r\n"))
}

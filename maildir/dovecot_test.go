package maildir

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/internal/teststore"
)

// dovecotEnv is a Maildir for one user and a dovecot.conf that serves it to
// doveadm without a daemon.
type dovecotEnv struct {
	home, maildir, conf string
	o                   Owner
}

func newDovecotEnv(t *testing.T) *dovecotEnv {
	t.Helper()
	teststore.Require(t)
	o := selfOwner()
	mailUser := ""
	if os.Geteuid() == 0 { // Dovecot will not run as root: use mail
		u, err := user.Lookup("mail")
		if err != nil {
			t.Skip("no mail user:", err)
		}
		o.UID, _ = strconv.Atoi(u.Uid)
		o.GID, _ = strconv.Atoi(u.Gid)
		mailUser = fmt.Sprintf("mail_uid = %d\nmail_gid = %d\n", o.UID, o.GID)
	}
	top := t.TempDir()
	for _, d := range []string{filepath.Dir(top), top} { // reachable by the mail user
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	e := &dovecotEnv{home: filepath.Join(top, "home"), conf: filepath.Join(top, "dovecot.conf"), o: o}
	e.maildir = filepath.Join(e.home, "Maildir")
	run := filepath.Join(top, "run")
	os.Mkdir(run, 0o755)
	conf := fmt.Sprintf(`protocols =
listen =
ssl = no
base_dir = %[1]s
state_dir = %[1]s
log_path = /dev/stderr
info_log_path = /dev/null
%[2]sfirst_valid_uid = %[3]d
first_valid_gid = %[4]d
mail_location = maildir:%[5]s
namespace inbox {
  inbox = yes
  separator = /
}
`, run, mailUser, o.UID, o.GID, e.maildir)
	if err := os.WriteFile(e.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The home must be the mail user's too, as Dovecot expects.
	if _, _, err := CreateFolder(e.maildir, FolderDir{Name: Inbox}, o); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *dovecotEnv) doveadm(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("doveadm", append([]string{"-c", e.conf}, args...)...)
	cmd.Env = []string{"USER=alice", "HOME=" + e.home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("doveadm %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// fetch returns doveadm's "uid flags" of every message of mailbox, one
// "uid=… flags=…" line each, without \Recent.
func (e *dovecotEnv) fetch(t *testing.T, mailbox string) []string {
	t.Helper()
	out := e.doveadm(t, "-f", "flow", "fetch", "uid flags", "mailbox", mailbox, "all")
	out = strings.ReplaceAll(out, " \\Recent", "") // only says this session is the first
	return strings.Split(strings.TrimSpace(out), "\n")
}

func msg(subject string) []byte {
	return []byte("From: a@example.org\nSubject: " + subject + "\n\nbody of " + subject + "\n")
}

func msgName(base string, data []byte, flags string) string {
	return fmt.Sprintf("%s,S=%d:2,%s", base, len(data), flags)
}

// TestDovecotAcceptsAppend adds a message to a folder Dovecot has indexed,
// under the uidlist lock, and has Dovecot confirm UID and keywords.
func TestDovecotAcceptsAppend(t *testing.T) {
	e := newDovecotEnv(t)
	old := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC).UnixNano()
	for i, flags := range []string{"S", "FS"} {
		data := msg(fmt.Sprint("old", i))
		if err := DeliverFile(e.maildir, "cur", msgName(fmt.Sprintf("158800000%d.M1P1.host", i), data, flags), data, old, e.o); err != nil {
			t.Fatal(err)
		}
	}
	e.doveadm(t, "force-resync", "INBOX")
	before := e.fetch(t, "INBOX")
	if len(before) != 2 {
		t.Fatalf("Dovecot sees %q", before)
	}

	l, err := LockUIDList(e.maildir, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	u, err := l.UIDList()
	if err != nil {
		t.Fatal(err)
	}
	target, err := l.Keywords()
	if err != nil {
		t.Fatal(err)
	}
	backupKw := []string{"$Forwarded", "Junk"} // the message has Junk: letter b
	merged, mapping, err := MergeKeywords(target, backupKw)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WriteKeywords(merged, e.o); err != nil {
		t.Fatal(err)
	}
	data := msg("restored")
	name := RemapFlags(msgName("1599999999.M9P9.host", data, "RSb"), mapping)
	tg, err := OpenTarget(e.maildir, e.o)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	mtime := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	if err := tg.Deliver("cur", name, bytes.NewReader(data), mtime); err != nil {
		t.Fatal(err)
	}
	u.NextUID += 5 // a UID Dovecot would not pick by itself, to see it is ours
	uid, err := u.Append(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(u.Render(), e.o); err != nil {
		t.Fatal(err)
	}

	after := e.fetch(t, "INBOX")
	want := append(before, fmt.Sprintf("uid=%d flags=\\Answered \\Seen Junk", uid))
	if strings.Join(after, "\n") != strings.Join(want, "\n") {
		t.Errorf("Dovecot sees\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(want, "\n"))
	}
	date := strings.TrimSpace(e.doveadm(t, "-f", "flow", "fetch", "date.received", "mailbox", "INBOX", "uid", strconv.Itoa(int(uid))))
	if !strings.Contains(date, "2021-01-01") {
		t.Errorf("received date %q, want the mtime given", date)
	}
}

// TestDovecotAcceptsRecreated recreates a folder from backed-up control
// files and messages: Dovecot must report the original UIDVALIDITY and UIDs.
func TestDovecotAcceptsRecreated(t *testing.T) {
	e := newDovecotEnv(t)
	folder, created, err := CreateFolder(e.maildir, FolderDir{Name: "Archive/2002", Dir: ".Archive.2002"}, e.o)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	a, b := msg("a"), msg("b")
	na, nb := msgName("1000000001.M1P1.host", a, "S"), msgName("1000000002.M2P2.host", b, "Sa")
	uidlist := fmt.Sprintf("3 V1234567 N12 G0123456789abcdef0123456789abcdef\n7 :%s\n9 :%s\n",
		strings.Split(na, ":")[0], strings.Split(nb, ":")[0])
	// Backed-up mtimes: Dovecot takes a dovecot-keywords with mtime 0 as
	// read already and never reads it.
	mtime := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	if err := WriteControl(folder, "dovecot-uidlist", []byte(uidlist), mtime, e.o); err != nil {
		t.Fatal(err)
	}
	if err := WriteControl(folder, "dovecot-keywords", []byte("0 Work\n"), mtime, e.o); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{na: a, nb: b} {
		if err := DeliverFile(folder, "cur", name, data, mtime, e.o); err != nil {
			t.Fatal(err)
		}
	}
	got := e.fetch(t, "Archive/2002")
	want := []string{"uid=7 flags=\\Seen", "uid=9 flags=\\Seen Work"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Dovecot sees %q, want %q", got, want)
	}
	status := e.doveadm(t, "-f", "flow", "mailbox", "status", "uidvalidity uidnext guid", "Archive/2002")
	if !strings.Contains(status, "uidvalidity=1234567") || !strings.Contains(status, "uidnext=12") ||
		!strings.Contains(status, "guid=0123456789abcdef0123456789abcdef") {
		t.Errorf("status %q", status)
	}
}

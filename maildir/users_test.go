package maildir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// storeTree builds a small vmail tree under root.
func storeTree(t *testing.T, root string) {
	mkdirs(t, root,
		"vmail/example.org/alice/Maildir/cur",
		"vmail/example.org/bob/Maildir/new",
		"vmail/example.org/carol/Maildir/tmp", // no cur/ or new/: not a Maildir
		"vmail/example.org/dave",              // no Maildir at all
		"vmail/example.net/alice/Maildir/cur",
		"vmail/example.net/.hidden/Maildir/cur", // dot names are not users
		"vmail/lost+found",
		"home/erin/Maildir/cur",
		"home/frank/Maildir/new",
		"flat/alice@example.org/cur",
		"flat/bob@example.org/new",
		"flat/noat/cur",
		"twice/x/x/cur", "twice/x/y/cur",
	)
	writeFile(t, root, "vmail/example.org/notes.txt", "a file where a directory is expected")
	writeFile(t, root, "vmail/example.org/erin/Maildir", "a file where the root is expected")
	if err := os.Symlink("example.org", filepath.Join(root, "vmail/alias.org")); err != nil {
		t.Fatal(err)
	}
}

func TestUsers(t *testing.T) {
	root := t.TempDir()
	storeTree(t, root)
	for _, tc := range []struct {
		tmpl string
		want []string // id=relative root
	}{
		{"/vmail/%d/%n/Maildir", []string{
			"alice@example.net=vmail/example.net/alice/Maildir",
			"alice@example.org=vmail/example.org/alice/Maildir",
			"bob@example.org=vmail/example.org/bob/Maildir",
		}},
		{"/home/%u/Maildir", []string{"erin=home/erin/Maildir", "frank=home/frank/Maildir"}},
		{"/flat/%n@%d", []string{"alice@example.org=flat/alice@example.org", "bob@example.org=flat/bob@example.org"}},
		{"/flat/%u", []string{"alice@example.org=flat/alice@example.org", "bob@example.org=flat/bob@example.org", "noat=flat/noat"}},
		{"/twice/%n/%n", []string{"x=twice/x/x"}},
		{"/vmail/%d/%u/Maildir", nil}, // %u holds no domain, so it cannot sit next to %d like this
	} {
		l, err := ParseLocation("maildir:" + root + tc.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		users, problems := l.Users()
		if len(problems) > 0 {
			t.Errorf("%s: problems %v", tc.tmpl, problems)
		}
		var got []string
		for _, u := range users {
			rel, _ := filepath.Rel(root, u.Root)
			got = append(got, u.ID+"="+rel)
			if p, err := l.Path(u.ID); err != nil || p != u.Root {
				t.Errorf("%s: Path(%q) = %q, %v; want %q", tc.tmpl, u.ID, p, err, u.Root)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: users %q\nwant %q", tc.tmpl, got, tc.want)
		}
	}
}

func TestUsersProblems(t *testing.T) {
	root := t.TempDir()
	storeTree(t, root)
	l, _ := ParseLocation("maildir:" + root + "/missing/%u")
	if users, problems := l.Users(); len(users) != 0 || len(problems) != 1 {
		t.Errorf("missing base: users %v problems %v", users, problems)
	}

	mkdirs(t, root, "amb/abc/cur")
	l, _ = ParseLocation("maildir:" + root + "/amb/%n%d")
	if users, problems := l.Users(); len(users) != 0 || len(problems) != 1 || !strings.Contains(problems[0].Error(), "could name it") {
		t.Errorf("ambiguous: users %v problems %v", users, problems)
	}

	if os.Geteuid() == 0 {
		t.Skip("root reads unreadable directories")
	}
	locked := filepath.Join(root, "vmail/example.net")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	l, _ = ParseLocation("maildir:" + root + "/vmail/%d/%n/Maildir")
	users, problems := l.Users()
	if len(users) != 2 || len(problems) != 1 || !strings.Contains(problems[0].Error(), "example.net") {
		t.Errorf("unreadable domain: users %v problems %v", users, problems)
	}
}

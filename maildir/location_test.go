package maildir

import (
	"strings"
	"testing"
)

func TestParseLocation(t *testing.T) {
	for _, tc := range []struct{ in, str string }{
		{"maildir:/var/vmail/%d/%n/Maildir", ""},
		{"maildir:/var/vmail/%{domain}/%{username}", ""},
		{"maildir:/home/%u/Maildir:INDEX=/var/index/%u", ""},
		{"maildir:/srv/mail/%n@%d:LAYOUT=maildir++", ""},
		{"maildir:/srv/100%%/%u", ""},
		{"maildir:/srv/a::b/%u", ""},
		{"maildir://srv/./%u/", "maildir://srv/./%u/"}, // kept as written
	} {
		l, err := ParseLocation(tc.in)
		if err != nil {
			t.Errorf("ParseLocation(%q): %v", tc.in, err)
			continue
		}
		want := tc.str
		if want == "" {
			want = tc.in
		}
		if got := l.String(); got != want {
			t.Errorf("ParseLocation(%q).String() = %q, want %q", tc.in, got, want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"mbox:/var/mail/%u", "only \"maildir:\""},
		{"maildir:~/Maildir", "not absolute"},
		{"maildir:var/%u", "not absolute"},
		{"maildir:/var/vmail/%d/%n:CONTROL=/var/control/%u", "option \"CONTROL=/var/control/%u\" is not supported yet"},
		{"maildir:/var/vmail/%u:LAYOUT=fs", "option \"LAYOUT=fs\" is not supported yet"},
		{"maildir:/var/vmail/%u:UTF-8", "not supported yet"},
		{"maildir:/var/vmail/%d", "needs %u or %n"},
		{"maildir:/var/vmail/%h", "%h is not supported"},
		{"maildir:/var/vmail/%Ln", "%L is not supported"},
		{"maildir:/var/vmail/%{home}", "not supported"},
		{"maildir:/var/vmail/%{user", "not supported"},
		{"maildir:/var/vmail/%u/%", "lone"},
		{"maildir:/var/vmail/../%u", "\"..\""},
	} {
		_, err := ParseLocation(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseLocation(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestLocationPath(t *testing.T) {
	for _, tc := range []struct{ loc, user, want, err string }{
		{"maildir:/var/vmail/%d/%n/Maildir", "alice@example.org", "/var/vmail/example.org/alice/Maildir", ""},
		{"maildir:/var/vmail/%{domain}/%{username}", "alice@example.org", "/var/vmail/example.org/alice", ""},
		{"maildir:/home/%u/Maildir", "bob", "/home/bob/Maildir", ""},
		{"maildir:/home/%n/Maildir", "bob@example.org", "/home/bob/Maildir", ""},
		{"maildir:/srv/mail/%n@%d", "a@b.org", "/srv/mail/a@b.org", ""},
		{"maildir:/srv/100%%/%u", "a", "/srv/100%/a", ""},
		{"maildir:/srv/a::b/%u", "a", "/srv/a:b/a", ""},
		{"maildir:/var/vmail/%d/%n", "bob", "", "has no domain"},
		{"maildir:/home/%u", "", "", "cannot be a path component"},
		{"maildir:/home/%u", "..", "", "cannot be a path component"},
		{"maildir:/home/%u", "a/../../etc", "", "cannot be a path component"},
		{"maildir:/home/%n.", ".", "", "cannot be a path component"},
		{"maildir:/var/vmail/%d/%n", "@example.org", "", "cannot be a path component"},
	} {
		l, err := ParseLocation(tc.loc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.Path(tc.user)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s Path(%q) = %q, %v; want error containing %q", tc.loc, tc.user, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s Path(%q) = %q, %v; want %q", tc.loc, tc.user, got, err, tc.want)
		}
	}
}

package restore

import (
	"strings"
	"testing"

	"github.com/mailvault/mailvault/archive"
)

func TestParseScope(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Scope
		err  bool
	}{
		{"/mail1", Scope{Server: "mail1"}, false},
		{"/mail1/staff/", Scope{Server: "mail1", Group: "staff"}, false},
		{"/mail1/staff/alice@example.org/Archive/2002/cur/1.M2P3.h:2,S",
			Scope{Server: "mail1", Group: "staff", User: "alice@example.org", Rest: "Archive/2002/cur/1.M2P3.h:2,S"}, false},
		{"mail1", Scope{}, true},
		{"/", Scope{}, true},
		{"/mail1/../x", Scope{}, true},
		{"//staff", Scope{}, true},
		{"/mail1/staff/alice@example.org/INBOX//", Scope{Server: "mail1", Group: "staff", User: "alice@example.org", Rest: "INBOX"}, false},
		{"///", Scope{}, true},
	} {
		got, err := ParseScope(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseScope(%q) = %+v, %v", c.in, got, err)
		}
	}
}

func TestSelectFoldersPrefersTheLongestFolder(t *testing.T) {
	folders := []*archive.Folder{{Name: "INBOX"}, {Name: "Archive"}, {Name: "Archive/2002"}}
	for _, c := range []struct {
		rest, folder, msg string
	}{
		{"", "", ""},
		{"Archive", "Archive", ""},
		{"Archive/2002", "Archive/2002", ""},
		{"Archive/2002/cur/x:2,S", "Archive/2002", "cur/x:2,S"},
		{"Archive/x:2,S", "Archive", "x:2,S"},
	} {
		sel, msg, err := Scope{User: "u", Rest: c.rest}.selectFolders(folders)
		if err != nil {
			t.Fatal(err)
		}
		if c.folder == "" {
			if len(sel) != 3 {
				t.Errorf("empty rest selects %d folders", len(sel))
			}
			continue
		}
		if len(sel) != 1 || sel[0].Name != c.folder || msg != c.msg {
			t.Errorf("%q: %v %q", c.rest, sel, msg)
		}
	}
	if _, _, err := (Scope{User: "u", Rest: "Nope"}).selectFolders(folders); err == nil {
		t.Error("unknown folder accepted")
	}
}

// FuzzParseScope: a scope that parses has a server and no empty or
// relative component before the folder, and prints back as itself.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"/mail1", "/mail1/staff/alice@example.org/Archive/2002/cur/1.M1P1:2,S", "/../x", "/a//b", "a", "/a/./b/", "/", "/0/0/0///", "/s/g/u/INBOX//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err != nil {
			return
		}
		for _, c := range []string{sc.Server, sc.Group, sc.User} {
			if c == "." || c == ".." || strings.Contains(c, "/") {
				t.Fatalf("ParseScope(%q) = %+v", s, sc)
			}
		}
		if sc.Server == "" || (sc.Group == "" && sc.User != "") || (sc.User == "" && sc.Rest != "") {
			t.Fatalf("ParseScope(%q) = %+v", s, sc)
		}
		again, err := ParseScope(sc.String())
		if err != nil || again != sc {
			t.Fatalf("ParseScope(%q) = %+v prints as %q, which parses as %+v, %v", s, sc, sc.String(), again, err)
		}
	})
}

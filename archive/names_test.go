package archive

import (
	"errors"
	"path"
	"strings"
	"testing"
)

func TestCheckFolder(t *testing.T) {
	msg := func(sub, name string) Message { return Message{Subdir: sub, Name: name} }
	ok := []Folder{
		{User: "alice@example.org", Name: "INBOX"},
		{User: "alice", Name: "Archive/2002", Dir: ".Archive.2002", Messages: []Message{msg("cur", "1.M1P1.h,S=3:2,S"), msg("new", "2.M2P2.h")}},
		{User: "a@b", Name: "a//b", Dir: ".a..b"},             // not valid Maildir++, backed up raw
		{User: "a@b", Name: "/tmp", Dir: "..tmp"},             // the same
		{User: "a@b", Name: "\xff\x01", Dir: ".\xff\x01"},     // invalid UTF-8 and a control byte
		{User: "a@b", Name: "Entwürfe", Dir: ".Entw&APw-rfe"}, // mUTF-7
		{User: "a@b", Name: "INBOX", Files: []File{{Name: "dovecot-uidlist"}}, Keywords: []string{"$Forwarded", "Junk"}},
		{User: "a@b", Name: "INBOX", Removed: []string{"cur/1.M1P1.h:2,S", "new/2.M2P2.h"}},
		{User: strings.Repeat("a", 255) + "@" + strings.Repeat("b", 255), Name: strings.Repeat("c", 255), Dir: "." + strings.Repeat("c", 254)},
	}
	for _, f := range ok {
		if err := CheckFolder(&f); err != nil {
			t.Errorf("%q %q: %v", f.User, f.Name, err)
		}
	}
	bad := map[string]Folder{
		"user climbs":          {User: "../x", Name: "INBOX"},
		"user is ..":           {User: "..", Name: "INBOX"},
		"domain is ..":         {User: "x@..", Name: "INBOX"},
		"user NUL":             {User: "x\x00", Name: "INBOX"},
		"user long":            {User: strings.Repeat("x", 600), Name: "INBOX"},
		"user empty":           {User: "", Name: "INBOX"},
		"folder climbs":        {User: "u", Name: "a/../b", Dir: ".a.b"},
		"folder empty":         {User: "u", Name: ""},
		"folder absolute":      {User: "u", Name: "/etc"},
		"folder NUL":           {User: "u", Name: "a\x00", Dir: ".a"},
		"folder long":          {User: "u", Name: strings.Repeat("x/", 600), Dir: ".x"},
		"dir climbs":           {User: "u", Name: "x", Dir: "../x"},
		"dir not dotted":       {User: "u", Name: "x", Dir: "x"},
		"dir is ..":            {User: "u", Name: "x", Dir: ".."},
		"message climbs":       {User: "u", Name: "INBOX", Messages: []Message{msg("cur", "../x")}},
		"message dotted":       {User: "u", Name: "INBOX", Messages: []Message{msg("cur", ".x")}},
		"message in tmp":       {User: "u", Name: "INBOX", Messages: []Message{msg("tmp", "x")}},
		"message subdir climb": {User: "u", Name: "INBOX", Messages: []Message{msg("../cur", "x")}},
		"message long":         {User: "u", Name: "INBOX", Messages: []Message{msg("cur", strings.Repeat("x", 256))}},
		"control climbs":       {User: "u", Name: "INBOX", Files: []File{{Name: "../x"}}},
		"control empty":        {User: "u", Name: "INBOX", Files: []File{{Name: ""}}},
		"removed climbs":       {User: "u", Name: "INBOX", Removed: []string{"cur/../../x"}},
		"removed in tmp":       {User: "u", Name: "INBOX", Removed: []string{"tmp/x"}},
		"keyword newline":      {User: "u", Name: "INBOX", Keywords: []string{"a\n9 b"}},
	}
	for what, f := range bad {
		err := CheckFolder(&f)
		if !errors.Is(err, ErrBadName) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrBadName", what, err)
		}
		if err != nil && len(err.Error()) > 400 {
			t.Errorf("%s: message of %d bytes: long names must be shortened", what, len(err.Error()))
		}
	}
}

// FuzzCheckFolder: whatever names pass, every path a restore builds from
// them stays inside the user's directory.
func FuzzCheckFolder(f *testing.F) {
	f.Add("alice@example.org", "Archive/2002", ".Archive.2002", "cur", "1.M1P1.h:2,S", "dovecot-uidlist")
	f.Add("..", "../x", "../x", "../", "..", "/etc/passwd")
	f.Add("a@..", "a//b", ".a..b", "new", ".hidden", "cur")
	f.Fuzz(func(t *testing.T, user, name, dir, subdir, msg, control string) {
		fo := &Folder{User: user, Name: name, Dir: dir, Messages: []Message{{Subdir: subdir, Name: msg}},
			Files: []File{{Name: control}}, Removed: []string{subdir + "/" + msg}}
		if CheckFolder(fo) != nil {
			return
		}
		root := "/store"
		local, domain, _ := strings.Cut(user, "@")
		for _, p := range []string{
			path.Join(root, user, dir, subdir, msg), path.Join(root, domain, local, dir, control),
			path.Join(root, user, "."+strings.ReplaceAll(name, "/", "."), subdir),
		} {
			if !strings.HasPrefix(p, root+"/") || strings.Contains(p, "\x00") {
				t.Fatalf("accepted %+v, which reaches %q", fo, p)
			}
		}
		// Joining cleans nothing away: each name is one component.
		raw := root + "/" + user + "/" + dir + "/" + subdir + "/" + msg
		if dir == "" {
			raw = root + "/" + user + "/" + subdir + "/" + msg
		}
		if path.Join(root, user, dir, subdir, msg) != raw {
			t.Fatalf("accepted %+v: the names do not stay one component each", fo)
		}
	})
}

package maildir

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"1700000000.M1P2.host,S=123,W=130:2,FS", "b", "b:2,", "b,S=1", "b,W=2,S=1:2,a",
		"b:1,x", ",S=1", "b,,:2,", "b,S=007", "b,S=99999999999999999999", "\xff:2,\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := ParseName(s)
		out := n.String()
		if again := ParseName(out); again != n {
			t.Fatalf("ParseName(%q) = %+v, but its String %q parses as %+v", s, n, out, again)
		}
		if len(out) != len(s) {
			t.Fatalf("ParseName(%q).String() = %q: bytes lost or added", s, out)
		}
		if canonicalName(s) && out != s {
			t.Fatalf("ParseName(%q).String() = %q", s, out)
		}
		if n.Base == "" && s != "" {
			t.Fatalf("ParseName(%q): empty base", s)
		}
	})
}

// canonicalName reports whether s has its valid S= and W= fields, if any,
// before all others and in that order, so that String must give it back.
func canonicalName(s string) bool {
	head, _, _ := strings.Cut(s, ":")
	_, fields, ok := strings.Cut(head, ",")
	if !ok {
		return true
	}
	var seenS, seenW, seenOther bool
	for _, f := range strings.Split(fields, ",") {
		if v, ok := strings.CutPrefix(f, "S="); ok && !seenS && canonicalUint(v) {
			if seenW || seenOther {
				return false
			}
			seenS = true
		} else if v, ok := strings.CutPrefix(f, "W="); ok && !seenW && canonicalUint(v) {
			if seenOther {
				return false
			}
			seenW = true
		} else {
			seenOther = true
		}
	}
	return true
}

func FuzzParseUIDList(f *testing.F) {
	f.Add([]byte(sampleUIDList))
	f.Add([]byte("3 V1 N2 G00\n1 :a\n7 W1 S2 :b\n"))
	f.Add([]byte("1 1100000000 3\n1 1100000000.P1.host:2,S\n2 x"))
	f.Add([]byte("3 V1 N1\n4294967294 :a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUIDList(data)
		if err != nil {
			return
		}
		var last uint32
		for _, r := range u.Records {
			if r.UID <= last || r.UID >= u.NextUID || r.Base == "" {
				t.Fatalf("record %+v after uid %d, next uid %d", r, last, u.NextUID)
			}
			last = r.UID
			if uid, ok := u.Lookup(baseOf(r.Base)); !ok || uid > r.UID {
				t.Fatalf("Lookup(%q) = %d, %v for record %+v", baseOf(r.Base), uid, ok, r)
			}
		}
		if u.UIDValidity == 0 || u.Header != splitLines(data)[0] {
			t.Fatalf("header %+v", u)
		}
	})
}

func FuzzDecodeMUTF7(f *testing.F) {
	for _, s := range []string{"", "INBOX", "&-", "&APw-", "Entw&APw-rfe", "&ZeVnLIqe-", "&2D3eAA-", "&AGE-", "&APx-", "&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := DecodeMUTF7(s); err == nil {
			if enc := EncodeMUTF7(dec); enc != s {
				t.Fatalf("DecodeMUTF7(%q) = %q, which encodes as %q", s, dec, enc)
			}
		}
		if utf8.ValidString(s) {
			enc := EncodeMUTF7(s)
			dec, err := DecodeMUTF7(enc)
			if err != nil || dec != s {
				t.Fatalf("EncodeMUTF7(%q) = %q, which decodes as %q, %v", s, enc, dec, err)
			}
		}
	})
}

// FuzzParseKeywords: what parses renders back to a file that parses the
// same, and no keyword holds a line break.
func FuzzParseKeywords(f *testing.F) {
	for _, s := range []string{"0 $Forwarded\n1 Junk\n", "0 a\n0 b\n", "25 z\n", "26 z\n", "01 a\n", "0 a b\r\n", "", "\n\n0 x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		kw, err := ParseKeywords(data)
		if err != nil {
			return
		}
		if len(kw) > maxKeywords {
			t.Fatalf("%d keywords, more than %d letters", len(kw), maxKeywords)
		}
		for _, k := range kw {
			if strings.ContainsAny(k, "\n") {
				t.Fatalf("keyword %q holds a line break", k)
			}
		}
		again, err := ParseKeywords(RenderKeywords(kw))
		if err != nil || strings.Join(again, "\x00") != strings.Join(kw, "\x00") {
			t.Fatalf("render of %q parses as %q, %v", kw, again, err)
		}
	})
}

// FuzzParseLocation: a template that parses gives, for any user id, a path
// under its literal prefix or an error; never a path that climbs.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"maildir:/var/vmail/%d/%n/Maildir", "maildir:/home/%u/Maildir:INDEX=/x", "maildir:~/Maildir", "maildir:/a/%{domain}/%{username}", "maildir:/a::b/%u%%"} {
		f.Add(s, "alice@example.org")
	}
	f.Add("maildir:/v/%d/%n", "../..@..")
	f.Fuzz(func(t *testing.T, tmpl, user string) {
		l, err := ParseLocation(tmpl)
		if err != nil {
			return
		}
		p, err := l.Path(user)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || filepath.Clean(p) != p || strings.ContainsRune(p, 0) {
			t.Fatalf("%s for user %q gives %q", tmpl, user, p)
		}
	})
}

package maildir

import (
	"slices"
	"strings"
	"testing"
)

// sameUIDList reports how a and b differ as Render and ParseUIDList see
// them: a version 1 list renders as version 3, the header is rebuilt.
func sameUIDList(a, b *UIDList) string {
	switch {
	case a.UIDValidity != b.UIDValidity || a.NextUID != b.NextUID || a.GUID != b.GUID:
		return "header values"
	case !slices.Equal(headerExtras(a.Header), headerExtras(b.Header)):
		return "extra header fields"
	case !slices.Equal(a.Records, b.Records):
		return "records"
	}
	return ""
}

func TestRenderRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, in, out string }{
		{"sample", sampleUIDList, sampleUIDList},
		{"stale N", "3 V1 N2 G00\n1 :a\n7 W1 S2 :b\n", "3 V1 N8 G00\n1 :a\n7 W1 S2 :b\n"},
		{"extra fields kept", "3 V9 N4 Gab Xfoo Ybar\n", "3 V9 N4 Gab Xfoo Ybar\n"},
		{"fields reordered", "3 N4 Xfoo V9\n", "3 V9 N4 Xfoo\n"},
		{"version 1", "1 1100000000 3\n1 a b:2,S\n", "3 V1100000000 N3\n1 :a b:2,S\n"},
		{"empty ext", "3 V1 N1\n1  :x\n", "3 V1 N2\n1 :x\n"},
		{"colon in name", "3 V1 N1\n1 W2 :a :b\n", "3 V1 N2\n1 W2 :a :b\n"},
	} {
		u, err := ParseUIDList([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		out := string(u.Render())
		if out != tc.out {
			t.Errorf("%s: Render = %q, want %q", tc.name, out, tc.out)
		}
		again, err := ParseUIDList([]byte(out))
		if err != nil {
			t.Fatalf("%s: rendered list does not parse: %v", tc.name, err)
		}
		if d := sameUIDList(u, again); d != "" {
			t.Errorf("%s: round trip changed the %s: %+v, then %+v", tc.name, d, u, again)
		}
	}
}

func TestAppend(t *testing.T) {
	u, err := ParseUIDList([]byte("3 V5 N3 Gab\n1 :a,S=1\n2 :b\n"))
	if err != nil {
		t.Fatal(err)
	}
	uid, err := u.Append("c,S=10,W=11:2,Sa")
	if err != nil || uid != 3 || u.NextUID != 4 {
		t.Fatalf("Append = %d, %v; next %d", uid, err, u.NextUID)
	}
	if got, ok := u.Lookup("c"); got != 3 || !ok {
		t.Errorf("Lookup(c) after Append = %d, %v", got, ok)
	}
	want := "3 V5 N4 Gab\n1 :a,S=1\n2 :b\n3 :c,S=10,W=11\n"
	if got := string(u.Render()); got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	for _, bad := range []string{"", ":2,S", "a\nb"} {
		if _, err := u.Append(bad); err == nil {
			t.Errorf("Append(%q) accepted", bad)
		}
	}
	full := &UIDList{Version: 3, UIDValidity: 1, NextUID: 1<<32 - 1}
	if _, err := full.Append("x"); err == nil || !strings.Contains(err.Error(), "no uid") {
		t.Errorf("Append with no uid left: %v", err)
	}
}

func TestNewUIDList(t *testing.T) {
	u := NewUIDList(1700000000)
	if u.NextUID != 1 || u.UIDValidity != 1700000000 || len(u.GUID) != 32 || strings.Trim(u.GUID, "0123456789abcdef") != "" {
		t.Fatalf("NewUIDList = %+v", u)
	}
	if NewUIDList(1).GUID == u.GUID {
		t.Error("two lists share a GUID")
	}
	if _, err := u.Append("m1"); err != nil {
		t.Fatal(err)
	}
	again, err := ParseUIDList(u.Render())
	if err != nil {
		t.Fatal(err)
	}
	if d := sameUIDList(u, again); d != "" || again.NextUID != 2 {
		t.Errorf("round trip changed the %s: %+v", d, again)
	}
}

package maildir

import (
	"strings"
	"testing"
)

const sampleUIDList = "3 V1700000000 N5 G0123456789abcdef0123456789abcdef\n" +
	"1 :1700000000.M1P2.host,S=123,W=130\n" +
	"2 W300 :base2\n"

func TestParseUIDList(t *testing.T) {
	u, err := ParseUIDList([]byte(sampleUIDList))
	if err != nil {
		t.Fatal(err)
	}
	if u.Version != 3 || u.UIDValidity != 1700000000 || u.NextUID != 5 ||
		u.GUID != "0123456789abcdef0123456789abcdef" ||
		u.Header != "3 V1700000000 N5 G0123456789abcdef0123456789abcdef" {
		t.Errorf("header: %+v", u)
	}
	want := []UIDRecord{{1, "", "1700000000.M1P2.host,S=123,W=130"}, {2, "W300", "base2"}}
	if len(u.Records) != 2 || u.Records[0] != want[0] || u.Records[1] != want[1] {
		t.Errorf("records = %+v, want %+v", u.Records, want)
	}
	for base, uid := range map[string]uint32{"1700000000.M1P2.host": 1, "base2": 2, "nope": 0} {
		got, ok := u.Lookup(base)
		if got != uid || ok != (uid != 0) {
			t.Errorf("Lookup(%q) = %d, %v; want %d", base, got, ok, uid)
		}
	}
	hand := &UIDList{Records: want} // not parsed: Lookup scans
	if uid, ok := hand.Lookup("base2"); uid != 2 || !ok {
		t.Errorf("Lookup on a hand-built list = %d, %v", uid, ok)
	}
}

func TestParseUIDListVariants(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		version    int
		next       uint32
		records    int
	}{
		{"stale N", "3 V1 N2 G00\n1 :a\n7 W1 S2 :b\n", 3, 8, 2},
		{"no trailing newline", "3 V1 N2\n1 :a", 3, 2, 1},
		{"extra header fields", "3 V9 N4 Gab Xfoo\n", 3, 4, 0},
		{"version 1", "1 1100000000 3\n1 1100000000.P1.host:2,S\n2 1100000001.P2.host\n", 1, 3, 2},
		{"header only", "3 V1 N1\n", 3, 1, 0},
	} {
		u, err := ParseUIDList([]byte(tc.data))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if u.Version != tc.version || u.NextUID != tc.next || len(u.Records) != tc.records {
			t.Errorf("%s: version %d next %d records %d, want %d %d %d", tc.name,
				u.Version, u.NextUID, len(u.Records), tc.version, tc.next, tc.records)
		}
	}
	u, _ := ParseUIDList([]byte("1 1100000000 3\n1 1100000000.P1.host:2,S\n"))
	if uid, ok := u.Lookup("1100000000.P1.host"); uid != 1 || !ok {
		t.Errorf("version 1 Lookup = %d, %v", uid, ok)
	}
}

func TestParseUIDListErrors(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"", "empty"},
		{"2 V1 N1\n", "line 1: header \"2 V1 N1\": unsupported version"},
		{"3 V1\n", "line 1: header \"3 V1\": V and N are required"},
		{"3 Vx N1\n", "line 1: header field \"Vx\""},
		{"1 5\n", "line 1: version 1 header"},
		{"3 V1 N1\n1 :a\nx :b\n", "line 3: record \"x :b\""},
		{"3 V1 N1\n1 :a\n2 W1 b\n", "line 3: record \"2 W1 b\": no \" :\""},
		{"3 V1 N1\n2 :a\n2 :b\n", "line 3: uid 2 after 2"},
		{"3 V1 N1\n1 :a\n\n2 :b\n", "line 3: record \"\""},
		{"3 V1 N1\n0 :a\n", "line 2"},
		{"3 V1 N1\n1 :\n", "line 2: record \"1 :\": empty file name"},
		{"3 V1 N1\n4294967295 :a\n", "line 2"},
	} {
		_, err := ParseUIDList([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseUIDList(%q) = %v, want error containing %q", tc.data, err, tc.want)
		}
	}
}

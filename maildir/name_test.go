package maildir

import (
	"reflect"
	"testing"
)

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Name
		std  string
		kw   []int
	}{
		{"1700000000.M1P2.host,S=123,W=130:2,FS", Name{"1700000000.M1P2.host", 123, 130, "", true, "FS"}, "FS", nil},
		{"1700000000.M1P2.host,S=123:2,", Name{"1700000000.M1P2.host", 123, -1, "", true, ""}, "", nil},
		{"1700000000.M1P2.host", Name{"1700000000.M1P2.host", -1, -1, "", false, ""}, "", nil}, // new/ without info
		{"b,S=5,W=6", Name{"b", 5, 6, "", false, ""}, "", nil},
		{"b:2,RSac", Name{"b", -1, -1, "", true, "RSac"}, "RS", []int{0, 2}},
		{"b,S=1,W=2,M=x:2,Sza", Name{"b", 1, 2, ",M=x", true, "Sza"}, "S", []int{25, 0}},
		{"b,S=007:2,S", Name{"b", -1, -1, ",S=007", true, "S"}, "S", nil}, // not canonical: kept as written
		{"b,,:2,", Name{"b", -1, -1, ",,", true, ""}, "", nil},
		{"b:1,xyz", Name{"b:1,xyz", -1, -1, "", false, ""}, "", nil}, // unparsable: all base
		{",S=1", Name{",S=1", -1, -1, "", false, ""}, "", nil},
		{"b:2,S:2,T", Name{"b", -1, -1, "", true, "S:2,T"}, "ST", nil},
		{"b:2,aab", Name{"b", -1, -1, "", true, "aab"}, "", []int{0, 1}},
		{"b\xff\x01:2,S", Name{"b\xff\x01", -1, -1, "", true, "S"}, "S", nil},
	} {
		got := ParseName(tc.in)
		if got != tc.want {
			t.Errorf("ParseName(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if s := got.String(); s != tc.in {
			t.Errorf("ParseName(%q).String() = %q", tc.in, s)
		}
		if s := got.Standard(); s != tc.std {
			t.Errorf("ParseName(%q).Standard() = %q, want %q", tc.in, s, tc.std)
		}
		if kw := got.Keywords(); !reflect.DeepEqual(kw, tc.kw) {
			t.Errorf("ParseName(%q).Keywords() = %v, want %v", tc.in, kw, tc.kw)
		}
	}
}

func TestNameStringOrder(t *testing.T) {
	// Fields out of the canonical order parse, and String puts them in it.
	n := ParseName("b,W=2,X=y,S=1:2,S")
	if n.Size != 1 || n.VSize != 2 || n.Extra != ",X=y" {
		t.Fatalf("ParseName = %+v", n)
	}
	if got, want := n.String(), "b,S=1,W=2,X=y:2,S"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

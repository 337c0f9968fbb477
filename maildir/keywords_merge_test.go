package maildir

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestMergeKeywords(t *testing.T) {
	for _, tc := range []struct {
		name           string
		target, backup []string
		merged         []string
		mapping        map[int]int
	}{
		{"empty target", nil, []string{"$Forwarded", "Junk"}, []string{"$Forwarded", "Junk"}, map[int]int{0: 0, 1: 1}},
		{"same", []string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}, map[int]int{0: 0, 1: 1}},
		{"swapped", []string{"Junk", "$Forwarded"}, []string{"$Forwarded", "Junk"}, []string{"Junk", "$Forwarded"}, map[int]int{0: 1, 1: 0}},
		{"appended", []string{"x"}, []string{"y", "x"}, []string{"x", "y"}, map[int]int{0: 1, 1: 0}},
		{"hole filled", []string{"x", "", "z"}, []string{"y"}, []string{"x", "y", "z"}, map[int]int{0: 1}},
		{"backup hole", []string{"x"}, []string{"", "", "x"}, []string{"x"}, map[int]int{2: 0}},
		{"case", []string{"junk"}, []string{"Junk"}, []string{"junk"}, map[int]int{0: 0}},
	} {
		merged, mapping, err := MergeKeywords(tc.target, tc.backup)
		if err != nil || !slices.Equal(merged, tc.merged) || !maps.Equal(mapping, tc.mapping) {
			t.Errorf("%s: MergeKeywords = %q, %v, %v; want %q, %v", tc.name, merged, mapping, err, tc.merged, tc.mapping)
		}
	}
	target := slices.Collect(func(yield func(string) bool) {
		for i := range maxKeywords {
			yield(fmt.Sprint("k", i))
		}
	})
	if _, _, err := MergeKeywords(target, []string{"k3", "new"}); err == nil || !strings.Contains(err.Error(), `"new"`) {
		t.Errorf("27th keyword: %v", err)
	}
	orig := []string{"x"}
	MergeKeywords(orig, []string{"y"})
	if len(orig) != 1 {
		t.Error("MergeKeywords changed its input")
	}
}

func TestRenderKeywords(t *testing.T) {
	got := string(RenderKeywords([]string{"$Forwarded", "", "Junk"}))
	if got != "0 $Forwarded\n2 Junk\n" {
		t.Errorf("RenderKeywords = %q", got)
	}
	kw, err := ParseKeywords([]byte(got))
	if err != nil || !slices.Equal(kw, []string{"$Forwarded", "", "Junk"}) {
		t.Errorf("parsed back as %q, %v", kw, err)
	}
}

func TestRemapFlags(t *testing.T) {
	m := map[int]int{0: 2, 1: 0, 2: 1} // a→c, b→a, c→b
	for _, tc := range []struct{ in, want string }{
		{"b,S=5:2,FSa", "b,S=5:2,FSc"},
		{"b:2,RSabc", "b:2,RSabc"},
		{"b:2,Sca", "b:2,Sbc"},
		{"b:2,Sd", "b:2,S"}, // d names no keyword in the backup
		{"b:2,", "b:2,"},
		{"b,S=5", "b,S=5"}, // new/ without info
		{"b:2,aaS", "b:2,Sc"},
	} {
		if got := RemapFlags(tc.in, m); got != tc.want {
			t.Errorf("RemapFlags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

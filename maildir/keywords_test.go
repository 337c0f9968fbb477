package maildir

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseKeywords(t *testing.T) {
	for _, tc := range []struct {
		data string
		want []string
	}{
		{"0 $Forwarded\n1 Junk\n", []string{"$Forwarded", "Junk"}},
		{"0 $Forwarded\n3 $Label 1\n", []string{"$Forwarded", "", "", "$Label 1"}},
		{"1 NonJunk", []string{"", "NonJunk"}},
		{"", nil},
	} {
		got, err := ParseKeywords([]byte(tc.data))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseKeywords(%q) = %q, %v; want %q", tc.data, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ data, want string }{
		{"0 a\nx b\n", "line 2"},
		{"26 z\n", "line 1"},
		{"0 a\n0 b\n", "line 2: \"0 b\": index 0 given twice"},
		{"0\n", "line 1"},
		{"00 a\n", "line 1"},
		{"-1 a\n", "line 1"},
	} {
		_, err := ParseKeywords([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKeywords(%q) = %v, want error containing %q", tc.data, err, tc.want)
		}
	}
}

package index

import (
	"bytes"
	"sort"
	"testing"
)

func TestCompRoundTripAndOrder(t *testing.T) {
	names := []string{"", "a", "a\x00", "a\x00b", "a\x01", "ab", "b", "\xff", "\xff\xff", "INBOX", "Archive/2002", "Entwürfe", "\x00", "\x00\x00"}
	for _, s := range names {
		got, rest, err := readComp(appendComp(nil, s))
		if err != nil || got != s || len(rest) != 0 {
			t.Errorf("round trip %q: %q %q %v", s, got, rest, err)
		}
	}
	// Encoded order must equal byte order of the strings, also when more
	// components follow: "a" then "z" must sort before "a\x00" then "".
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	enc := make([][]byte, len(sorted))
	for i, s := range sorted {
		enc[i] = appendComp(appendComp(nil, s), "zzz")
	}
	for i := 1; i < len(enc); i++ {
		if bytes.Compare(enc[i-1], enc[i]) >= 0 {
			t.Errorf("order broken between %q and %q", sorted[i-1], sorted[i])
		}
	}
}

func TestReadCompRejectsMalformed(t *testing.T) {
	for _, b := range [][]byte{nil, {'a'}, {'a', 0}, {'a', 0, 2}, {0, 0xFE}} {
		if _, _, err := readComp(b); err == nil {
			t.Errorf("readComp(%q) accepted", b)
		}
	}
}

func TestTimeOrder(t *testing.T) {
	times := []int64{-5, 0, 1, 1 << 40, 1<<62 + 3}
	for i := 1; i < len(times); i++ {
		a, b := appendTime(nil, times[i-1]), appendTime(nil, times[i])
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("%d !< %d", times[i-1], times[i])
		}
		if got, _, _ := readTime(b); got != times[i] {
			t.Errorf("readTime = %d", got)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	p := key(prefixUser, "mail1", "staff")
	inside := appendComp(bytes.Clone(p), "\xff\xffzz")
	if bytes.Compare(inside, prefixEnd(p)) >= 0 {
		t.Error("a key under the prefix sorts after prefixEnd")
	}
	if !bytes.HasPrefix(inside, p) || bytes.HasPrefix(prefixEnd(p), p) {
		t.Error("prefixEnd is under the prefix")
	}
	if prefixEnd([]byte{0xFF, 0xFF}) != nil {
		t.Error("all-0xFF prefix has no end")
	}
}

func FuzzReadComp(f *testing.F) {
	f.Add(appendComp(nil, "a\x00b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, rest, err := readComp(b)
		if err != nil {
			return
		}
		// What was read re-encodes to the bytes consumed.
		if enc := appendComp(nil, s); !bytes.Equal(enc, b[:len(b)-len(rest)]) {
			t.Fatalf("re-encode %q != %q", enc, b[:len(b)-len(rest)])
		}
	})
}

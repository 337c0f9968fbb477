package maildir

import (
	"bytes"
	"testing"
)

func FuzzUIDListRoundTrip(f *testing.F) {
	f.Add([]byte(sampleUIDList))
	f.Add([]byte("3 V1 N2 G00 Xa\n1 :a\n7 W1 S2 :b\n"))
	f.Add([]byte("1 1100000000 3\n1 1100000000.P1.host:2,S\n2 x y"))
	f.Add([]byte("3 N1 V1\n1  :a :b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUIDList(data)
		if err != nil {
			return
		}
		out := u.Render()
		again, err := ParseUIDList(out)
		if err != nil {
			t.Fatalf("Render of %q = %q, which does not parse: %v", data, out, err)
		}
		if d := sameUIDList(u, again); d != "" {
			t.Fatalf("round trip of %q through %q changed the %s", data, out, d)
		}
		if twice := again.Render(); !bytes.Equal(twice, out) {
			t.Fatalf("Render not stable: %q, then %q", out, twice)
		}
	})
}

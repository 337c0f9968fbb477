package backup

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mailvault/mailvault/archive"
)

func TestStateHas(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var in, out []archive.Hash
	for i := range 3000 {
		var h archive.Hash
		for j := range h {
			h[j] = byte(rng.UintN(256))
		}
		switch i {
		case 0:
			h[0], h[1] = 0, 0 // the first bucket
		case 1:
			h[0], h[1] = 0xff, 0xff // the last one
		}
		if i%2 == 0 {
			in = append(in, h)
		} else {
			out = append(out, h)
		}
	}
	st := &state{known: slices.Clone(in)}
	slices.SortFunc(st.known, func(a, b archive.Hash) int { return bytes.Compare(a[:], b[:]) })
	st.indexKnown()
	for _, h := range in {
		if !st.has(h) {
			t.Fatalf("has(%x) = false for a known hash", h[:4])
		}
	}
	for _, h := range out {
		if st.has(h) && !slices.Contains(in, h) {
			t.Fatalf("has(%x) = true for an unknown hash", h[:4])
		}
	}
	if (&state{}).has(in[0]) {
		t.Fatal("an empty state has a hash")
	}
}

package main

import (
	"testing"
	"time"
)

// FuzzParseSpan: a time that parses names a span within the years the
// index can hold, start before end, and its start prints back as a time
// that names the same start.
func FuzzParseSpan(f *testing.F) {
	for _, s := range []string{"2026-11-22T03:05:00Z", "2026-11-22T03:05:00+01:00", "20261122T030500Z", "2026-11-22T03:05:00.123456789Z",
		"2026-11-22", "2261-12-31", "1678-01-01T00:00:00Z", "2026-11-22T03:05:00.Z", "2026-02-30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := parseSpan(s)
		if err != nil || s == "" {
			return
		}
		if start > end || end-start >= int64(24*time.Hour) {
			t.Fatalf("parseSpan(%q) = %d, %d", s, start, end)
		}
		back := time.Unix(0, start).UTC().Format(time.RFC3339Nano)
		if again, _, err := parseSpan(back); err != nil || again != start {
			t.Fatalf("parseSpan(%q) starts at %s, which parses as %d, %v", s, back, again, err)
		}
	})
}

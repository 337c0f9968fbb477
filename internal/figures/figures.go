// Package figures lets the reliability tests report what they did, so that
// `make reliability` can print one table of kills survived, damage
// detected, inputs rejected and reads served, with anything lost called out.
//
// A test calls Record with what it tried and what held; the figures go to
// the file named by $MAILVAULT_FIGURES (one JSON object per line) and to the
// test log. Size tells a test how hard to try: small in `make test`, bench
// size when $MAILVAULT_RELIABILITY is "bench".
package figures

import (
	"encoding/json"
	"os"
	"sync"
	"testing"
)

// Row is one line of the reliability table.
type Row struct {
	Suite string `json:"suite"` // crash, damage, live, hostile, load, security
	What  string `json:"what"`  // "backup killed at a random point", …
	Tried int    `json:"tried"` // attempts made
	Held  int    `json:"held"`  // attempts after which every check passed
	Lost  int    `json:"lost"`  // messages lost or duplicated, or files escaped
	Note  string `json:"note,omitempty"`
}

var mu sync.Mutex

// Record logs r and appends it to $MAILVAULT_FIGURES when that is set.
func Record(t testing.TB, r Row) {
	t.Helper()
	t.Logf("figure: %s: %s: %d of %d held, %d lost %s", r.Suite, r.What, r.Held, r.Tried, r.Lost, r.Note)
	path := os.Getenv("MAILVAULT_FIGURES")
	if path == "" {
		return
	}
	line, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("figures: %v", err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		t.Fatalf("figures: %v", err)
	}
}

// Bench reports whether the tests run at bench size (make reliability).
func Bench() bool { return os.Getenv("MAILVAULT_RELIABILITY") == "bench" }

// Size returns small in an ordinary test run and big at bench size.
func Size(small, big int) int {
	if Bench() {
		return big
	}
	return small
}

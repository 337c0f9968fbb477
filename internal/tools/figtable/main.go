// Command figtable prints the reliability tests' figures (the JSON lines
// internal/figures writes) as one markdown table, rows of one kind summed,
// and exits 1 when anything was lost or an attempt did not hold.
//
//	go run ./internal/tools/figtable FIGURES.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/mailvault/mailvault/internal/figures"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: figtable FIGURES.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "figtable:", err, "(did the tests run with MAILVAULT_FIGURES set?)")
		os.Exit(1)
	}
	defer f.Close()
	rows, err := read(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "figtable:", os.Args[1]+":", err)
		os.Exit(1)
	}
	bad := false
	fmt.Println("| suite | what | tried | held | lost | note |")
	fmt.Println("|---|---|--:|--:|--:|---|")
	for _, r := range rows {
		mark := ""
		if r.Lost > 0 || r.Held < r.Tried {
			mark, bad = " **FAILED**", true
		}
		fmt.Printf("| %s | %s%s | %d | %d | %d | %s |\n", r.Suite, r.What, mark, r.Tried, r.Held, r.Lost, r.Note)
	}
	if bad {
		fmt.Println("\nSome attempts did not hold or lost mail: see the rows marked FAILED and the test log.")
		os.Exit(1)
	}
}

// read returns the rows in the order first seen, summing repeats of one
// suite and what (a test run once per size or package) and joining notes.
func read(f *os.File) ([]figures.Row, error) {
	var rows []figures.Row
	at := map[string]int{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var r figures.Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		key := r.Suite + "\x00" + r.What
		i, ok := at[key]
		if !ok {
			at[key] = len(rows)
			rows = append(rows, r)
			continue
		}
		s := &rows[i]
		s.Tried += r.Tried
		s.Held += r.Held
		s.Lost += r.Lost
		if r.Note != "" && !strings.Contains(s.Note, r.Note) {
			s.Note = strings.TrimPrefix(s.Note+"; "+r.Note, "; ")
		}
	}
	return rows, sc.Err()
}

// Command benchtable prints the CSV of scripts/bench.sh as markdown: for
// each store a table of every figure per tool (median and min–max over the
// rounds) with the ratio of mailvault's median to each peer's, and, when
// several store sizes were run, how mailvault's figures grow with the size.
//
//	go run ./internal/tools/benchtable RESULTS/bench.csv
package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// figure is one row of the table: how to read it from the CSV and show it.
type figure struct {
	label string
	key   string // CSV figure name, with ":wall", ":rss" … for timed steps
	unit  string
	scale float64 // value × scale is shown
	// better is +1 when larger is better (throughput), else -1
	better int
}

var figures = []figure{
	{"full backup, wall", "full:wall", "s", 1, -1},
	{"full backup, CPU user+sys", "full:cpu", "s", 1, -1},
	{"full backup, peak RSS", "full:rss", "MiB", 1.0 / 1024, -1},
	{"repository after full", "repo_bytes_full", "MB", 1e-6, -1},
	{"no-change run, wall", "nochange:wall", "s", 1, -1},
	{"+1 % run, wall", "incr:wall", "s", 1, -1},
	{"repository after +1 %", "repo_bytes_incr", "MB", 1e-6, -1},
	{"index (a cache, in the repository)", "index_bytes", "MB", 1e-6, -1},
	{"restore one user, wall", "restore_one:wall", "s", 1, -1},
	{"restore all, wall", "restore_all:wall", "s", 1, -1},
	{"restore all, peak RSS", "restore_all:rss", "MiB", 1.0 / 1024, -1},
	{"restored message files", "restored_files", "", 1, 0},
	{"mount ready", "mount_ready_s", "s", 1, -1},
	{"find over the mount", "mnt_find:wall", "s", 1, -1},
	{"files found in the mount", "mnt_find_files", "", 1, 0},
	{"tar of one user from the mount", "mnt_tar:rate", "MB/s", 1e-6, +1},
	{"ls -l of the largest folder", "mnt_ls_largest:wall", "s", 1, -1},
	{"mount peak RSS after the walk", "mount_vmhwm_kb", "MiB", 1.0 / 1024, -1},
	{"mount anonymous RSS after the walk", "mount_rssanon_kb", "MiB", 1.0 / 1024, -1},
}

var toolNames = map[string]string{"mailvault": "mailvault", "tarzstd": "tar \\| zstd -1 -T0", "restic": "restic", "borg": "borg"}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtable BENCH.csv ...")
		os.Exit(2)
	}
	data := map[string]map[string]map[string][]float64{} // store → tool → key → values
	var stores, tools []string
	for _, p := range os.Args[1:] {
		if err := read(p, data, &stores, &tools); err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
	}
	order := []string{"mailvault", "tarzstd", "restic", "borg"}
	slices.SortStableFunc(tools, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	for _, s := range stores {
		table(os.Stdout, s, tools, data[s])
	}
	if len(stores) > 1 {
		scale(os.Stdout, stores, data)
	}
}

func read(path string, data map[string]map[string]map[string][]float64, stores, tools *[]string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i, r := range rows {
		if i == 0 || len(r) != 10 {
			continue
		}
		store, tool, fig := r[0], r[1], r[3]
		if !slices.Contains(*stores, store) {
			*stores = append(*stores, store)
		}
		if !slices.Contains(*tools, tool) {
			*tools = append(*tools, tool)
		}
		if data[store] == nil {
			data[store] = map[string]map[string][]float64{}
		}
		d := data[store][tool]
		if d == nil {
			d = map[string][]float64{}
			data[store][tool] = d
		}
		num := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
		if r[4] != "" { // a timed step
			if r[8] != "0" {
				d[fig+":failed"] = append(d[fig+":failed"], 1)
				continue
			}
			d[fig+":wall"] = append(d[fig+":wall"], num(r[4]))
			d[fig+":cpu"] = append(d[fig+":cpu"], num(r[5])+num(r[6]))
			d[fig+":rss"] = append(d[fig+":rss"], num(r[7]))
			continue
		}
		if v, err := strconv.ParseFloat(r[9], 64); err == nil {
			d[fig] = append(d[fig], v)
			// the bytes follow their timed tar step: pair them into a rate
			if ws := d["mnt_tar_user:wall"]; fig == "mnt_tar_bytes" && len(ws) > 0 {
				d["mnt_tar:rate"] = append(d["mnt_tar:rate"], v/ws[len(ws)-1])
			}
		}
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func show(v []float64, f figure) string {
	if len(v) == 0 {
		return "–"
	}
	m := median(v) * f.scale
	out := num(m) + unit(f)
	if len(v) > 1 {
		out += fmt.Sprintf(" [%s–%s]", num(slices.Min(v)*f.scale), num(slices.Max(v)*f.scale))
	}
	return out
}

func unit(f figure) string {
	if f.unit == "" {
		return ""
	}
	return " " + f.unit
}

func num(x float64) string {
	switch {
	case x >= 100 || x == float64(int64(x)):
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

// table prints one store's figures; the ratio columns are mailvault's
// median over each peer's (below 1 is better for mailvault, except for
// throughput, where above 1 is).
func table(w io.Writer, store string, tools []string, d map[string]map[string][]float64) {
	var peers []string
	for _, t := range tools {
		if t != "mailvault" {
			peers = append(peers, t)
		}
	}
	head := []string{"figure"}
	for _, t := range tools {
		head = append(head, name(t))
	}
	if d["mailvault"] != nil {
		for _, p := range peers {
			head = append(head, "mailvault ÷ "+name(p))
		}
	}
	fmt.Fprintf(w, "### %s (%s)\n\n| %s |\n|%s\n", store, rounds(d), strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, f := range figures {
		cells := []string{f.label}
		any := false
		for _, t := range tools {
			v := d[t][f.key]
			any = any || len(v) > 0
			c := show(v, f)
			if n := len(d[t][strings.TrimSuffix(f.key, ":wall")+":failed"]); n > 0 {
				c += fmt.Sprintf(" (%d failed)", n)
			}
			cells = append(cells, c)
		}
		if !any {
			continue
		}
		if d["mailvault"] != nil {
			for _, p := range peers {
				mv, pv := d["mailvault"][f.key], d[p][f.key]
				if len(mv) == 0 || len(pv) == 0 || median(pv) == 0 || f.better == 0 {
					cells = append(cells, "")
					continue
				}
				cells = append(cells, fmt.Sprintf("%.2f×", median(mv)/median(pv)))
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
}

func name(t string) string {
	if n, ok := toolNames[t]; ok {
		return n
	}
	return t
}

func rounds(d map[string]map[string][]float64) string {
	n := 0
	for _, kv := range d {
		n = max(n, len(kv["full:wall"]))
	}
	return fmt.Sprintf("%d rounds, medians [min–max]", n)
}

// scale prints how mailvault's figures grow from store to store.
func scale(w io.Writer, stores []string, data map[string]map[string]map[string][]float64) {
	keys := []string{"full:wall", "full:rss", "repo_bytes_full", "index_bytes", "nochange:wall", "incr:wall", "mnt_find:wall", "mount_vmhwm_kb", "mount_rssanon_kb"}
	head := []string{"store"}
	for _, k := range keys {
		for _, f := range figures {
			if f.key == k {
				head = append(head, f.label)
			}
		}
	}
	fmt.Fprintf(w, "### mailvault by store size\n\n| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, s := range stores {
		d := data[s]["mailvault"]
		if d == nil {
			continue
		}
		cells := []string{s}
		for _, k := range keys {
			for _, f := range figures {
				if f.key == k {
					cells = append(cells, show(d[k], f))
				}
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
}

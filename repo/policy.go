package repo

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Policy says which snapshots of a series (one server and group) to keep,
// as restic's forget does: keep-last the newest Last; keep-daily the
// newest snapshot of each of the newest Daily days (UTC) that have one;
// weekly (ISO weeks) and monthly likewise. A snapshot kept by any rule is
// kept. Whatever the rules, the newest snapshot of the series and its
// newest complete one (the base of the next incremental run) are kept.
// Partial (--since) snapshots are kept only by keep-last, and count only
// there.
type Policy struct {
	Last, Daily, Weekly, Monthly int
}

// Empty reports whether the policy has no rule.
func (p Policy) Empty() bool { return p.Last <= 0 && p.Daily <= 0 && p.Weekly <= 0 && p.Monthly <= 0 }

func (p Policy) String() string {
	var s []string
	for _, r := range []struct {
		n    int
		name string
	}{{p.Last, "last"}, {p.Daily, "daily"}, {p.Weekly, "weekly"}, {p.Monthly, "monthly"}} {
		if r.n > 0 {
			s = append(s, fmt.Sprintf("keep-%s=%d", r.name, r.n))
		}
	}
	return strings.Join(s, " ")
}

// Candidate is one snapshot of a series, as the policy sees it.
type Candidate struct {
	Time    int64 // unix ns
	Partial bool
}

// Verdict is what the policy decided for one snapshot: kept by the named
// rules, or forgotten when Reasons is empty.
type Verdict struct {
	Candidate
	Reasons []string // "last", "daily", "weekly", "monthly", "newest", "newest complete"
}

// Keep reports whether the snapshot is kept.
func (v Verdict) Keep() bool { return len(v.Reasons) > 0 }

// Apply decides for the snapshots of one series; the verdicts come newest
// first.
func (p Policy) Apply(snaps []Candidate) []Verdict {
	out := make([]Verdict, len(snaps))
	for i, c := range snaps {
		out[i].Candidate = c
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time > out[j].Time })
	for i := range out {
		if i < p.Last {
			out[i].Reasons = append(out[i].Reasons, "last")
		}
	}
	buckets := []struct {
		name string
		n    int
		key  func(time.Time) string
	}{
		{"daily", p.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{"weekly", p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{"monthly", p.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
	}
	for _, b := range buckets {
		last, kept := "", 0
		for i := range out {
			if kept >= b.n {
				break
			}
			if out[i].Partial {
				continue
			}
			k := b.key(time.Unix(0, out[i].Time).UTC())
			if k != last {
				out[i].Reasons = append(out[i].Reasons, b.name)
				last = k
				kept++
			}
		}
	}
	if len(out) > 0 && !out[0].Keep() {
		out[0].Reasons = append(out[0].Reasons, "newest")
	}
	for i := range out {
		if !out[i].Partial {
			if !out[i].Keep() {
				out[i].Reasons = append(out[i].Reasons, "newest complete")
			}
			break
		}
	}
	return out
}

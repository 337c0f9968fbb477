package repo

import (
	"strings"
	"testing"
	"time"
)

func at(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

// verdicts renders the policy's verdicts as "time:reasons" lines, newest
// first, "-" for a forgotten snapshot.
func verdicts(p Policy, snaps []Candidate) string {
	var out []string
	for _, v := range p.Apply(snaps) {
		r := "-"
		if v.Keep() {
			r = strings.Join(v.Reasons, ",")
		}
		out = append(out, time.Unix(0, v.Time).UTC().Format("01-02T15")+":"+r)
	}
	return strings.Join(out, " ")
}

func TestPolicy(t *testing.T) {
	// Two a day at 02 and 14 UTC from Jan 28 to Feb 3 (a month boundary;
	// 2026-02-01 is a Sunday, so the ISO week changes on Feb 2).
	var snaps []Candidate
	for d := time.Date(2026, 1, 28, 2, 0, 0, 0, time.UTC); d.Before(time.Date(2026, 2, 4, 0, 0, 0, 0, time.UTC)); d = d.Add(12 * time.Hour) {
		snaps = append(snaps, Candidate{Time: d.UnixNano()})
	}
	for _, c := range []struct {
		name string
		p    Policy
		want string
	}{
		{"last 3", Policy{Last: 3},
			"02-03T14:last 02-03T02:last 02-02T14:last 02-02T02:- 02-01T14:- 02-01T02:- 01-31T14:- 01-31T02:- 01-30T14:- 01-30T02:- 01-29T14:- 01-29T02:- 01-28T14:- 01-28T02:-"},
		{"daily 3: the newest of each day", Policy{Daily: 3},
			"02-03T14:daily 02-03T02:- 02-02T14:daily 02-02T02:- 02-01T14:daily 02-01T02:- 01-31T14:- 01-31T02:- 01-30T14:- 01-30T02:- 01-29T14:- 01-29T02:- 01-28T14:- 01-28T02:-"},
		{"weekly 2 across a week boundary", Policy{Weekly: 2},
			"02-03T14:weekly 02-03T02:- 02-02T14:- 02-02T02:- 02-01T14:weekly 02-01T02:- 01-31T14:- 01-31T02:- 01-30T14:- 01-30T02:- 01-29T14:- 01-29T02:- 01-28T14:- 01-28T02:-"},
		{"monthly 5 with two months that have snapshots", Policy{Monthly: 5},
			"02-03T14:monthly 02-03T02:- 02-02T14:- 02-02T02:- 02-01T14:- 02-01T02:- 01-31T14:monthly 01-31T02:- 01-30T14:- 01-30T02:- 01-29T14:- 01-29T02:- 01-28T14:- 01-28T02:-"},
		{"rules combine", Policy{Last: 1, Daily: 2, Monthly: 2},
			"02-03T14:last,daily,monthly 02-03T02:- 02-02T14:daily 02-02T02:- 02-01T14:- 02-01T02:- 01-31T14:monthly 01-31T02:- 01-30T14:- 01-30T02:- 01-29T14:- 01-29T02:- 01-28T14:- 01-28T02:-"},
	} {
		if got := verdicts(c.p, snaps); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func TestPolicyDaysAreUTC(t *testing.T) {
	// 23:30 and 00:30 UTC are two days, whatever the local zone says.
	snaps := []Candidate{{Time: at("2026-03-01T23:30:00Z")}, {Time: at("2026-03-02T00:30:00Z")}}
	if got, want := verdicts(Policy{Daily: 2}, snaps), "03-02T00:daily 03-01T23:daily"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// The same instants written with an offset are the same days.
	loc := time.FixedZone("UTC+5", 5*3600)
	snaps = []Candidate{{Time: time.Date(2026, 3, 2, 4, 30, 0, 0, loc).UnixNano()}, {Time: time.Date(2026, 3, 2, 5, 30, 0, 0, loc).UnixNano()}}
	if got, want := verdicts(Policy{Daily: 2}, snaps), "03-02T00:daily 03-01T23:daily"; got != want {
		t.Errorf("with an offset: got %s, want %s", got, want)
	}
}

func TestPolicyPartialAndNewest(t *testing.T) {
	snaps := []Candidate{
		{Time: at("2026-05-01T02:00:00Z")},
		{Time: at("2026-05-02T02:00:00Z")},
		{Time: at("2026-05-03T02:00:00Z"), Partial: true},
		{Time: at("2026-05-03T12:00:00Z"), Partial: true},
	}
	// Daily rules skip partial snapshots; the newest (partial) is kept
	// anyway, and so is the newest complete one, the next run's base.
	if got, want := verdicts(Policy{Daily: 1}, snaps), "05-03T12:newest 05-03T02:- 05-02T02:daily 05-01T02:-"; got != want {
		t.Errorf("daily 1: got %s, want %s", got, want)
	}
	if got, want := verdicts(Policy{Last: 1}, snaps), "05-03T12:last 05-03T02:- 05-02T02:newest complete 05-01T02:-"; got != want {
		t.Errorf("last 1: got %s, want %s", got, want)
	}
	if got, want := verdicts(Policy{Last: 3}, snaps), "05-03T12:last 05-03T02:last 05-02T02:last 05-01T02:-"; got != want {
		t.Errorf("last 3: got %s, want %s", got, want)
	}
	if got := verdicts(Policy{Last: 1}, nil); got != "" {
		t.Errorf("no snapshots: %q", got)
	}
}

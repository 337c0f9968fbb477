package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mailvault/mailvault/repo"
)

func init() {
	var p repo.Policy
	var dryRun bool
	register(&command{
		name:    "forget",
		args:    "[SERVER[/GROUP]]",
		summary: "forget the snapshots a retention policy does not keep (prune frees their space)",
		help: `
Applies the policy to each series of snapshots (one server and group):
--keep-last N keeps the newest N; --keep-daily N the newest snapshot of each
of the newest N days (UTC) that have one; --keep-weekly and --keep-monthly
likewise by ISO week and month. A snapshot kept by any rule is kept. The
newest snapshot of a series and its newest complete one are always kept;
partial (--since) snapshots are kept only by --keep-last.

Each snapshot is printed with keep or forget and the rules that keep it.
A forgotten snapshot is recorded in REPO/forgotten/ (archives are never
changed); it no longer shows in snapshots, ls, restore, locate or the
mount. Its space is freed by 'mailvault prune'. --dry-run changes nothing.`,
		flags: func(f *flag.FlagSet, e *env) {
			f.IntVar(&p.Last, "keep-last", 0, "keep the newest `N` snapshots")
			f.IntVar(&p.Daily, "keep-daily", 0, "keep the newest snapshot of each of the newest `N` days")
			f.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the newest `N` weeks")
			f.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the newest `N` months")
			f.BoolVar(&dryRun, "dry-run", false, "print what would be forgotten, change nothing")
			f.BoolVar(&e.json, "json", false, "print the verdicts as one JSON object")
		},
		run: func(e *env, args []string) error {
			if len(args) > 1 {
				return usagef("want at most one SERVER[/GROUP]")
			}
			if p.Last < 0 || p.Daily < 0 || p.Weekly < 0 || p.Monthly < 0 {
				return usagef("a --keep-* count must not be negative")
			}
			if p.Empty() {
				return usagef("no rule: give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly")
			}
			opt := repo.ForgetOptions{DryRun: dryRun}
			if len(args) == 1 {
				parts := strings.Split(strings.Trim(args[0], "/"), "/")
				if len(parts) > 2 || parts[0] == "" {
					return usagef("%q: want SERVER or SERVER/GROUP", args[0])
				}
				opt.Server = parts[0]
				if len(parts) == 2 {
					opt.Group = parts[1]
				}
			}
			dir, err := e.needRepo()
			if err != nil {
				return err
			}
			l := repo.Layout(dir)
			var run *repo.RunLog
			if !dryRun {
				run, _ = l.StartRun("forget", "policy="+strings.ReplaceAll(p.String(), " ", ","), "scope="+opt.Server+"/"+opt.Group)
			}
			series, problems, err := l.Forget(p, opt)
			for _, pr := range problems {
				fmt.Fprintf(e.stderr, "mailvault: warning: %v (not forgotten)\n", pr)
				run.Event("WARN", pr.Error())
			}
			if err != nil {
				run.End("FAILED forget | " + err.Error())
				return err
			}
			kept, forgotten := 0, 0
			for _, s := range series {
				kept += s.Kept
				forgotten += s.Forgotten
				for _, v := range s.Snapshots {
					if !v.Keep() {
						run.Event("FORGOT", fmt.Sprintf("%s/%s %s %s", s.Server, s.Group, nanoStamp(v.Time), strings.Join(v.Archives, ",")))
					}
				}
			}
			summary := fmt.Sprintf("%d snapshots kept, %d forgotten in %d series", kept, forgotten, len(series))
			run.End("OK forget | " + summary + "; run 'mailvault prune' to free their space")
			if e.json {
				return printForgetJSON(e, series, dryRun)
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
			for _, s := range series {
				fmt.Fprintf(tw, "%s/%s: %d kept, %d forgotten\n", s.Server, s.Group, s.Kept, s.Forgotten)
				for _, v := range s.Snapshots {
					what, why := "forget", ""
					if v.Keep() {
						what, why = "keep", strings.Join(v.Reasons, ",")
					}
					kind := ""
					if v.Partial {
						kind = "partial"
					}
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", nanoStamp(v.Time), what, why, kind, strings.Join(v.Archives, " "))
				}
			}
			tw.Flush()
			switch {
			case dryRun:
				fmt.Fprintf(e.stdout, "dry run: %s would be forgotten; nothing was changed\n", plural(forgotten, "snapshot"))
			case forgotten > 0:
				fmt.Fprintf(e.stdout, "%s forgotten; run 'mailvault prune' to free their space\n", plural(forgotten, "snapshot"))
			default:
				fmt.Fprintln(e.stdout, "nothing to forget")
			}
			return nil
		},
	})
}

func printForgetJSON(e *env, series []repo.SeriesVerdicts, dryRun bool) error {
	type snap struct {
		Time     string   `json:"time"`
		Keep     bool     `json:"keep"`
		Reasons  []string `json:"reasons"`
		Partial  bool     `json:"partial"`
		Archives []string `json:"archives"`
	}
	type ser struct {
		Server    string `json:"server"`
		Group     string `json:"group"`
		Kept      int    `json:"kept"`
		Forgotten int    `json:"forgotten"`
		Snapshots []snap `json:"snapshots"`
	}
	out := struct {
		DryRun bool  `json:"dry_run"`
		Series []ser `json:"series"`
	}{DryRun: dryRun, Series: []ser{}}
	for _, s := range series {
		o := ser{Server: s.Server, Group: s.Group, Kept: s.Kept, Forgotten: s.Forgotten}
		for _, v := range s.Snapshots {
			o.Snapshots = append(o.Snapshots, snap{Time: nanoStamp(v.Time), Keep: v.Keep(), Reasons: append([]string{}, v.Reasons...), Partial: v.Partial, Archives: v.Archives})
		}
		out.Series = append(out.Series, o)
	}
	return json.NewEncoder(e.stdout).Encode(out)
}

// nanoStamp is a snapshot time as --at takes it: to the nanosecond when
// two runs share a second.
func nanoStamp(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

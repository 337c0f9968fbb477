package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailvault/mailvault/repo"
)

type logFlags struct {
	last    int
	verbose bool
}

func init() {
	var lf logFlags
	register(&command{
		name:    "log",
		args:    "",
		summary: "show the most recent runs from the repository's log, newest last",
		help: `
Each run shows as one line: when it started, what it did (command, scope,
kind, attended or unattended) and its verdict, e.g.
    2026-12-03T02:30:00Z backup /staff (incremental, unattended): FULL BACKUP completed successfully | …
then the objects it could not handle, indented (the first 5; --verbose for
all, with hook output). A run that is still going or was killed shows as
UNFINISHED. The log itself is REPO/logs/backup.log, plain text; it keeps
the last 1000 runs (backup --log-keep).`,
		flags: func(f *flag.FlagSet, e *env) {
			f.IntVar(&lf.last, "last", 10, "show the last `N` runs (0: all)")
			f.BoolVar(&lf.verbose, "verbose", false, "show every line of each run")
			f.BoolVar(&e.json, "json", false, "print the runs as JSON lines, with all their lines")
		},
		run: func(e *env, args []string) error { return runLog(e, &lf, args) },
	})
}

func runLog(e *env, lf *logFlags, args []string) error {
	if len(args) > 0 {
		return usagef("log takes no arguments")
	}
	if lf.last < 0 {
		return usagef("--last must be 0 or more")
	}
	dir, err := e.needRepo()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "mailvault-repository")); err != nil {
		return fmt.Errorf("%s: %w", dir, repo.ErrNotRepository)
	}
	runs, err := repo.Layout(dir).Runs()
	if err != nil {
		return fmt.Errorf("cannot read the log: %w", err)
	}
	if lf.last > 0 && len(runs) > lf.last {
		runs = runs[len(runs)-lf.last:]
	}
	if e.json {
		enc := json.NewEncoder(e.stdout)
		for _, r := range runs {
			enc.Encode(r)
		}
		return nil
	}
	if len(runs) == 0 {
		fmt.Fprintln(e.stdout, "The log holds no runs yet.")
		return nil
	}
	for _, r := range runs {
		fmt.Fprintln(e.stdout, runLine(r))
		shown := 0
		for _, ev := range r.Events {
			if !lf.verbose && (ev.Word == "HOOK" || shown == 5) {
				continue
			}
			fmt.Fprintf(e.stdout, "    %s %s\n", ev.Word, ev.Text)
			shown++
		}
		if hidden := countProblems(r) - shown; !lf.verbose && hidden > 0 {
			fmt.Fprintf(e.stdout, "    … and %d more (--verbose)\n", hidden)
		}
	}
	return nil
}

// runLine is a run's one-line account.
func runLine(r repo.Run) string {
	var what []string
	for _, k := range []string{"kind", "mode"} {
		if v := r.Fields[k]; v != "" {
			what = append(what, v)
		}
	}
	head := r.Start.Format("2006-01-02T15:04:05Z") + " " + r.Command
	if s := r.Fields["scope"]; s != "" {
		head += " " + s
	}
	if len(what) > 0 {
		head += " (" + strings.Join(what, ", ") + ")"
	}
	verdict := r.Verdict
	if r.Status == "UNFINISHED" {
		verdict = "UNFINISHED: still running, or killed before it could say"
	}
	return head + ": " + verdict
}

func countProblems(r repo.Run) int {
	n := 0
	for _, ev := range r.Events {
		if ev.Word != "HOOK" {
			n++
		}
	}
	return n
}

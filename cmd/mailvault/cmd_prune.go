package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/mailvault/mailvault/repo"
)

func init() {
	var dryRun bool
	register(&command{
		name:    "prune",
		summary: "free the space of forgotten snapshots that no kept snapshot needs",
		help: `
Reads every archive, computes what the kept snapshots need (incremental
runs keep a message's bytes in the archive that first stored it, and their
folders may be told as changes of records of earlier archives), and for
each archive of a forgotten snapshot deletes it, rewrites it with only
what is needed (flagged forgotten, same snapshot time), or leaves it. The
plan is printed before anything is changed; --dry-run prints only the plan.

A kill at any point loses nothing kept: replacements are synced and moved
into archives/ before any file is deleted; run prune again to finish.
Prune runs beside a mount but not beside a backup (exit 4 either way).`,
		flags: func(f *flag.FlagSet, e *env) {
			f.BoolVar(&dryRun, "dry-run", false, "print the plan, change nothing")
			f.BoolVar(&e.json, "json", false, "print the report as one JSON object")
		},
		run: func(e *env, args []string) error {
			if len(args) > 0 {
				return usagef("prune takes no arguments")
			}
			dir, err := e.needRepo()
			if err != nil {
				return err
			}
			l := repo.Layout(dir)
			var run *repo.RunLog
			if !dryRun {
				run, _ = l.StartRun("prune")
			}
			opt := repo.PruneOptions{DryRun: dryRun}
			if !e.json {
				opt.Plan = func(rep *repo.PruneReport) { printPrunePlan(e, rep, dryRun) }
			}
			rep, err := l.Prune(opt)
			if rep != nil {
				for _, p := range rep.Problems {
					fmt.Fprintf(e.stderr, "mailvault: warning: %v\n", p)
					run.Event("WARN", p.Error())
				}
				for _, a := range rep.Actions {
					if a.Action != repo.PruneKeep && !dryRun {
						run.Event("PRUNE", fmt.Sprintf("%s archives/%s (%s)%s", a.Action, a.Archive, size(a.Size), newName(a)))
					}
				}
			}
			if err != nil {
				run.End("FAILED prune | " + err.Error())
				return err
			}
			summary := fmt.Sprintf("%d archives deleted, %d rewritten, %s freed of %s", rep.Deleted, rep.Rewritten, size(rep.Freed), size(rep.Bytes))
			run.End("OK prune | " + summary)
			if e.json {
				return printPruneJSON(e, rep, dryRun)
			}
			if !dryRun {
				fmt.Fprintln(e.stdout, "pruned:", summary)
			}
			return nil
		},
	})
}

func newName(a repo.PruneAction) string {
	if a.NewArchive == "" {
		return ""
	}
	return fmt.Sprintf(" → archives/%s (%s)", a.NewArchive, size(a.NewSize))
}

func printPrunePlan(e *env, rep *repo.PruneReport, dryRun bool) {
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tSNAPSHOT\tSERVER/GROUP\tSIZE\tBLOBS KEPT\tARCHIVE")
	deletes, rewrites := 0, 0
	for _, a := range rep.Actions {
		kept := fmt.Sprintf("%d of %d", a.KeptBlobs, a.Blobs)
		if a.Origin {
			kept += " +folders"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\n", a.Action, nanoStamp(a.Time), a.Server, a.Group, size(a.Size), kept, a.Archive)
		switch a.Action {
		case repo.PruneDelete:
			deletes++
		case repo.PruneRewrite:
			rewrites++
		}
	}
	tw.Flush()
	verb := "will"
	if dryRun {
		verb = "would"
	}
	fmt.Fprintf(e.stdout, "prune %s delete %d and rewrite %d of %d archives (%d of kept snapshots), freeing about %s of %s\n",
		verb, deletes, rewrites, rep.Archives, rep.Kept, size(rep.Freed), size(rep.Bytes))
}

func printPruneJSON(e *env, rep *repo.PruneReport, dryRun bool) error {
	type act struct {
		Action     string `json:"action"`
		Archive    string `json:"archive"`
		Time       string `json:"time"`
		Server     string `json:"server"`
		Group      string `json:"group"`
		Size       int64  `json:"size"`
		Blobs      int    `json:"blobs"`
		KeptBlobs  int    `json:"kept_blobs"`
		Origin     bool   `json:"origin_of_kept_folders"`
		NewArchive string `json:"new_archive,omitempty"`
		NewSize    int64  `json:"new_size,omitempty"`
	}
	out := struct {
		DryRun    bool  `json:"dry_run"`
		Archives  int   `json:"archives"`
		Kept      int   `json:"archives_of_kept_snapshots"`
		Bytes     int64 `json:"bytes"`
		Freed     int64 `json:"bytes_freed"`
		Deleted   int   `json:"deleted"`
		Rewritten int   `json:"rewritten"`
		Actions   []act `json:"actions"`
	}{DryRun: dryRun, Archives: rep.Archives, Kept: rep.Kept, Bytes: rep.Bytes, Freed: rep.Freed, Deleted: rep.Deleted, Rewritten: rep.Rewritten, Actions: []act{}}
	for _, a := range rep.Actions {
		out.Actions = append(out.Actions, act{a.Action, a.Archive, nanoStamp(a.Time), a.Server, a.Group, a.Size, a.Blobs, a.KeptBlobs, a.Origin, a.NewArchive, a.NewSize})
	}
	return json.NewEncoder(e.stdout).Encode(out)
}

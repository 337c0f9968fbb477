package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
	"github.com/mailvault/mailvault/repo"
)

func init() {
	register(&command{
		name:    "snapshots",
		args:    "[SERVER]",
		summary: "list the snapshots in the repository, oldest first",
		flags: func(f *flag.FlagSet, e *env) {
			f.BoolVar(&e.json, "json", false, "print JSON lines instead of a table")
		},
		run: func(e *env, args []string) error {
			if len(args) > 1 {
				return usagef("want at most one server name")
			}
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			r, err := e.openRepo(true)
			if err != nil {
				return err
			}
			defer r.Close()
			snaps, err := r.Snapshots(server)
			if err != nil {
				return err
			}
			if e.json {
				enc := json.NewEncoder(e.stdout)
				for _, s := range snaps {
					enc.Encode(map[string]any{
						"time": stamp(s.Time), "server": s.Server, "group": s.Group, "archive": r.ArchiveName(s.Archive),
						"users": s.Users, "folders": s.Folders, "messages": s.Msgs, "bytes": s.Bytes, "kind": snapshotKind(r, s),
					})
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tSERVER\tGROUP\tKIND\tUSERS\tFOLDERS\tMESSAGES\tSIZE\tARCHIVE")
			for _, s := range snaps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", stamp(s.Time), s.Server, s.Group, snapshotKind(r, s), s.Users, s.Folders, s.Msgs, size(s.Bytes), r.ArchiveName(s.Archive))
			}
			return tw.Flush()
		},
	})
}

// snapshotKind says how a snapshot was taken: "full" (its archive restores
// on its own), "incremental", or "partial" (--since: some messages only).
func snapshotKind(r *repo.Repo, s index.Snapshot) string {
	a, _ := r.Archive(s.Archive)
	switch {
	case s.Partial:
		return "partial"
	case a != nil && a.Header.Flags&archive.FlagFull != 0:
		return "full"
	}
	return "incremental"
}

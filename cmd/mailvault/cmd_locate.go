package main

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/mailvault/mailvault/repo"
	"github.com/mailvault/mailvault/restore"
)

type locateFlags struct {
	at      string
	verbose bool
}

func init() {
	var lf locateFlags
	register(&command{
		name:    "locate",
		args:    "SCOPE",
		summary: "name the archive files that a restore of SCOPE reads",
		help: `
SCOPE is /SERVER[/GROUP[/USER[/FOLDER[/MESSAGE-FILE]]]], as restore takes it.
Prints the archive files (their names under REPO/archives/) that a restore
of SCOPE from the latest backup (or the one chosen by --at) reads, one per
line, sorted: the archive of each user's snapshot, which holds the folders
(and, for a folder an incremental run told as a change, the earlier archive
holding it whole), and every archive that holds bytes of the messages, so
that an admin knows which files to fetch back from tape (and 'mailvault
import').

--verbose prints a table of what each archive gives: folders, messages and
bytes (each blob counted once). Messages whose bytes are in no archive of
the repository (an incremental archive imported without the earlier ones)
are reported as missing, and the exit code is then 3.`,
		flags: func(f *flag.FlagSet, e *env) {
			f.StringVar(&lf.at, "at", "", "as of the latest backup taken at or before `TIME` (RFC 3339 or YYYY-MM-DD)")
			f.BoolVar(&lf.verbose, "verbose", false, "print a table with the folders, messages and bytes of each archive")
			f.BoolVar(&lf.verbose, "v", false, "short for --verbose")
			f.BoolVar(&e.json, "json", false, "print JSON lines: one per archive, and one for the missing messages")
		},
		run: func(e *env, args []string) error { return runLocate(e, &lf, args) },
	})
}

func runLocate(e *env, lf *locateFlags, args []string) error {
	if len(args) != 1 {
		return usagef("want one scope, e.g. /mail1/staff/alice@example.org")
	}
	sc, err := restore.ParseScope(args[0])
	if err != nil {
		return usagef("%v", err)
	}
	at, err := parseTime(lf.at)
	if err != nil {
		return usagef("--at: %v", err)
	}
	r, err := e.openRepo(true)
	if err != nil {
		return err
	}
	defer r.Close()
	loc, err := r.Locate(repo.LocateQuery{Server: sc.Server, Group: sc.Group, User: sc.User, Rest: sc.Rest, At: at})
	if err != nil {
		return err
	}
	m := loc.Missing
	switch {
	case e.json:
		enc := json.NewEncoder(e.stdout)
		for _, a := range loc.Archives {
			if err := enc.Encode(map[string]any{"archive": a.Name, "path": r.ArchivePath(a.Name),
				"folders": a.Folders, "messages": a.Messages, "bytes": a.Bytes}); err != nil {
				return err
			}
		}
		if loc.LeftOut > 0 {
			if err := enc.Encode(map[string]any{"left_out": true, "messages": loc.LeftOut, "bytes": loc.LeftOutBytes}); err != nil {
				return err
			}
		}
		if m.Messages > 0 {
			blobs := make([]string, 0, len(m.Blobs))
			for _, h := range m.Blobs {
				blobs = append(blobs, hex.EncodeToString(h[:]))
			}
			if err := enc.Encode(map[string]any{"missing": true, "messages": m.Messages, "bytes": m.Bytes, "blobs": blobs}); err != nil {
				return err
			}
		}
	case lf.verbose:
		tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ARCHIVE\tFOLDERS\tMESSAGES\tSIZE")
		for _, a := range loc.Archives {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", a.Name, a.Folders, a.Messages, size(a.Bytes))
		}
		if m.Messages > 0 {
			fmt.Fprintf(tw, "(missing: in no archive)\t\t%d\t%s\n", m.Messages, size(m.Bytes))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: %d users, %d folders, %d messages (%s) in %d archives under %s\n",
			sc, loc.Users, loc.Folders, loc.Messages, size(loc.Bytes), len(loc.Archives), r.ArchivesDir())
	default:
		for _, a := range loc.Archives {
			fmt.Fprintln(e.stdout, a.Name)
		}
	}
	if loc.LeftOut > 0 && !e.json {
		fmt.Fprintf(e.stderr, "mailvault: %d messages (%s) of %s are listed without their bytes: backup --max-size left them out, no archive holds them yet; a later backup stores them\n",
			loc.LeftOut, size(loc.LeftOutBytes), sc)
	}
	if m.Messages > 0 {
		return partialError{fmt.Sprintf("%d messages (%s) of %s are missing: their bytes (%d blobs) are in no archive of the repository; "+
			"import the earlier archives of the same server and group that hold them", m.Messages, size(m.Bytes), sc, len(m.Blobs))}
	}
	return nil
}

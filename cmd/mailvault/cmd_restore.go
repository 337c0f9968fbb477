package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/maildir"
	"github.com/mailvault/mailvault/restore"
)

type restoreFlags struct {
	to, toUser, toFolder string
	at                   string
	file                 string
	spool                string
}

func init() {
	var rf restoreFlags
	register(&command{
		name:    "restore",
		args:    "SCOPE --to 'maildir:TEMPLATE'",
		summary: "restore a message, folder, user, group or server into a Dovecot store",
		help: `
SCOPE is /SERVER[/GROUP[/USER[/FOLDER[/MESSAGE-FILE]]]], e.g.
    mailvault restore /mail1/staff/alice@example.org/Archive/2002 --to 'maildir:/var/vmail/%d/%n/Maildir'

A folder that does not exist in the target is recreated exactly as backed up:
same UIDVALIDITY, UIDs, next UID, mailbox GUID, keywords, flags, dates and
file names, so mail clients keep their caches. Into a folder that exists,
messages are added while holding Dovecot's dovecot-uidlist.lock: messages
already there (same content) are skipped, the others get new UIDs after the
existing ones, with their flags and dates. Nothing is overwritten; running
the same restore twice changes nothing. Files are owned by the owner of the
target store.

--to-user and --to-folder put the messages elsewhere, e.g.
--to-folder Restored/2026-11-20; such a folder is new and gets new UIDs.

-f FILE restores straight from an archive file without a repository; -f -
reads an archive stream from standard input in one pass (its message bytes
are kept in a temporary spool file under --spool until the end).`,
		flags: func(f *flag.FlagSet, e *env) {
			f.StringVar(&rf.to, "to", "", "target store, a Dovecot location 'maildir:TEMPLATE' (required)")
			f.StringVar(&rf.toUser, "to-user", "", "restore into this `user` instead")
			f.StringVar(&rf.toFolder, "to-folder", "", "restore into (or under) this new `folder`")
			f.StringVar(&rf.at, "at", "", "restore the latest backup taken at or before `TIME` (RFC 3339 or YYYY-MM-DD)")
			f.StringVar(&rf.file, "f", "", "restore from this archive `file` (- for standard input) instead of the repository")
			f.StringVar(&rf.spool, "spool", os.TempDir(), "`directory` for the spool file of -f -")
			f.BoolVar(&e.json, "json", false, "print the summary as JSON")
		},
		run: func(e *env, args []string) error { return runRestore(e, &rf, args) },
	})
}

func runRestore(e *env, rf *restoreFlags, args []string) error {
	if len(args) != 1 {
		return usagef("want one scope, e.g. /mail1/staff/alice@example.org/INBOX")
	}
	sc, err := restore.ParseScope(args[0])
	if err != nil {
		return usagef("%v", err)
	}
	if rf.to == "" {
		return usagef("--to 'maildir:TEMPLATE' is required: the store to restore into")
	}
	target, err := maildir.ParseLocation(rf.to)
	if err != nil {
		return usagef("--to: %v", err)
	}
	at, err := parseTime(rf.at)
	if err != nil {
		return usagef("--at: %v", err)
	}
	var jobs []restore.Job
	var blobs restore.Blobs
	source := ""
	switch rf.file {
	case "":
		r, err := e.openRepo(true)
		if err != nil {
			return err
		}
		defer r.Close()
		// A restore reads the pieces of a batch in the order they lie in
		// the archives: a frame is needed while the writers are in it.
		r.SetCachedFrames(restore.FramesInUse)
		if jobs, err = restore.JobsFromCatalog(r, sc, at); err != nil {
			return err
		}
		blobs = r
	case "-":
		sr, err := archive.NewStreamReader(os.Stdin)
		if err != nil {
			return fmt.Errorf("standard input: %w", err)
		}
		folders, spool, err := restore.ReadStream(sr, rf.spool)
		if err != nil {
			return fmt.Errorf("standard input: %w", err)
		}
		defer spool.Close()
		if jobs, err = restore.JobsFromFolders(sr.Header(), folders, sc); err != nil {
			return err
		}
		blobs = spool
		source = "the archive on standard input"
	default:
		ar, err := archive.OpenFile(rf.file)
		if err != nil {
			return err
		}
		defer ar.Close()
		folders, err := ar.Folders()
		if err != nil {
			return fmt.Errorf("%s: %w", rf.file, err)
		}
		if jobs, err = restore.JobsFromFolders(ar.Header(), folders, sc); err != nil {
			return err
		}
		blobs = restore.NewArchiveBlobs(ar.Reader)
		source = "archive " + rf.file
	}
	res, err := restore.Run(restore.Options{Target: target, ToUser: rf.toUser, ToFolder: rf.toFolder, Source: source}, jobs, blobs)
	if err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintf(e.stderr, "mailvault: not restored: %v\n", p)
	}
	printRestoreSummary(e, res)
	if len(res.Problems) > 0 {
		return partialError{fmt.Sprintf("PARTIAL restore: %d folders had problems (listed above)", len(res.Problems))}
	}
	return nil
}

func printRestoreSummary(e *env, r *restore.Result) {
	if e.json {
		var problems []string
		for _, p := range r.Problems {
			problems = append(problems, p.Error())
		}
		json.NewEncoder(e.stdout).Encode(map[string]any{"users": r.Users, "folders": r.Folders, "created": r.Created,
			"added": r.Added, "skipped": r.Skipped, "left_out": r.LeftOut, "problems": problems})
		return
	}
	if e.quiet {
		return
	}
	fmt.Fprintf(e.stdout, "Restored %d users, %d folders (%d recreated with their original UIDs): %d messages added, %d already there and skipped.\n",
		r.Users, r.Folders, r.Created, r.Added, r.Skipped)
	if r.LeftOut > 0 {
		fmt.Fprintf(e.stdout, "%d messages were not restored: backup --max-size left them out of this snapshot (named above); a later snapshot has them.\n", r.LeftOut)
	}
}

// parseTime reads --at: RFC 3339, a snapshot name, or a date. A time is
// taken as the end of what it names (the end of that second, or of that
// day, UTC), so a time copied from 'snapshots', which prints seconds,
// includes that snapshot. Empty is 0: the latest.
func parseTime(s string) (int64, error) {
	_, end, err := parseSpan(s)
	return end, err
}

// parseSpan reads a time as the span it names: an instant given to the
// nanosecond, a second, or a day. --at uses its end, --since its start.
func parseSpan(s string) (start, end int64, err error) {
	if s == "" {
		return 0, 0, nil
	}
	var t time.Time
	unit := time.Duration(0)
	switch {
	case parseAny(&t, s, "2006-01-02"):
		unit = 24 * time.Hour
	case parseAny(&t, s, time.RFC3339Nano, "2006-01-02T15:04:05", "20060102T150405Z"):
		if !strings.Contains(s, ".") { // Go reads fractions with any layout
			unit = time.Second
		}
	default:
		return 0, 0, fmt.Errorf("cannot read time %q: use RFC 3339 (2026-11-22T03:05:00Z) or a date (2026-11-22)", s)
	}
	if t.Year() < 1678 || t.Year() > 2261 {
		return 0, 0, fmt.Errorf("time %q is out of range (years 1678 to 2261)", s)
	}
	start = t.UnixNano()
	end = start
	if unit > 0 {
		end = t.Add(unit - 1).UnixNano()
	}
	return start, end, nil
}

// parseAny parses s with the first layout that fits.
func parseAny(t *time.Time, s string, layouts ...string) bool {
	for _, l := range layouts {
		if v, err := time.Parse(l, s); err == nil {
			*t = v
			return true
		}
	}
	return false
}

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mailvault/mailvault/backup"
	"github.com/mailvault/mailvault/groups"
	"github.com/mailvault/mailvault/index"
	"github.com/mailvault/mailvault/maildir"
	"github.com/mailvault/mailvault/repo"
)

type backupFlags struct {
	server string
	groups string
}

func init() {
	var bf backupFlags
	register(&command{
		name:    "backup",
		args:    "'maildir:TEMPLATE' [SCOPE]",
		summary: "back up a Dovecot Maildir store into the repository",
		help: `
TEMPLATE is a Dovecot mail location: the path of each user's Maildir with
%d (domain), %n (local part) or %u (whole user), e.g.
    mailvault backup --repo /srv/mailvault --server mail1 'maildir:/var/vmail/%d/%n/Maildir'
The user id is %n@%d (or %u or %n when the template has no %d).

Users are sorted into backup groups by --groups FILE, lines of NAME=REGEX:
the regex must match the whole user id, the first matching line wins, and
users matching no line are in the group "user". SCOPE limits the run to
"/" (everything, the default), "/GROUP" or "/GROUP/USER".

Each group is written to its own archive; a message stored in several
folders of a group is stored once. A file that cannot be read is named, the
rest is backed up and the run ends PARTIAL with exit code 3.`,
		flags: func(fs *flag.FlagSet, e *env) {
			host, _ := os.Hostname()
			host, _, _ = strings.Cut(host, ".")
			fs.StringVar(&bf.server, "server", host, "`name` of the server being backed up")
			fs.StringVar(&bf.groups, "groups", "", "backup groups `file` of NAME=REGEX lines")
			fs.BoolVar(&e.quiet, "quiet", false, "print nothing but errors")
			fs.BoolVar(&e.json, "json", false, "print the summary as JSON")
		},
		run: func(e *env, args []string) error { return runBackup(e, &bf, args) },
	})
}

func runBackup(e *env, bf *backupFlags, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return usagef("want a source 'maildir:TEMPLATE' and an optional scope")
	}
	dir, err := e.needRepo()
	if err != nil {
		return err
	}
	if err := groups.ValidName(bf.server); err != nil {
		return usagef("--server: %v", err)
	}
	src, err := maildir.ParseLocation(args[0])
	if err != nil {
		return usagef("%v", err)
	}
	set, err := groups.Load(bf.groups)
	if err != nil {
		return usagef("%v", err)
	}
	var scope groups.Scope
	if len(args) == 2 {
		if scope, err = groups.ParseScope(args[1]); err != nil {
			return usagef("%v", err)
		}
	}
	if err := repo.Init(dir); err != nil {
		return err
	}
	l := repo.Layout(dir)
	prog := newProgress(e)
	opt := backup.Options{Repo: l, Server: bf.server, Source: src, Groups: set, Scope: scope, Progress: prog.update}
	l.AppendLog(fmt.Sprintf("%s START backup server=%s scope=%s source=%s", time.Now().UTC().Format(time.RFC3339), bf.server, scope, src))
	res, err := backup.Run(opt)
	prog.done()
	for _, p := range res.Problems {
		fmt.Fprintf(e.stderr, "mailvault: not backed up: %v\n", p)
		l.AppendLog("  ERROR " + p.Error())
	}
	if err != nil {
		l.AppendLog(fmt.Sprintf("%s BACKUP FAILED | %v", time.Now().UTC().Format(time.RFC3339), err))
		if errors.Is(err, backup.ErrNothing) {
			return usagef("%v", err)
		}
		return err
	}
	indexNote := catalog(dir)
	summary := summarize(res)
	if e.json {
		printJSONSummary(e, res, indexNote)
	} else if !e.quiet {
		fmt.Fprintln(e.stdout, summary)
		if indexNote != "" {
			fmt.Fprintln(e.stdout, indexNote)
		}
	}
	status := "FULL BACKUP completed successfully"
	if res.Partial() {
		status = "PARTIAL BACKUP completed"
	}
	l.AppendLog(fmt.Sprintf("%s %s | %s", res.End.Format(time.RFC3339), status, oneLine(summary)))
	if res.Partial() {
		return partialError{fmt.Sprintf("PARTIAL backup: %d objects not backed up (listed above)", len(res.Problems))}
	}
	return nil
}

// catalog brings the index up to date with the new archives. A process
// that holds the index (a running mount) is left to do it.
func catalog(dir string) string {
	r, problems, err := repo.Open(dir, repo.Options{})
	if errors.Is(err, index.ErrLocked) {
		return "The index is held by another mailvault process (a mount?); the new archives are safe and will be indexed when the index is next opened."
	}
	if err != nil {
		return fmt.Sprintf("The archives are written, but the index could not be updated: %v", err)
	}
	defer r.Close()
	if len(problems) > 0 {
		return fmt.Sprintf("Indexed, but %d archives could not be read: %v", len(problems), problems[0])
	}
	return ""
}

func summarize(r *backup.Result) string {
	took := r.End.Sub(r.Start).Round(time.Millisecond)
	s := fmt.Sprintf("Backed up %d users, %d folders, %d messages in groups %s: %s read, %s new, %s stored in %d archives, in %s.",
		r.Users, r.Folders, r.Messages, strings.Join(r.Groups, ", "),
		size(r.BytesRead), size(r.BytesNew), size(r.BytesStored), len(r.Archives), took)
	if r.Vanished > 0 {
		s += fmt.Sprintf(" %d messages were expunged while the run read them and are not in this snapshot.", r.Vanished)
	}
	if r.Partial() {
		s += fmt.Sprintf(" PARTIAL: %d objects could not be backed up.", len(r.Problems))
	}
	return s
}

func printJSONSummary(e *env, r *backup.Result, note string) {
	status := "FULL"
	if r.Partial() {
		status = "PARTIAL"
	}
	var problems []map[string]string
	for _, p := range r.Problems {
		problems = append(problems, map[string]string{"object": p.Object, "error": p.Err.Error()})
	}
	json.NewEncoder(e.stdout).Encode(map[string]any{
		"status": status, "start": r.Start, "end": r.End, "groups": r.Groups, "archives": r.Archives,
		"users": r.Users, "folders": r.Folders, "messages": r.Messages, "vanished": r.Vanished,
		"bytes_read": r.BytesRead, "bytes_new": r.BytesNew, "bytes_stored": r.BytesStored,
		"problems": problems, "note": note,
	})
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// size formats a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

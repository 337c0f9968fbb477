package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
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
	full   bool
	since  string
	copies bool
	jobs   int
	file   string
	max    string

	preExec, postExec string
	hookTimeout       time.Duration

	verbose              bool
	onFailure, onPartial string
	metricsFile          string
	logKeep              int
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

Every run is a snapshot of the whole scope, written as one archive per
group. Runs are incremental: a message the repository holds already (in
any folder, user, group or earlier run) is not stored again, copies of one
delivery to several users share everything below their per-recipient trace
lines, and a folder whose cur/, new/ and dovecot-uidlist did not change
since the group's last snapshot is carried over without reading it. Each
snapshot still records every folder completely: messages deleted since
show in the older snapshots only.

    --full      write archives that hold every message they list, so each
                restores on its own (for tape, or another machine)
    --since T   back up only the messages received (mtime) since T; the
                snapshot is marked partial: 'snapshots' shows it as such,
                the mount shows it under .snapshots/ only, never as the
                latest, and later runs never build on it
    --copies    store every message file separately, copies included (for
                tools that read one folder from the stream); implies --full
    --jobs N    back up N groups at once; the run's archives are moved into
                the repository together when all groups are done
    --max-size SIZE
                store at most SIZE of message bytes in this run (K, M, G or
                T suffix, binary: 500M is 500 MiB; counted before
                compression and single copy, so the archive is smaller).
                Every folder and message is still listed; the newest
                messages not yet in the repository are stored first, the
                rest are listed without their bytes, named in the log, and
                the run ends PARTIAL (exit 3). The next run, with or
                without --max-size, stores them: a first backup of a large
                store can be spread over several nights. Not with --full,
                --since or -f.
    -f FILE     write one self-contained archive of one group to FILE ('-'
                for stdout, e.g. to pipe into another tool or onto tape)
                instead of the repository; bring it back with 'import'

Backups do not use the index, so a running mount never blocks them, and
two backups of different groups can run at once; a second backup of the
same group is refused. A file that cannot be read is named, the rest is
backed up and the run ends PARTIAL with exit code 3. A message renamed
(new flags) while the run reads it is found under its new name; one
expunged, or a folder deleted, meanwhile is left out and counted: that is
no lost mail, and the run stays FULL.

Hooks run a shell command (/bin/sh -c) before and after the store is read,
e.g. to take an LVM or btrfs snapshot, back up from it, and remove it:
    --pre-exec CMD      runs first; if it fails (exit status not 0, or the
                        timeout) the backup does not run and exits 1
    --post-exec CMD     runs after the store was read, also when the backup
                        or the pre-exec failed, with MAILVAULT_STATUS=FULL,
                        PARTIAL or FAILED (and MAILVAULT_ERROR,
                        MAILVAULT_ARCHIVES); if it fails, the exit code is 1
    --hook-timeout D    kill a hook (its whole process group) after D
                        (default 10m)
Hooks get MAILVAULT_HOOK, _REPO, _SERVER, _SOURCE, _SCOPE and _KIND in their
environment; their output is shown on stderr and kept in the backup log.
Two backups of one server with hooks never run at once (exit 4).`,
		flags: func(fs *flag.FlagSet, e *env) {
			host, _ := os.Hostname()
			host, _, _ = strings.Cut(host, ".")
			fs.StringVar(&bf.server, "server", host, "`name` of the server being backed up")
			fs.StringVar(&bf.groups, "groups", "", "backup groups `file` of NAME=REGEX lines")
			fs.BoolVar(&bf.full, "full", false, "write self-contained archives: read and store every message")
			fs.StringVar(&bf.since, "since", "", "back up only messages received since `TIME` (RFC 3339 or YYYY-MM-DD)")
			fs.BoolVar(&bf.copies, "copies", false, "store every copy of a message separately (implies --full)")
			fs.IntVar(&bf.jobs, "jobs", 1, "back up `N` groups at once")
			fs.StringVar(&bf.max, "max-size", "", "store at most `SIZE` of message bytes (500M, 2G); the rest waits for the next run")
			fs.StringVar(&bf.file, "f", "", "write the archive to `FILE` ('-' for stdout) instead of the repository")
			fs.StringVar(&bf.preExec, "pre-exec", "", "run shell `COMMAND` before reading the store; the backup runs only if it succeeds")
			fs.StringVar(&bf.postExec, "post-exec", "", "run shell `COMMAND` after reading the store, also after a failure (MAILVAULT_STATUS tells)")
			fs.DurationVar(&bf.hookTimeout, "hook-timeout", 10*time.Minute, "kill a hook still running after `DURATION`")
			fs.StringVar(&bf.onFailure, "on-failure", "", "run shell `COMMAND` when the run FAILED (the alarm: MAILVAULT_STATUS, MAILVAULT_SUMMARY tell why)")
			fs.StringVar(&bf.onPartial, "on-partial", "", "run shell `COMMAND` when the run ended PARTIAL")
			fs.StringVar(&bf.metricsFile, "metrics-file", "", "write the run's Prometheus metrics to `FILE` (for node_exporter's textfile collector)")
			fs.IntVar(&bf.logKeep, "log-keep", 1000, "keep the last `N` runs in the repository's log")
			fs.BoolVar(&e.quiet, "quiet", false, "print nothing but errors")
			fs.BoolVar(&bf.verbose, "verbose", false, "also name every message --max-size left out and every archive written")
			fs.BoolVar(&e.json, "json", false, "print the summary as JSON")
		},
		run:        func(e *env, args []string) error { return runBackup(e, &bf, args) },
		configArgs: []string{"source"},
	})
}

func runBackup(e *env, bf *backupFlags, args []string) error {
	// The configuration file's source stands first unless the command line
	// names a store: 'mailvault backup /staff' backs up one group of it.
	if src := e.configArgs["source"]; src != "" && (len(args) == 0 || len(args) == 1 && !strings.Contains(args[0], ":")) {
		args = append([]string{src}, args...)
	}
	if len(args) < 1 || len(args) > 2 {
		return usagef("want a source 'maildir:TEMPLATE' and an optional scope")
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
	opt := backup.Options{Server: bf.server, Source: src, Groups: set, Scope: scope,
		Full: bf.full, Copies: bf.copies, Jobs: bf.jobs}
	if bf.since != "" {
		ns, _, err := parseSpan(bf.since)
		if err != nil {
			return usagef("--since: %v", err)
		}
		opt.Since = time.Unix(0, ns)
	}
	if bf.max != "" {
		if opt.MaxSize, err = parseSize(bf.max); err != nil {
			return usagef("--max-size: %v", err)
		}
		if bf.full || bf.copies || bf.since != "" || bf.file != "" {
			return usagef("--max-size: %v", backup.ErrMaxSize)
		}
	}
	if bf.jobs < 1 {
		return usagef("--jobs must be at least 1")
	}
	if bf.hookTimeout <= 0 {
		return usagef("--hook-timeout must be more than 0")
	}
	if bf.file != "" {
		return backupToFile(e, bf.file, opt, newBackupHooks(e, bf, opt, ""))
	}
	dir, err := e.needRepo()
	if err != nil {
		return err
	}
	if err := repo.Init(dir); err != nil {
		return err
	}
	l := repo.Layout(dir)
	opt.Repo = l
	prog := newProgress(e)
	opt.Progress = prog.update
	mode := "unattended" // cron and systemd give no terminal
	if isTerminal(os.Stdin) {
		mode = "attended"
	}
	rl, _ := l.StartRun("backup", "server="+bf.server, "scope="+scope.String(), "source="+src.String(), "kind="+kind(opt), "mode="+mode)
	start := time.Now()
	hooks := newBackupHooks(e, bf, opt, dir)
	hooks.event = func(word, text string) { rl.Event(word, text) }
	// end puts the verdict in the log, the metrics file and the alarm.
	end := func(status, verdict string, res *backup.Result) {
		rl.End(verdict)
		if err := l.TrimLog(bf.logKeep); err != nil {
			fmt.Fprintf(e.stderr, "mailvault: warning: cannot trim the log: %v\n", err)
		}
		if bf.metricsFile != "" {
			m := backupMetrics{server: bf.server, scope: scope.String(), status: status, start: start, end: time.Now(), res: res}
			if err := writeMetrics(bf.metricsFile, m); err != nil {
				fmt.Fprintf(e.stderr, "mailvault: warning: %v\n", err)
			}
		}
		problems := 0
		if res != nil {
			problems = len(res.Problems)
		}
		if err := hooks.runAlarm(status, verdict, problems, rl.ID); err != nil {
			fmt.Fprintf(e.stderr, "mailvault: warning: the alarm did not run cleanly: %v\n", err)
		}
	}
	failed := func(err error, res *backup.Result) { end("FAILED", "BACKUP FAILED | "+oneLine(err.Error()), res) }
	if hooks.any() {
		lock, err := l.LockHooks(bf.server)
		if err != nil {
			failed(err, nil)
			return err
		}
		defer lock.Unlock()
	}
	if err := hooks.runPre(); err != nil {
		err = fmt.Errorf("%w; the backup did not run", err)
		hooks.runPost(nil, err) // to undo what the pre-exec did before it failed
		failed(err, nil)
		return err
	}
	res, err := backup.Run(opt)
	prog.done()
	postErr := hooks.runPost(res, err)
	for _, p := range res.Problems {
		fmt.Fprintf(e.stderr, "mailvault: not backed up: %v\n", p)
		rl.Event("ERROR", p.Error())
	}
	for _, w := range res.Warnings { // damage the run worked around
		fmt.Fprintf(e.stderr, "mailvault: warning: %v\n", w)
		rl.Event("WARN", w.Error())
	}
	for _, l := range res.LeftOutMessages {
		line := fmt.Sprintf("%s: %d bytes, left out by --max-size; the next run stores it", l, l.Size)
		rl.Event("LEFTOUT", line)
		if bf.verbose {
			fmt.Fprintf(e.stderr, "mailvault: %s\n", line)
		}
	}
	if bf.verbose {
		for _, a := range res.Archives {
			fmt.Fprintf(e.stderr, "mailvault: wrote archives/%s\n", a)
		}
	}
	if len(res.LeftOutMessages) > 0 {
		fmt.Fprintf(e.stderr, "mailvault: --max-size %s: %s\n", bf.max, leftOutLine(res))
	}
	if err != nil {
		failed(err, res)
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
	status, verdict := "FULL", "FULL BACKUP completed successfully | "+oneLine(summary)
	if res.Partial() {
		status = "PARTIAL"
		verdict = fmt.Sprintf("PARTIAL BACKUP completed | %s (%d objects not backed up: %s)", oneLine(summary), len(res.Problems), firstProblems(res.Problems))
		if len(res.Problems) == 0 {
			verdict = fmt.Sprintf("PARTIAL BACKUP completed | %s", oneLine(summary))
		}
	}
	if postErr != nil {
		// The data is in; a failed post-exec (e.g. a snapshot left behind)
		// still needs someone to look.
		postErr = fmt.Errorf("the backup completed (%s), but %w", status, postErr)
		status, verdict = "FAILED", "BACKUP FAILED | "+oneLine(postErr.Error())
	}
	end(status, verdict, res)
	if postErr != nil {
		return postErr
	}
	if res.Partial() {
		if len(res.Problems) == 0 {
			return partialError{"PARTIAL backup: " + leftOutLine(res)}
		}
		return partialError{fmt.Sprintf("PARTIAL backup: %d objects not backed up (listed above)", len(res.Problems))}
	}
	return nil
}

// leftOutLine counts the messages a size limit left out.
func leftOutLine(r *backup.Result) string {
	return fmt.Sprintf("%d messages (%s) left out by --max-size, listed without their bytes (each named in 'mailvault log'); the next backup stores them",
		r.LeftOut, size(r.BytesLeftOut))
}

// parseSize reads a byte count with an optional binary suffix: K, M, G or
// T (KiB, MiB, GiB, TiB; "KB", "MiB" … are read alike).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			mult = int64(1) << (10 * (i + 1))
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size: want a whole number more than 0 with an optional K, M, G or T suffix (binary), e.g. 500M", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// firstProblems names why objects were left out, the first two, for the
// verdict line; the log lists them all.
func firstProblems(ps []repo.Problem) string {
	var s []string
	for i, p := range ps {
		if i == 2 {
			s = append(s, fmt.Sprintf("and %d more in the log", len(ps)-2))
			break
		}
		s = append(s, oneLine(p.Error()))
	}
	return strings.Join(s, "; ")
}

// kind names a run for the log.
func kind(opt backup.Options) string {
	switch {
	case opt.Copies:
		return "full,copies"
	case opt.Full:
		return "full"
	case !opt.Since.IsZero():
		return "since " + opt.Since.UTC().Format(time.RFC3339)
	}
	return "incremental"
}

// backupToFile writes one group's archive to a file or stdout; the summary
// goes to stderr, as stdout may be the archive.
func backupToFile(e *env, path string, opt backup.Options, hooks *backupHooks) error {
	out := e.stdout
	if path != "-" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("cannot create the archive file: %w", err)
		}
		defer f.Close()
		out = f
	}
	opt.Output = out
	if err := hooks.runPre(); err != nil {
		err = fmt.Errorf("%w; the backup did not run", err)
		hooks.runPost(nil, err)
		if path != "-" {
			os.Remove(path)
		}
		return err
	}
	res, err := backup.Run(opt)
	postErr := hooks.runPost(res, err)
	for _, p := range res.Problems {
		fmt.Fprintf(e.stderr, "mailvault: not backed up: %v\n", p)
	}
	if err != nil {
		if path != "-" {
			os.Remove(path) // never leave half an archive that looks like one
		}
		if errors.Is(err, backup.ErrNothing) || errors.Is(err, backup.ErrOneGroup) {
			return usagef("%v", err)
		}
		return err
	}
	if f, ok := out.(*os.File); ok && path != "-" {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("cannot sync %s: %w", path, err)
		}
	}
	if !e.quiet {
		fmt.Fprintln(e.stderr, summarize(res))
	}
	if postErr != nil {
		return fmt.Errorf("the archive is written, but %w", postErr)
	}
	if res.Partial() {
		return partialError{fmt.Sprintf("PARTIAL backup: %d objects not backed up (listed above)", len(res.Problems))}
	}
	return nil
}

// catalog brings the index up to date with the new archives. A process
// that holds the index (a running mount) is left to do it.
func catalog(dir string) string {
	limitIngestMemory()
	r, problems, err := repo.Open(dir, repo.Options{})
	if errors.Is(err, index.ErrLocked) {
		return "The index is held by another mailvault process: a running mount shows the new snapshot within seconds; otherwise it is indexed when the index is next opened."
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
	s := fmt.Sprintf("Backed up %d users, %d folders (%d unchanged), %d messages (%s) in groups %s: %s read, %s new, %s stored after compression; single copy saved %s; in %s.",
		r.Users, r.Folders, r.Unchanged, r.Messages, size(r.BytesTotal), strings.Join(r.Groups, ", "),
		size(r.BytesRead), size(r.BytesNew), size(r.BytesStored), size(r.Saved()), took)
	if len(r.Archives) > 0 {
		s += fmt.Sprintf(" Archives: %s.", strings.Join(r.Archives, ", "))
	}
	if r.Vanished > 0 {
		s += fmt.Sprintf(" %d messages were expunged while the run read them and are not in this snapshot.", r.Vanished)
	}
	if r.FoldersVanished > 0 {
		s += fmt.Sprintf(" %d folders were deleted while the run read them and are not in this snapshot.", r.FoldersVanished)
	}
	if r.LeftOut > 0 {
		s += fmt.Sprintf(" PARTIAL: %d messages (%s) were left out by --max-size; the next backup stores them.", r.LeftOut, size(r.BytesLeftOut))
	}
	if len(r.Problems) > 0 {
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
		"users": r.Users, "folders": r.Folders, "folders_unchanged": r.Unchanged, "messages": r.Messages, "vanished": r.Vanished, "folders_vanished": r.FoldersVanished,
		"bytes_total": r.BytesTotal, "bytes_read": r.BytesRead, "bytes_new": r.BytesNew, "bytes_stored": r.BytesStored,
		"bytes_saved": r.Saved(), "left_out": r.LeftOut, "bytes_left_out": r.BytesLeftOut,
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

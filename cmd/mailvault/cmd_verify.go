package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/mailvault/mailvault/repo"
)

type verifyFlags struct {
	readData bool
	sample   float64
}

func init() {
	var vf verifyFlags
	register(&command{
		name:    "verify",
		summary: "check every archive and the index; name damaged archives and the messages they affect",
		help: `
Checks the repository: every archive's structure (header, footer, trailer,
tables, folder records) and every data frame's zstd checksum; with
--read-data also every blob's sha-256. Checks the index against the
archives (every archive indexed, every blob located where an archive holds
it) and rebuilds it when it is wrong. Archives the index had that are no
longer in archives/ are reported as gone.

Every damaged archive is named with the file offset and frame of the
damage, and every message file that cannot be read because of it as
SERVER/GROUP/USER/FOLDER/cur|new/NAME with the snapshots that list it, also
when it belongs to another snapshot or archive (incremental runs keep a
message's bytes in the archive that first stored them).

--sample PCT checks a random PCT percent of the blobs (with their sha-256)
and decodes only the frames they and the folder records lie in: a quick
spot check for a cron job.

Exit code 0 when the repository is sound, 5 when damage was found. The
run is logged in REPO/logs/backup.log ('mailvault log'). Archives that
'mailvault prune' deleted are not damage; one removed by hand is reported
until 'mailvault index rebuild --forget-gone'.`,
		flags: func(f *flag.FlagSet, e *env) {
			f.BoolVar(&vf.readData, "read-data", false, "also check every blob's sha-256")
			f.Float64Var(&vf.sample, "sample", 0, "check only a random `PCT` percent of the blobs (with their sha-256)")
			f.BoolVar(&e.json, "json", false, "print the report as one JSON object")
			f.BoolVar(&e.quiet, "quiet", false, "print only what is damaged")
		},
		run: func(e *env, args []string) error { return runVerify(e, &vf, args) },
	})
}

func runVerify(e *env, vf *verifyFlags, args []string) error {
	if len(args) > 0 {
		return usagef("verify takes no arguments")
	}
	if vf.sample < 0 || vf.sample > 100 {
		return usagef("--sample: want a percentage between 0 and 100, not %g", vf.sample)
	}
	dir, err := e.needRepo()
	if err != nil {
		return err
	}
	start := time.Now()
	rep, err := repo.Verify(dir, repo.VerifyOptions{ReadData: vf.readData, Sample: vf.sample})
	if err != nil {
		return err
	}
	summary := verifySummary(rep, vf, time.Since(start))
	logVerify(repo.Layout(dir), vf, rep, summary)
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printVerify(e, rep, summary)
	}
	if !rep.Clean() {
		return fmt.Errorf("%w: %s (listed above and in the log)", repo.ErrDamaged, damageLine(rep))
	}
	return nil
}

func verifySummary(rep *repo.VerifyReport, vf *verifyFlags, took time.Duration) string {
	what := "structure and frame checksums"
	switch {
	case vf.sample > 0 && vf.sample < 100:
		what = fmt.Sprintf("a %g%% sample of the blobs", vf.sample)
	case vf.readData || vf.sample == 100:
		what = "structure, frame checksums and every blob's sha-256"
	}
	s := fmt.Sprintf("%d archives (%s), %d frames, %d blobs (%d read), %d folder records, %d messages in the index; checked %s in %s",
		rep.Archives, size(rep.Bytes), rep.Frames, rep.Blobs, rep.BlobsRead, rep.Folders, rep.Messages, what, took.Round(time.Millisecond))
	if rep.LeftOut > 0 {
		s += fmt.Sprintf("; %d of the messages are listed without their bytes (left out by backup --max-size, not damage: a later backup stores them)", rep.LeftOut)
	}
	return s
}

// damageLine counts what is wrong, for the error and the log.
func damageLine(rep *repo.VerifyReport) string {
	var parts []string
	if n := len(rep.DamagedArchives()); n > 0 {
		parts = append(parts, fmt.Sprintf("%d damaged archives (%s)", n, strings.Join(rep.DamagedArchives(), ", ")))
	}
	if n := len(rep.Gone); n > 0 {
		parts = append(parts, fmt.Sprintf("%d archives gone", n))
	}
	if n := len(rep.Unindexed); n > 0 {
		parts = append(parts, fmt.Sprintf("%d archives not indexable", n))
	}
	parts = append(parts, fmt.Sprintf("%d messages or folders affected", len(rep.Affected)))
	return strings.Join(parts, ", ")
}

func printVerify(e *env, rep *repo.VerifyReport, summary string) {
	w := e.stdout
	if rep.Note != "" && !e.quiet {
		fmt.Fprintf(e.stderr, "mailvault: note: %s\n", rep.Note)
	}
	for _, p := range rep.IndexProblems {
		fmt.Fprintf(w, "index: %s\n", p)
	}
	if rep.IndexRepaired {
		fmt.Fprintln(w, "index: rebuilt from the archives")
	}
	for _, d := range rep.Damaged {
		fmt.Fprintf(w, "damaged: %s\n", d)
	}
	for _, g := range rep.Gone {
		fmt.Fprintf(w, "gone: archives/%s (snapshot %s of %s/%s): no longer in archives/, noticed %s\n",
			g.Archive, g.Snapshot, g.Server, g.Group, g.Noticed.Format(time.RFC3339))
	}
	for _, u := range rep.Unindexed {
		fmt.Fprintf(w, "not indexed: archives/%s: %s\n", u.Archive, u.Problem)
	}
	for _, a := range rep.Affected {
		fmt.Fprintf(w, "affected: %s (snapshot %s): %s\n", a.Path, strings.Join(a.Snapshots, ", "), a.Why)
	}
	if !e.quiet || !rep.Clean() {
		status := "OK"
		if !rep.Clean() {
			status = "DAMAGE FOUND: " + damageLine(rep)
		}
		fmt.Fprintf(w, "verify %s\n%s\n", status, summary)
	}
	if len(rep.Affected) > 0 {
		fmt.Fprintln(e.stderr, "hint: messages still in the store are stored again by 'mailvault backup --full' of their groups; others can come back only from a copy of the archive ('mailvault import')")
	}
}

// logVerify appends the run to the repository's log: its START, a line
// per damaged place, gone archive and affected object, and the verdict
// (OK or DAMAGE).
func logVerify(l repo.Layout, vf *verifyFlags, rep *repo.VerifyReport, summary string) {
	run, err := l.StartRun("verify", fmt.Sprintf("read-data=%v", vf.readData), fmt.Sprintf("sample=%g", vf.sample))
	if err != nil {
		return // the report still goes to stdout
	}
	for _, p := range rep.IndexProblems {
		run.Event("INDEX", p+" (rebuilt from the archives)")
	}
	if rep.Clean() {
		run.End("OK VERIFY | " + summary)
		return
	}
	for _, d := range rep.Damaged {
		run.Event("DAMAGED", d.String())
	}
	for _, g := range rep.Gone {
		run.Event("GONE", "archives/"+g.Archive)
	}
	for _, u := range rep.Unindexed {
		run.Event("UNINDEXED", "archives/"+u.Archive+": "+u.Problem)
	}
	for _, a := range rep.Affected {
		run.Event("AFFECTED", a.Path+": "+a.Why)
	}
	run.End("DAMAGE FOUND by verify: " + damageLine(rep) + " | " + summary)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
	"github.com/mailvault/mailvault/repo"
)

func init() {
	register(&command{
		name:    "import",
		args:    "FILE|-",
		summary: "bring an archive file (e.g. fetched back from tape) into the repository",
		help: `
Copies an archive into the repository's archives/ and indexes it: a file
written by 'mailvault backup -f -', or copied from another repository's
archives/ (e.g. fetched back from tape). - reads the archive from standard
input. The archive is read once and checked on the way (every frame, every
message's sha-256, the trailer); it is written under tmp/ and moved into
archives/ only when it is complete and intact. A damaged or truncated input
is refused with exit code 5 and leaves nothing behind. An archive that is
in the repository already (same archive id, or the same server, group and
snapshot time) is refused with exit code 2, and nothing changes.

A repository that does not exist is created. When another mailvault process
(a running mount) holds the index, the archive is still imported; the index
takes it in when it is next opened.

An incremental archive may need message bytes stored by earlier archives:
it is imported all the same, and the messages whose bytes are in no archive
of the repository are counted ('mailvault locate' names them as missing).`,
		flags: func(f *flag.FlagSet, e *env) {
			f.BoolVar(&e.json, "json", false, "print the result as JSON")
			f.BoolVar(&e.quiet, "quiet", false, "print nothing but errors and warnings")
		},
		run: runImport,
	})
}

func runImport(e *env, args []string) error {
	if len(args) != 1 {
		return usagef("want one archive file, or - for standard input")
	}
	dir, err := e.needRepo()
	if err != nil {
		return err
	}
	input, what := args[0], args[0]
	var in io.Reader = os.Stdin
	var opt repo.ImportOptions
	if input == "-" {
		what = "standard input"
	} else {
		f, err := os.Open(input)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil {
			return err
		} else if !fi.Mode().IsRegular() {
			return usagef("%s is not a file", input)
		}
		in, opt.Name = f, input
	}
	if err := repo.Init(dir); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := repo.Layout(dir).Import(ctx, in, opt)
	if errors.Is(err, repo.ErrExists) {
		return usagef("%s: %v; nothing imported", what, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w; nothing imported", what, err)
	}
	ix := indexImported(e, dir, res)
	if ix.missing.Messages > 0 {
		fmt.Fprintf(e.stderr, "mailvault: warning: %d messages (%s) of this archive have their bytes in earlier archives that are not in the repository; import those too before restoring them (see 'mailvault locate /%s/%s')\n",
			ix.missing.Messages, size(ix.missing.Bytes), res.Header.Server, res.Header.Group)
	}
	if e.json {
		return json.NewEncoder(e.stdout).Encode(map[string]any{
			"archive": res.Name, "server": res.Header.Server, "group": res.Header.Group,
			"snapshot": time.Unix(0, res.Header.Created).UTC().Format(time.RFC3339Nano),
			"users":    res.Users, "folders": res.Folders, "messages": res.Messages, "bytes": res.Bytes,
			"size": res.Size, "indexed": ix.indexed, "missing_messages": ix.missing.Messages, "missing_bytes": ix.missing.Bytes,
			"note": ix.note,
		})
	}
	if !e.quiet {
		fmt.Fprintf(e.stdout, "Imported %s as archives/%s: server %s, group %s, snapshot %s, %d users, %d folders, %d messages (%s), %s on disk.\n",
			what, res.Name, res.Header.Server, res.Header.Group, stamp(res.Header.Created),
			res.Users, res.Folders, res.Messages, size(res.Bytes), size(res.Size))
		if ix.locked {
			fmt.Fprintln(e.stdout, ix.note)
		}
	}
	return nil
}

// indexed says what became of the index after an import.
type indexed struct {
	indexed bool
	locked  bool   // another process holds the index
	note    string // why the archive is not in the index
	missing repo.MissingBlobs
}

// indexImported brings the index up to date with the new archive. A
// process that holds the index (a running mount) is left to do it. For an
// incremental archive it counts the messages whose bytes are in no archive
// of the repository. Warnings go to stderr.
func indexImported(e *env, dir string, res *repo.Imported) indexed {
	r, problems, err := repo.Open(dir, repo.Options{})
	if errors.Is(err, index.ErrLocked) {
		return indexed{locked: true, note: "The index is held by another mailvault process (a running mount?): the archive is safe in archives/ " +
			"and is indexed when the index is next opened (a running mount shows it once restarted)."}
	}
	if err != nil {
		ix := indexed{note: fmt.Sprintf("the archive is imported, but the index could not be updated: %v", err)}
		fmt.Fprintf(e.stderr, "mailvault: warning: %s\n", ix.note)
		return ix
	}
	defer r.Close()
	// An archive ingested before the snapshot it is told against (names
	// sort by the second only) goes in on a second pass.
	for len(problems) > 0 {
		again, err := r.Sync()
		if err != nil || len(again) >= len(problems) {
			break
		}
		problems = again
	}
	ix := indexed{indexed: true}
	for _, p := range problems {
		if p.Object == r.ArchivePath(res.Name) {
			ix.indexed = false
		}
		fmt.Fprintf(e.stderr, "mailvault: warning: %v (left out of the index until it can be read)\n", p)
	}
	if !ix.indexed {
		ix.note = "the archive is imported but cannot be indexed yet (see above)"
		if len(res.Origins) > 0 {
			var times []string
			for _, t := range res.Origins {
				times = append(times, time.Unix(0, t).UTC().Format(time.RFC3339Nano))
			}
			ix.note = fmt.Sprintf("the archive is imported, but its folders are told as changes of the snapshots of server %s, group %s taken at %s: "+
				"import the archives of those snapshots too ('mailvault snapshots' in the repository they come from names them); the index takes this one in then",
				res.Header.Server, res.Header.Group, strings.Join(times, ", "))
		}
		fmt.Fprintf(e.stderr, "mailvault: warning: %s\n", ix.note)
		return ix
	}
	// The snapshot as the index sees it: whole folders, also those the
	// archive tells as a change.
	if snaps, err := r.Snapshots(res.Header.Server); err == nil {
		for _, s := range snaps {
			if s.Time == res.Header.Created && s.Group == res.Header.Group {
				res.Users, res.Folders, res.Messages, res.Bytes = s.Users, s.Folders, s.Msgs, s.Bytes
			}
		}
	}
	if res.Header.Flags&archive.FlagFull == 0 && res.Folders > 0 {
		loc, err := r.Locate(repo.LocateQuery{Server: res.Header.Server, Group: res.Header.Group, At: res.Header.Created, Archive: res.Name})
		if err == nil {
			ix.missing = loc.Missing
		}
	}
	return ix
}

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
	var atFlag string
	register(&command{
		name:    "ls",
		args:    "[/SERVER[/GROUP[/USER[/FOLDER]]]]",
		summary: "list the backed-up tree, with message counts and sizes",
		help: `
The same tree as the mount, latest backup of each user: servers, then groups,
users, folders, and the message files of a folder.

--at TIME shows the tree as it was then: each user's latest backup taken at
or before TIME (RFC 3339, or a date meaning the end of that day, UTC; the
same as restore --at), with the folders and messages of that backup. Users
backed up only later are left out.`,
		flags: func(f *flag.FlagSet, e *env) {
			f.BoolVar(&e.json, "json", false, "print JSON lines instead of a table")
			f.StringVar(&atFlag, "at", "", "as of the latest backup taken at or before `TIME` (RFC 3339 or YYYY-MM-DD)")
		},
		run: func(e *env, args []string) error { return runLs(e, atFlag, args) },
	})
}

// lsRow is one line of ls output; fields that don't apply are left out of
// the JSON.
type lsRow struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Groups   int    `json:"groups,omitempty"`
	Users    int    `json:"users,omitempty"`
	Folders  int    `json:"folders,omitempty"`
	Messages int    `json:"messages"`
	Bytes    int64  `json:"bytes"`
	Snapshot string `json:"snapshot,omitempty"`
	UID      uint32 `json:"uid,omitempty"`
	Mtime    string `json:"mtime,omitempty"`
	// LeftOut marks a message listed without its bytes: backup --max-size
	// left it for a later run.
	LeftOut bool `json:"left_out,omitempty"`
}

func runLs(e *env, atFlag string, args []string) error {
	if len(args) > 1 {
		return usagef("want at most one path")
	}
	path := "/"
	if len(args) == 1 {
		path = args[0]
	}
	if !strings.HasPrefix(path, "/") {
		return usagef("path %q must start with '/': /SERVER/GROUP/USER/FOLDER", path)
	}
	at, err := parseTime(atFlag)
	if err != nil {
		return usagef("--at: %v", err)
	}
	r, err := e.openRepo(true)
	if err != nil {
		return err
	}
	defer r.Close()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	rows, err := lsRows(r, parts, at)
	if err != nil {
		return err
	}
	if len(rows) == 0 && at != 0 {
		switch len(parts) {
		case 0:
			return fmt.Errorf("no backup taken at or before %s in the repository", time.Unix(0, at).UTC().Format(time.RFC3339Nano))
		case 1:
			return fmt.Errorf("no backup of server %q taken at or before %s", parts[0], time.Unix(0, at).UTC().Format(time.RFC3339Nano))
		}
	}
	return printRows(e, rows)
}

// lsRows lists the children of path p as of the latest snapshots taken at
// or before at (0: the latest). Servers and groups without a user then are
// left out.
func lsRows(r *repo.Repo, p []string, at int64) ([]lsRow, error) {
	switch len(p) {
	case 0:
		servers, err := r.Servers()
		if err != nil {
			return nil, err
		}
		var rows []lsRow
		for _, s := range servers {
			sub, err := lsRows(r, []string{s}, at)
			if err != nil {
				return nil, err
			}
			if len(sub) == 0 {
				continue
			}
			row := lsRow{Name: s, Kind: "server", Groups: len(sub)}
			for _, g := range sub {
				row.Users += g.Users
				row.Messages += g.Messages
				row.Bytes += g.Bytes
			}
			rows = append(rows, row)
		}
		return rows, nil
	case 1:
		groups, err := r.Groups(p[0])
		if err != nil {
			return nil, err
		}
		if len(groups) == 0 {
			return nil, fmt.Errorf("no server %q in the repository", p[0])
		}
		var rows []lsRow
		for _, g := range groups {
			users, err := r.Users(p[0], g, at)
			if err != nil {
				return nil, err
			}
			if len(users) == 0 {
				continue
			}
			row := lsRow{Name: g, Kind: "group", Users: len(users)}
			for _, u := range users {
				row.Messages += u.Msgs
				row.Bytes += u.Bytes
			}
			rows = append(rows, row)
		}
		return rows, nil
	case 2:
		users, err := r.Users(p[0], p[1], at)
		if err != nil {
			return nil, err
		}
		if len(users) == 0 {
			return nil, fmt.Errorf("no group %q of server %q %s", p[1], p[0], inBackup(at))
		}
		var rows []lsRow
		for _, u := range users {
			rows = append(rows, lsRow{Name: u.Name, Kind: "user", Folders: u.Folders, Messages: u.Msgs, Bytes: u.Bytes, Snapshot: stamp(u.Time)})
		}
		return rows, nil
	}
	users, err := r.Users(p[0], p[1], at)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if u.Name != p[2] {
			continue
		}
		folders, err := r.Folders(u.Server, u.Group, u.Name, u.Time)
		if err != nil {
			return nil, err
		}
		var rows []lsRow
		want := strings.Join(p[3:], "/")
		for _, f := range folders {
			switch {
			case want == "":
				rows = append(rows, lsRow{Name: f.Name, Kind: "folder", Messages: f.Msgs, Bytes: f.Bytes})
			case f.Name == want:
				msgs, err := r.Messages(f.Listing)
				if err != nil {
					return nil, err
				}
				for _, m := range msgs {
					rows = append(rows, lsRow{Name: m.Subdir + "/" + m.Name, Kind: "message", Messages: 1, Bytes: m.Size, UID: m.UID, Mtime: stamp(m.Mtime), LeftOut: m.LeftOut()})
				}
				return rows, nil
			}
		}
		if want != "" {
			return nil, fmt.Errorf("user %s has no folder %q", u.Name, want)
		}
		return rows, nil
	}
	return nil, fmt.Errorf("no user %q in group %q of server %q %s", p[2], p[1], p[0], inBackup(at))
}

// inBackup says where a listing looked, for messages.
func inBackup(at int64) string {
	if at == 0 {
		return "in the repository"
	}
	return "in a backup taken at or before " + time.Unix(0, at).UTC().Format(time.RFC3339Nano)
}

func printRows(e *env, rows []lsRow) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', tabwriter.AlignRight)
	for _, r := range rows {
		var what string
		switch r.Kind {
		case "server":
			what = fmt.Sprintf("%d groups\t%d users", r.Groups, r.Users)
		case "group":
			what = fmt.Sprintf("%d users\t", r.Users)
		case "user":
			what = fmt.Sprintf("%d folders\t%s", r.Folders, r.Snapshot)
		case "folder":
			what = "\t"
		case "message":
			what = fmt.Sprintf("uid %d\t%s", r.UID, r.Mtime)
		}
		name := r.Name
		if r.LeftOut {
			name += "  (left out by backup --max-size: not stored in this snapshot)"
		}
		fmt.Fprintf(tw, "%d msgs\t%s\t%s\t %s\n", r.Messages, size(r.Bytes), what, name)
	}
	return tw.Flush()
}

func stamp(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339) }

package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mailvault/mailvault/fs"
	"github.com/mailvault/mailvault/repo"
)

type mountFlags struct {
	allowOther bool
	debug      bool
	cacheMB    int64
}

func init() {
	var mf mountFlags
	register(&command{
		name:    "mount",
		args:    "MOUNTPOINT",
		summary: "mount the repository as read-only Maildirs (stays in the foreground)",
		help: `
The tree is MOUNTPOINT/<server>/<group>/<user>/<folder>/{cur,new,tmp}/, the
latest backup of each user; subfolders are subdirectories. Copy a message
file back into a user's Maildir to restore it. Mail clients (mutt -f,
mblaze mlist) read the folders directly.

Every snapshot is under MOUNTPOINT/.snapshots/<UTC time>/<server>/<group>/…,
with .snapshots/latest a link to the newest. A message file has the same
inode, size and mtime in every snapshot and across remounts, so restic,
borg or rsync of the mount (exclude .snapshots/) read only new messages.
Backups may run while the mount is up: it shows each new snapshot within
seconds, without remounting.

The mount stays in the foreground; SIGINT or SIGTERM unmounts it. A stale
mount point left by a crashed mount is cleared first. Without --allow-other
only the user who mounted (root) can read the tree.`,
		flags: func(f *flag.FlagSet, e *env) {
			f.BoolVar(&mf.allowOther, "allow-other", false, "let other users enter the mount (needs user_allow_other in /etc/fuse.conf for non-root)")
			f.BoolVar(&mf.debug, "debug", false, "log every FUSE request")
			f.Int64Var(&mf.cacheMB, "cache-mb", 64, "memory for recently read messages, in `MiB`")
		},
		run: func(e *env, args []string) error { return runMount(e, &mf, args) },
	})
}

func runMount(e *env, mf *mountFlags, args []string) error {
	if len(args) != 1 {
		return usagef("want one mount point")
	}
	mnt := args[0]
	if note, err := fs.PrepareMountpoint(mnt); err != nil {
		return err
	} else if note != "" {
		fmt.Fprintln(e.stderr, "mailvault:", note)
	}
	r, err := e.openRepo(true)
	if err != nil {
		return err
	}
	defer r.Close()
	fsys := fs.New(r, mf.cacheMB<<20)
	srv, err := fs.Mount(mnt, fsys, fs.MountOptions{AllowOther: mf.allowOther, Debug: mf.debug})
	if err != nil {
		return fmt.Errorf("cannot mount at %s: %w", mnt, err)
	}
	stopWatch := watchArchives(e, r, fsys)
	defer stopWatch()
	fmt.Fprintf(e.stdout, "mounted %s at %s; press Ctrl-C (or send SIGTERM) to unmount\n", r.Layout, mnt)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case s := <-sig:
		fmt.Fprintf(e.stderr, "mailvault: %v: unmounting %s\n", s, mnt)
	case <-done:
		return nil // unmounted from outside (fusermount3 -u)
	}
	note, err := fs.Unmount(srv, mnt)
	if err != nil {
		return err
	}
	if note != "" {
		// Lazily detached: the server must not wait for the last user.
		fmt.Fprintln(e.stderr, "mailvault:", note)
		return nil
	}
	<-done
	return nil
}

// watchArchives brings new snapshots into the running mount: backups never
// open the index the mount holds, they only rename finished archives into
// archives/, so the mount looks there every second (a directory listing,
// cheaper than keeping inotify right across the repository being moved or
// recreated) and ingests what is new. It returns a func that stops it.
func watchArchives(e *env, r *repo.Repo, fsys *fs.FS) func() {
	stop, done := make(chan struct{}), make(chan struct{})
	seen, _ := r.ArchiveNames()
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			names, err := r.ArchiveNames()
			if err != nil || slices.Equal(names, seen) {
				continue
			}
			seen = names
			added, problems, err := r.Refresh()
			for _, p := range problems {
				fmt.Fprintf(e.stderr, "mailvault: mount: %v\n", p)
			}
			if err != nil {
				fmt.Fprintf(e.stderr, "mailvault: mount: cannot read new archives: %v\n", err)
			}
			if len(added) > 0 {
				fsys.Changed()
				fmt.Fprintf(e.stderr, "mailvault: mount: %d new archives: %s\n", len(added), strings.Join(added, ", "))
			}
		}
	}()
	return func() { close(stop); <-done }
}

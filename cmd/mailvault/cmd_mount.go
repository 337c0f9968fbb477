package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/fs"
	"github.com/mailvault/mailvault/index"
	"github.com/mailvault/mailvault/repo"
)

type mountFlags struct {
	allowOther bool
	ownerMap   string
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

The mount stays in the foreground; SIGINT or SIGTERM unmounts it, SIGUSR1
prints its goroutines, memory and cache use. A stale mount point left by a
crashed mount is cleared first.

Who can read it: without --allow-other only the user who mounted (root);
everything is owned by that user, directories 0500, files 0400. With
--allow-other the root, server and group directories are 0555 and each
user's tree is owned by the owner of that mail in the store (directories
0500, files 0400), and the kernel enforces the modes: a local user reads
only their own mail. --owner-map FILE names the owners instead, for a host
whose accounts differ from the mail server's: lines of 'USER UID:GID' or
'USER ACCOUNT', '*' for every other user; a user the file does not name is
root's alone.

Memory: --cache-mb bounds the message bytes kept (one message larger than
that is kept alone while it is read), and as much again of decoded archive
frames (at least 32 MiB); folder listings take up to 32 MiB (about 64 000
messages' worth: a walk of the whole mount keeps those around it); the
index's caches are fixed (about 40 MiB); GOMEMLIMIT, unless set, is twice
the cache plus 128 MiB.`,
		flags: func(f *flag.FlagSet, e *env) {
			f.BoolVar(&mf.allowOther, "allow-other", false, "let each local user read their own mail's tree (needs user_allow_other in /etc/fuse.conf for non-root)")
			f.StringVar(&mf.ownerMap, "owner-map", "", "with --allow-other, the owner of each user's tree from `FILE` ('USER UID:GID' lines) instead of the store's")
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
	opt := fs.MountOptions{AllowOther: mf.allowOther, Debug: mf.debug}
	if mf.ownerMap != "" {
		if !mf.allowOther {
			return usagef("--owner-map needs --allow-other: without it only the mounting user can enter the mount")
		}
		data, err := os.ReadFile(mf.ownerMap)
		if err != nil {
			return usagef("owner map: %v", err)
		}
		if opt.Owners, err = fs.ParseOwnerMap(mf.ownerMap, data); err != nil {
			return usagef("owner map %v", err)
		}
	}
	if mf.cacheMB < 1 {
		return usagef("--cache-mb must be at least 1")
	}
	limitMountMemory(mf.cacheMB << 20)
	if note, err := fs.PrepareMountpoint(mnt); err != nil {
		return err
	} else if note != "" {
		fmt.Fprintln(e.stderr, "mailvault:", note)
	}
	if dir, err := e.needRepo(); err == nil {
		// A walk of the mount looks up much of the index at random.
		go index.Warm(repo.Layout(dir).Index(), indexWarmLimit)
	}
	r, err := e.openRepo(true)
	if err != nil {
		return err
	}
	defer r.Close()
	// As many decoded frames as messages: read in order, a user's
	// messages come back to the same frames many times.
	r.SetCachedFrames(max(minCachedFrames, int(mf.cacheMB<<20/archive.DefaultFrameSize)))
	fsys := fs.New(r, mf.cacheMB<<20)
	// From here on a signal must not kill the process (SIGUSR1's default)
	// or leave the mount behind: it waits until the mount is up.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sig)
	srv, err := fs.Mount(mnt, fsys, opt)
	if err != nil {
		return fmt.Errorf("cannot mount at %s: %w", mnt, err)
	}
	stopWatch := watchArchives(e, r, fsys)
	defer stopWatch()
	fmt.Fprintf(e.stdout, "mounted %s at %s; press Ctrl-C (or send SIGTERM) to unmount\n", r.Layout, mnt)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGUSR1 {
				printStatus(e, fsys)
				continue
			}
			fmt.Fprintf(e.stderr, "mailvault: %v: unmounting %s\n", s, mnt)
			break wait
		case <-done:
			return nil // unmounted from outside (fusermount3 -u)
		}
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

// minCachedFrames is the repository's default: a small --cache-mb does
// not shrink it.
const minCachedFrames = 16

// indexWarmLimit bounds the index bytes read ahead when the mount starts
// (the page cache's, not the mount's memory).
const indexWarmLimit = 512 << 20

// memoryHeadroom is what the mount may use beside its message cache and
// as much again of decoded frames: the folder listings (32 MiB), the
// index's caches and memtables (about 40 MiB), the nodes the kernel
// holds, and the blobs being read. Everything but the nodes is bounded,
// so the limit holds at any store size.
const memoryHeadroom = 128 << 20

// limitMountMemory gives the Go runtime a soft memory limit, unless the admin
// set GOMEMLIMIT: the collector then works harder before the mount grows
// past its cache and headroom, rather than letting the heap double.
func limitMountMemory(cacheBytes int64) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(2*cacheBytes + memoryHeadroom)
	}
}

// printStatus answers SIGUSR1: what the mount holds, so an admin (and the
// load test) can see that goroutines and memory stay bounded.
func printStatus(e *env, fsys *fs.FS) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := fsys.Stats()
	fmt.Fprintf(e.stderr, "mailvault: mount: status: %d goroutines, %.1f MiB heap in use, %.1f MiB from the OS, cache %.1f of %.1f MiB (%d messages), %d messages stored into the kernel's cache ahead of their reader\n",
		runtime.NumGoroutine(), mib(ms.HeapInuse), mib(ms.Sys), mib(uint64(st.CacheBytes)), mib(uint64(st.CacheLimit)), st.CacheMessages, st.Stored)
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// watchArchives brings new snapshots into the running mount: backups never
// open the index the mount holds, they only rename finished archives into
// archives/, so the mount looks there every second (a directory listing,
// cheaper than keeping inotify right across the repository being moved or
// recreated) and ingests what is new. It returns a func that stops it.
func watchArchives(e *env, r *repo.Repo, fsys *fs.FS) func() {
	stop, done := make(chan struct{}), make(chan struct{})
	// A forget changes no archive, only REPO/forgotten/: look at both.
	listing := func() ([]string, error) {
		names, err := r.ArchiveNames()
		dead, _ := r.Tombstones()
		for n := range dead {
			names = append(names, "forgotten/"+n)
		}
		slices.Sort(names)
		return names, err
	}
	seen, _ := listing()
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
			names, err := listing()
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

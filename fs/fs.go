package fs

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/mailvault/mailvault/index"
)

// FS is the mounted tree over a Source.
type FS struct {
	src   Source
	cache *blobCache
	ahead *readAhead

	// Set by Mount before the first request, read-only after.
	top     *access   // the directories above users
	private *access   // users' trees without AllowOther
	perUser bool      // each user's tree is owned by its mail's owner
	owners  *OwnerMap // nil: the owners of the store

	mu      sync.Mutex
	gen     uint64              // bumped by Changed: dynamic directories list again
	dynamic map[uint64]*dirNode // listed dynamic directories, by inode

	listings     *listingCache
	prefetchOnce sync.Once
	prefetchQ    chan prefetchJob // of the goroutine that loads listings ahead
}

// New returns the file system of a Source. cacheBytes bounds the memory kept
// for message bytes read recently.
func New(src Source, cacheBytes int64) *FS {
	cache := newBlobCache(cacheBytes)
	return &FS{src: src, cache: cache, ahead: newReadAhead(src, cache), dynamic: map[uint64]*dirNode{},
		listings: newListingCache(listingBytes)}
}

// snapshotsDir is the directory of point-in-time trees at the root.
const snapshotsDir = ".snapshots"

// view is a tree of servers: the latest of every group (at 0, at the
// root), or the snapshot taken at one time (under .snapshots/<name>/).
type view struct {
	at   int64
	name string // "" for the latest
}

// Root returns the root node, for gofs.Mount.
func (fsys *FS) Root() gofs.InodeEmbedder {
	latest, err := fsys.latest("")
	if err != nil {
		logf("mount: cannot list snapshots: %v", err)
	}
	return &dirNode{fsys: fsys, e: entry{name: "", ino: 1, mtime: latest[""], dynamic: true, load: fsys.root, acc: fsys.top, what: "the root"}}
}

// root lists the latest view's servers and .snapshots.
func (fsys *FS) root() ([]entry, error) {
	out, err := fsys.servers(view{})
	if err != nil {
		return nil, err
	}
	latest, _ := fsys.latest("")
	return append(out, entry{name: snapshotsDir, ino: inoOf("snapshots"), mtime: latest[""], dynamic: true,
		load: fsys.snapshotTimes, acc: fsys.top, what: snapshotsDir}), nil
}

// latest maps each server (or, given a server, each of its groups) to the
// time of its newest complete snapshot, the mtime of its directory; ""
// maps to the newest of all. Directory times then come from the backups
// alone and stay the same across remounts and index rebuilds.
func (fsys *FS) latest(server string) (map[string]int64, error) {
	snaps, err := fsys.src.Snapshots(server)
	out := map[string]int64{}
	for _, s := range snaps {
		if s.Partial {
			continue // never the latest
		}
		k := s.Server
		if server != "" {
			k = s.Group
		}
		out[k] = max(out[k], s.Time)
		out[""] = max(out[""], s.Time)
	}
	return out, err
}

func (fsys *FS) node(e *entry) gofs.InodeEmbedder {
	switch {
	case e.isDir():
		return &dirNode{fsys: fsys, e: *e}
	case e.link != "":
		return &linkNode{e: *e}
	}
	return &fileNode{fsys: fsys, e: e}
}

// blob returns the bytes of a message entry, from the cache when they are
// there, and reads ahead what its directory's reader is likely to want next.
func (fsys *FS) blob(e *entry) ([]byte, error) {
	h := *e.blob
	fsys.ahead.advance(e.seq, e.pos)
	if b, ok := fsys.cache.get(h); ok {
		return b, nil
	}
	fsys.ahead.wait(h)
	if b, ok := fsys.cache.get(h); ok {
		return b, nil
	}
	b, err := fsys.src.ReadBlob(h)
	if err != nil {
		return nil, err
	}
	fsys.cache.put(h, b)
	return b, nil
}

// servers lists the servers of a view.
func (fsys *FS) servers(v view) ([]entry, error) {
	var servers []string
	mtimes := map[string]int64{}
	if v.at == 0 {
		var err error
		if servers, err = fsys.src.Servers(); err != nil {
			return nil, err
		}
		if mtimes, err = fsys.latest(""); err != nil {
			return nil, err
		}
	} else {
		snaps, err := fsys.snapshotsAt(v.at)
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			if _, ok := mtimes[s.Server]; !ok {
				servers = append(servers, s.Server)
			}
			mtimes[s.Server] = v.at
		}
	}
	var out []entry
	for _, s := range servers {
		if !usableName(s) {
			continue
		}
		out = append(out, entry{name: s, ino: inoOf("server", v.name, s), mtime: mtimes[s], dynamic: true,
			load: func() ([]entry, error) { return fsys.groups(v, s) }, acc: fsys.top, what: v.where(s)})
	}
	return out, nil
}

// snapshotsAt returns the snapshots taken at one time.
func (fsys *FS) snapshotsAt(at int64) ([]index.Snapshot, error) {
	snaps, err := fsys.src.Snapshots("")
	var out []index.Snapshot
	for _, s := range snaps {
		if s.Time == at {
			out = append(out, s)
		}
	}
	return out, err
}

func (fsys *FS) groups(v view, server string) ([]entry, error) {
	var groups []string
	mtimes := map[string]int64{}
	if v.at == 0 {
		var err error
		if groups, err = fsys.src.Groups(server); err != nil {
			return nil, err
		}
		if mtimes, err = fsys.latest(server); err != nil {
			return nil, err
		}
	} else {
		snaps, err := fsys.snapshotsAt(v.at)
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			if s.Server == server {
				groups = append(groups, s.Group)
				mtimes[s.Group] = v.at
			}
		}
	}
	var out []entry
	for _, g := range groups {
		if !usableName(g) {
			continue
		}
		out = append(out, entry{name: g, ino: inoOf("group", v.name, server, g), mtime: mtimes[g], dynamic: true,
			load: func() ([]entry, error) { return fsys.users(v, server, g) }, acc: fsys.top, what: v.where(server + "/" + g)})
	}
	return out, nil
}

func (fsys *FS) users(v view, server, group string) ([]entry, error) {
	users, err := fsys.src.Users(server, group, v.at)
	if err != nil {
		return nil, err
	}
	var out []entry
	var tops []*userTop
	for _, u := range users {
		if !usableName(u.Name) {
			continue
		}
		t := tree{fsys: fsys, v: v, u: u, acc: fsys.userAccess(u), statted: new(atomic.Bool)}
		top := &userTop{t: t}
		tops = append(tops, top)
		out = append(out, entry{name: u.Name, ino: t.ino("user"), mtime: u.Time,
			load: top.entries, acc: t.acc, what: t.where(""), statted: t.statted})
	}
	// A walk meets the users in the order of their names.
	sort.Slice(tops, func(i, j int) bool { return tops[i].t.u.Name < tops[j].t.u.Name })
	for i := 1; i < len(tops); i++ {
		tops[i-1].next = tops[i]
	}
	return out, nil
}

// userTop is the top of one user's tree. It is loaded when the user's
// directory is first listed, or just before, by the prefetch: a walk of a
// group (find, tar, rsync) goes from user to user in name order, so
// while it is in one user the next one's top and listings load ahead,
// and the walk does not wait for them at each user's first folder.
type userTop struct {
	t    tree
	next *userTop // the user after it in the group, by name

	mu     sync.Mutex // guards the fields below; held while loading
	listed bool       // listed once: no longer loaded ahead
	loaded bool       // entries and err are loaded ahead, and not listed yet
	ahead  []entry
	err    error
}

// entries lists the top of the user's tree, as loaded ahead or loading it
// now, and has the next user's loaded ahead.
func (ut *userTop) entries() ([]entry, error) {
	ut.mu.Lock()
	out, err := ut.ahead, ut.err
	if !ut.loaded {
		out, err = ut.t.top()
	}
	first := !ut.listed
	ut.listed, ut.loaded, ut.ahead, ut.err = true, false, nil, nil
	ut.mu.Unlock()
	if first && ut.next != nil {
		ut.t.fsys.prefetchTop(ut.next)
	}
	return out, err
}

// loadAhead loads the top of a user's tree that was never listed, for
// entries to find.
func (ut *userTop) loadAhead() {
	ut.mu.Lock()
	defer ut.mu.Unlock()
	if ut.listed || ut.loaded {
		return
	}
	ut.ahead, ut.err = ut.t.top()
	ut.loaded = true
}

// where names a path of the view in log lines.
func (v view) where(path string) string {
	if v.name == "" {
		return path
	}
	return snapshotsDir + "/" + v.name + "/" + path
}

// tree is one user's folders as one snapshot of theirs recorded them. Its
// directories never change, so their inode numbers name the snapshot; its
// message files are the same in every snapshot and view, so theirs do not.
type tree struct {
	fsys *FS
	v    view
	u    index.User
	acc  *access // of every entry in the tree
	// set once a file of the tree was looked up: its reader stats files
	// (tar, rsync, ls -l, a mail client), see dirHandle.Lookup
	statted *atomic.Bool
}

func (t tree) ino(tag string, parts ...string) uint64 {
	return inoOf(tag, append([]string{t.v.name, fmt.Sprint(t.u.Time), t.u.Server, t.u.Group, t.u.Name}, parts...)...)
}

func (t tree) where(path string) string {
	return t.v.where(t.u.Server + "/" + t.u.Group + "/" + t.u.Name + "/" + path)
}

// top lists the top of the user's folder tree, and starts loading its
// folders' listings in the background: whoever lists a user's tree is
// likely to walk it (find, tar, rsync), and then finds them loaded.
func (t tree) top() ([]entry, error) {
	folders, err := t.fsys.src.Folders(t.u.Server, t.u.Group, t.u.Name, t.u.Time)
	if err != nil {
		return nil, err
	}
	ft := buildTree(folders)
	walk := t.listings(ft, nil, nil)
	for i, l := range walk {
		l.walk, l.at = walk, i
	}
	t.fsys.prefetch(walk)
	return t.folderEntries(ft, nil), nil
}

// listings gives every folder of the tree its listing, in the order a
// walk of the mount meets them, and returns them.
func (t tree) listings(ft *folderTree, path []string, out []*listing) []*listing {
	if ft.folder != nil {
		ft.listing = &listing{t: t, ft: ft, where: t.where(strings.Join(path, "/")), kept: t.fsys.listings}
		out = append(out, ft.listing)
	}
	names := make([]string, 0, len(ft.kids))
	for name := range ft.kids {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out = t.listings(ft.kids[name], append(path[:len(path):len(path)], name), out)
	}
	return out
}

// folderEntries lists a folder directory, sorted: the Maildir
// subdirectories and control files when it is a real folder, and its
// subfolders.
func (t tree) folderEntries(ft *folderTree, path []string) []entry {
	var out []entry
	where := t.where(strings.Join(path, "/"))
	if f := ft.folder; f != nil {
		l := ft.listing
		for _, sub := range maildirSubdirs {
			mtime := f.CurMtime
			if sub == "new" {
				mtime = f.NewMtime
			}
			out = append(out, entry{name: sub, ino: t.ino("subdir", f.Name, sub), mtime: mtime,
				load: func() ([]entry, error) { return l.messages(sub) }, listed: true, acc: t.acc, what: where + "/" + sub, statted: t.statted})
		}
		out = append(out, l.controls()...)
	}
	for _, name := range ft.names() {
		kid, kpath := ft.kids[name], append(append([]string(nil), path...), name)
		mtime := t.u.Time
		if kid.folder != nil {
			mtime = max(kid.folder.CurMtime, kid.folder.NewMtime)
		}
		out = append(out, entry{name: name, ino: t.ino("folder", strings.Join(kpath, "/")), mtime: mtime,
			load: func() ([]entry, error) { return t.folderEntries(kid, kpath), nil }, listed: kid.folder != nil,
			acc: t.acc, what: where + "/" + name, statted: t.statted})
	}
	sortEntries(out)
	return out
}

// controlEntries makes the entries of a folder's control files; msgs and
// msgErr are the listing's messages, for dovecot-uidlist.
func (l *listing) controlEntries(msgs []index.Message, msgErr error) []entry {
	t, f, where := l.t, l.ft.folder, l.where
	controls, err := t.fsys.src.Controls(f.Listing)
	if err != nil {
		// The folder still shows its messages; the log names what is missing.
		logf("mount: cannot list control files of %s: %v", where, err)
	}
	var out []entry
	for _, c := range controls {
		if !usableName(c.Name) || isMaildirSubdir(c.Name) || l.ft.kids[c.Name] != nil {
			continue
		}
		if c.Name == "dovecot-uidlist" {
			if msgErr != nil {
				logf("mount: cannot list messages of %s: %v", where, msgErr)
			}
			c.Data = synthUIDList(c.Data, f, msgs)
		}
		// Like messages, a control file keeps its inode while its bytes
		// stay the same.
		ino := inoOf("control", t.u.Server, t.u.Group, t.u.Name, f.Name, c.Name, string(c.Data))
		out = append(out, entry{name: c.Name, ino: ino,
			mtime: c.Mtime, size: int64(len(c.Data)), data: c.Data, nlink: 1, acc: t.acc, what: where + "/" + c.Name})
	}
	return out
}

// messageEntries makes the entries of the files of cur/ or new/, sorted.
func (l *listing) messageEntries(msgs []index.Message, sub string) []entry {
	t, f := l.t, l.ft.folder
	var out []entry
	for i := range msgs {
		m := &msgs[i]
		if m.Subdir != sub || !usableName(m.Name) || m.LeftOut() {
			continue // a message left out by backup --max-size has no bytes to show
		}
		out = append(out, entry{name: m.Name, ino: messageIno(t.u, f, m), mtime: m.Mtime, size: m.Size, nlink: m.Nlink, blob: &m.Blob,
			acc: t.acc})
	}
	s := newSequence(out, t.where(f.Name+"/"+sub))
	s.l, s.sub = l, sub
	return out
}

// messageIno is a message file's inode number: the same in every snapshot
// and view, across flag renames and remounts, and shared by hard links of
// one file (same store inode, same bytes), so an external backup of the
// mount reads each message once. The bytes' hash is part of it: a store
// may give a new message the inode number of an expunged one.
func messageIno(u index.User, f *index.Folder, m *index.Message) uint64 {
	if m.Link == 0 {
		return inoOf("message", u.Server, u.Group, u.Name, f.Name, m.Subdir, m.Name, string(m.Blob[:]))
	}
	return inoOf("message", u.Server, u.Group, u.Name, fmt.Sprint(m.Link), string(m.Blob[:]))
}

// usableName reports whether a name from an archive can be a directory
// entry. Archives are input like any other: a name that would step out of
// its directory is not shown.
func usableName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00") && len(name) <= 255
}

// MountOptions are the choices of the admin.
type MountOptions struct {
	// AllowOther lets other local users in, each to their own mail's
	// tree (see access.go).
	AllowOther bool
	// Owners, with AllowOther, names the owner of each user's tree; nil
	// takes the owner the user's folders had in the store.
	Owners *OwnerMap
	Debug  bool
}

// Mount mounts the file system at dir and returns the running server.
func Mount(dir string, fsys *FS, opt MountOptions) (*fuse.Server, error) {
	fsys.setAccess(opt)
	long := time.Hour
	o := &gofs.Options{
		EntryTimeout:    &long,
		AttrTimeout:     &long,
		NegativeTimeout: &long,
		MountOptions: fuse.MountOptions{
			FsName:        "mailvault",
			Name:          "mailvault",
			AllowOther:    opt.AllowOther,
			DisableXAttrs: true,
			Debug:         opt.Debug,
			MaxReadAhead:  1 << 20,
			// READDIRPLUS, for directories only (dirHandle.Lookup).
			// default_permissions: the kernel enforces the modes and
			// owners (access.go). Not "ro", though it would save the
			// GETATTR the kernel sends after a file was read (it
			// invalidates the atime): Dovecot opens dovecot-uidlist
			// for writing first, and falls back to reading on EACCES
			// (no write bits) but not on EROFS. No node implements a
			// write; fileNode refuses them with EROFS.
			Options: []string{"default_permissions"},
		},
	}
	srv, err := fuse.NewServer(noOpendir{gofs.NewNodeFS(fsys.Root(), o)}, dir, &o.MountOptions)
	if err != nil {
		return nil, err
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		srv.Unmount()
		return nil, err
	}
	return srv, nil
}

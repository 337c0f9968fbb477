package fs

import (
	"fmt"
	"strings"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// FS is the mounted tree over a Source.
type FS struct {
	src   Source
	cache *blobCache
}

// New returns the file system of a Source. cacheBytes bounds the memory kept
// for message bytes read recently.
func New(src Source, cacheBytes int64) *FS {
	return &FS{src: src, cache: newBlobCache(cacheBytes)}
}

// Root returns the root node, for gofs.Mount.
func (fsys *FS) Root() gofs.InodeEmbedder {
	latest, err := fsys.latest("")
	if err != nil {
		logf("mount: cannot list snapshots: %v", err)
	}
	return &dirNode{fsys: fsys, e: entry{name: "", ino: 1, mtime: latest[""], load: fsys.servers, what: "the root"}}
}

// latest maps each server (or, given a server, each of its groups) to the
// time of its newest snapshot, the mtime of its directory; "" maps to the
// newest of all. Directory times then come from the backups alone and stay
// the same across remounts and index rebuilds.
func (fsys *FS) latest(server string) (map[string]int64, error) {
	snaps, err := fsys.src.Snapshots(server)
	out := map[string]int64{}
	for _, s := range snaps {
		k := s.Server
		if server != "" {
			k = s.Group
		}
		out[k] = max(out[k], s.Time)
		out[""] = max(out[""], s.Time)
	}
	return out, err
}

func (fsys *FS) node(e entry) gofs.InodeEmbedder {
	if e.isDir() {
		return &dirNode{fsys: fsys, e: e}
	}
	return &fileNode{fsys: fsys, e: e}
}

func (fsys *FS) blob(h archive.Hash) ([]byte, error) {
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

func (fsys *FS) servers() ([]entry, error) {
	servers, err := fsys.src.Servers()
	if err != nil {
		return nil, err
	}
	latest, err := fsys.latest("")
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, s := range servers {
		out = append(out, entry{name: s, ino: inoOf("server", s), mtime: latest[s],
			load: func() ([]entry, error) { return fsys.groups(s) }, what: s})
	}
	return out, nil
}

func (fsys *FS) groups(server string) ([]entry, error) {
	groups, err := fsys.src.Groups(server)
	if err != nil {
		return nil, err
	}
	latest, err := fsys.latest(server)
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, g := range groups {
		out = append(out, entry{name: g, ino: inoOf("group", server, g), mtime: latest[g],
			load: func() ([]entry, error) { return fsys.users(server, g) }, what: server + "/" + g})
	}
	return out, nil
}

func (fsys *FS) users(server, group string) ([]entry, error) {
	users, err := fsys.src.Users(server, group, 0)
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, u := range users {
		if !usableName(u.Name) {
			continue
		}
		out = append(out, entry{name: u.Name, ino: inoOf("user", server, group, u.Name), mtime: u.Time,
			load: func() ([]entry, error) { return fsys.user(u) }, what: server + "/" + group + "/" + u.Name})
	}
	return out, nil
}

// user lists the top of a user's folder tree.
func (fsys *FS) user(u index.User) ([]entry, error) {
	folders, err := fsys.src.Folders(u.Server, u.Group, u.Name, u.Time)
	if err != nil {
		return nil, err
	}
	return fsys.folderEntries(u, buildTree(folders), nil), nil
}

// folderEntries lists a folder directory: the Maildir subdirectories and
// control files when it is a real folder, then its subfolders.
func (fsys *FS) folderEntries(u index.User, t *folderTree, path []string) []entry {
	var out []entry
	where := u.Server + "/" + u.Group + "/" + u.Name + "/" + strings.Join(path, "/")
	if f := t.folder; f != nil {
		l := &listing{src: fsys.src, id: f.Listing}
		for _, sub := range maildirSubdirs {
			mtime := f.CurMtime
			if sub == "new" {
				mtime = f.NewMtime
			}
			out = append(out, entry{name: sub, ino: inoOf("subdir", u.Server, u.Group, u.Name, f.Name, sub), mtime: mtime,
				load: func() ([]entry, error) { return fsys.messages(u, f, l, sub) }, what: where + "/" + sub})
		}
		controls, err := fsys.src.Controls(f.Listing)
		if err != nil {
			// The folder still shows its messages; the log names what is missing.
			logf("mount: cannot list control files of %s: %v", where, err)
		}
		for _, c := range controls {
			if !usableName(c.Name) || isMaildirSubdir(c.Name) || t.kids[c.Name] != nil {
				continue
			}
			if c.Name == "dovecot-uidlist" {
				msgs, err := l.get()
				if err != nil {
					logf("mount: cannot list messages of %s: %v", where, err)
				}
				c.Data = synthUIDList(c.Data, f, msgs)
			}
			out = append(out, entry{name: c.Name, ino: inoOf("control", u.Server, u.Group, u.Name, f.Name, c.Name),
				mtime: c.Mtime, size: int64(len(c.Data)), data: c.Data, nlink: 1, what: where + "/" + c.Name})
		}
	}
	for _, name := range t.names() {
		kid, kpath := t.kids[name], append(append([]string(nil), path...), name)
		mtime := u.Time
		if kid.folder != nil {
			mtime = max(kid.folder.CurMtime, kid.folder.NewMtime)
		}
		out = append(out, entry{name: name, ino: inoOf("folder", u.Server, u.Group, u.Name, strings.Join(kpath, "/")), mtime: mtime,
			load: func() ([]entry, error) { return fsys.folderEntries(u, kid, kpath), nil }, what: where + "/" + name})
	}
	return out
}

// messages lists the files of cur/, new/ or tmp/ of a folder.
func (fsys *FS) messages(u index.User, f *index.Folder, l *listing, sub string) ([]entry, error) {
	if sub == "tmp" {
		return nil, nil
	}
	msgs, err := l.get()
	if err != nil {
		return nil, err
	}
	var out []entry
	for i := range msgs {
		m := &msgs[i]
		if m.Subdir != sub || !usableName(m.Name) {
			continue
		}
		ino := inoOf("message", u.Server, u.Group, u.Name, fmt.Sprint(m.Link))
		if m.Link == 0 {
			ino = inoOf("message", u.Server, u.Group, u.Name, f.Name, m.Subdir, m.Name)
		}
		out = append(out, entry{name: m.Name, ino: ino, mtime: m.Mtime, size: m.Size, nlink: m.Nlink, blob: &m.Blob,
			what: u.Server + "/" + u.Group + "/" + u.Name + "/" + f.Name + "/" + sub + "/" + m.Name})
	}
	return out, nil
}

// usableName reports whether a name from an archive can be a directory
// entry. Archives are input like any other: a name that would step out of
// its directory is not shown.
func usableName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00") && len(name) <= 255
}

// MountOptions are the choices of the admin.
type MountOptions struct {
	AllowOther bool // let users other than the one mounting see the tree
	Debug      bool
}

// Mount mounts the file system at dir and returns the running server.
func Mount(dir string, fsys *FS, opt MountOptions) (*fuse.Server, error) {
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
			// Not "ro": on a read-only mount access(W_OK) fails with EROFS,
			// which Dovecot takes for an error; without write bits it gets
			// EACCES and opens the folders read-only. No node implements
			// a write operation, and Open refuses write modes.
			Options: []string{"default_permissions"},
		},
	}
	return gofs.Mount(dir, fsys.Root(), o)
}

package fs

import (
	"context"
	"errors"
	"log"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/mailvault/mailvault/archive"
)

// entry is one name in a directory, with what is needed to answer stat and
// to make its node.
type entry struct {
	name  string
	ino   uint64
	mtime int64 // unix ns
	// Directories: how to list their content, and whether it changes when
	// snapshots are added (see FS.Changed).
	load    func() ([]entry, error)
	dynamic bool
	listed  bool // load is a listing's (cur/, new/, a folder): its node keeps none
	// Symbolic links: the target.
	link string
	// Files: their size and where their bytes come from.
	size  int64
	nlink uint32
	blob  *archive.Hash // a message
	seq   *sequence     // a message: its directory's messages, for read-ahead
	pos   int           // its place in seq
	data  []byte        // a control file, kept in the index
	// who owns it, and its modes (see access.go)
	acc *access
	// Directories of a user's tree: the tree's flag that its reader
	// stats files (tree.statted).
	statted *atomic.Bool
	// what names the entry in log lines; a message's is made from its
	// directory's when needed (where)
	what string
}

// where names the entry in log lines.
func (e *entry) where() string {
	if e.what == "" && e.seq != nil {
		return e.seq.dir + "/" + e.name
	}
	return e.what
}

func (e *entry) isDir() bool { return e.load != nil }

func (e *entry) fill(a *fuse.Attr) {
	a.Ino = e.ino
	sec, nsec := uint64(e.mtime/1e9), uint32(e.mtime%1e9)
	a.Mtime, a.Mtimensec = sec, nsec
	a.Ctime, a.Ctimensec = sec, nsec
	a.Atime, a.Atimensec = sec, nsec
	acc := e.acc
	if acc == nil {
		acc = &noAccess
	}
	o := acc.get()
	a.Uid, a.Gid = o.UID, o.GID
	if e.isDir() {
		a.Mode = syscall.S_IFDIR | acc.dirPerm
		a.Nlink = 2
		return
	}
	if e.link != "" {
		a.Mode = syscall.S_IFLNK | 0o777
		a.Size = uint64(len(e.link))
		a.Nlink = 1
		return
	}
	a.Mode = syscall.S_IFREG | acc.filePerm
	a.Size = uint64(e.size)
	a.Blocks = (a.Size + 511) / 512
	a.Nlink = max(e.nlink, 1)
}

// dynamicTimeout is how long the kernel may keep a dynamic directory's
// entry and attributes: Changed drops them at once, this is a backstop.
const dynamicTimeout = time.Second

// dirNode is a directory whose entries are loaded on first use and kept
// while the kernel keeps the node; a dynamic one loads them again after
// FS.Changed.
type dirNode struct {
	gofs.Inode
	fsys *FS
	e    entry

	mu      sync.Mutex
	loaded  bool
	gen     uint64
	entries []entry // sorted by name; replaced, never changed
	err     error
}

func (d *dirNode) list() ([]entry, error) {
	if d.e.listed {
		// The listing cache keeps these, sorted, within its budget;
		// the kernel may keep the node of every folder of the store.
		return d.load()
	}
	var gen uint64
	if d.e.dynamic {
		gen = d.fsys.generation(d)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loaded && d.gen == gen {
		return d.entries, d.err
	}
	entries, err := d.load()
	sortEntries(entries)
	d.entries, d.err, d.gen, d.loaded = entries, err, gen, true
	return entries, err
}

// load lists the directory, and logs why it cannot.
func (d *dirNode) load() ([]entry, error) {
	entries, err := d.e.load()
	if err != nil {
		log.Printf("mount: cannot list %s: %v", d.e.what, err)
	}
	return entries, err
}

// sortEntries sorts entries by name, unless they are: those of a listing
// come sorted, and are shared, so they are only looked at.
func sortEntries(entries []entry) {
	if !sort.SliceIsSorted(entries, func(i, j int) bool { return entries[i].name < entries[j].name }) {
		sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	}
}

// cached returns the entries as last listed.
func (d *dirNode) cached() []entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.entries
}

func (d *dirNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.e.fill(&out.Attr)
	return 0
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return d.lookup(ctx, name, out, false)
}

// lookup looks a name up; dirsOnly answers ENOENT for anything but a
// directory (dirHandle.Lookup).
func (d *dirNode) lookup(ctx context.Context, name string, out *fuse.EntryOut, dirsOnly bool) (*gofs.Inode, syscall.Errno) {
	entries, err := d.list()
	if err != nil {
		return nil, syscall.EIO
	}
	return d.lookupIn(ctx, entries, name, out, dirsOnly)
}

// lookupIn is lookup in the entries listed.
func (d *dirNode) lookupIn(ctx context.Context, entries []entry, name string, out *fuse.EntryOut, dirsOnly bool) (*gofs.Inode, syscall.Errno) {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].name >= name })
	if i == len(entries) || entries[i].name != name || dirsOnly && !entries[i].isDir() {
		return nil, syscall.ENOENT
	}
	e := entries[i]
	if !e.isDir() && !dirsOnly && d.e.statted != nil {
		d.e.statted.Store(true)
	}
	e.fill(&out.Attr)
	if e.dynamic {
		// Changed drops the kernel's entry; its attributes must go with it.
		out.SetEntryTimeout(dynamicTimeout)
		out.SetAttrTimeout(dynamicTimeout)
	}
	n := d.NewInode(ctx, d.fsys.node(&entries[i]), gofs.StableAttr{Mode: out.Attr.Mode & syscall.S_IFMT, Ino: e.ino})
	if e.seq != nil {
		e.seq.setNode(e.pos, n)
	}
	return n, 0
}

func (d *dirNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	list, errno := d.dirEntries()
	if errno != 0 {
		return nil, errno
	}
	return gofs.NewListDirStream(list), 0
}

func (d *dirNode) dirEntries() ([]fuse.DirEntry, syscall.Errno) {
	entries, err := d.list()
	if err != nil {
		return nil, syscall.EIO
	}
	list := make([]fuse.DirEntry, len(entries))
	for i := range entries {
		list[i] = dirEntry(&entries[i], i)
	}
	return list, 0
}

// dirEntry is the directory entry of e at position i.
func dirEntry(e *entry, i int) fuse.DirEntry {
	// Only the type counts here; the kernel asks for the rest.
	mode := uint32(syscall.S_IFREG)
	switch {
	case e.isDir():
		mode = syscall.S_IFDIR
	case e.link != "":
		mode = syscall.S_IFLNK
	}
	return fuse.DirEntry{Name: e.name, Ino: e.ino, Mode: mode, Off: uint64(i + 1)}
}

// OpendirHandle lets the kernel keep the listing: below a user the tree
// never changes, and Changed tells the kernel when a dynamic one does.
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	entries, err := d.list()
	if err != nil {
		return nil, 0, syscall.EIO
	}
	return &dirHandle{d: d, entries: entries}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// dirHandle reads a directory listing; entry i has offset i+1, so a seek
// to offset k continues with entry k. A handle is opened for every
// READDIR (noOpendir), so it reads the listing in place.
type dirHandle struct {
	d       *dirNode
	entries []entry // d's, as listed at the open; never changed
	// guarded by go-fuse's per-handle lock
	pos int
	de  fuse.DirEntry // the last returned, which go-fuse copies
}

// Lookup answers READDIRPLUS for each entry listed: subdirectories come
// with their attributes, which saves a walk (find, du, tar) a LOOKUP per
// directory. Files come without (node ID 0: the kernel makes no inode),
// or a walk that never stats them (find) would make the kernel and go-fuse
// hold an inode for every message, 100 MB for 100 000, and 30 % more CPU;
// but once a file of the user's tree was looked up, its reader stats
// files (tar, rsync), and they come with theirs too, which saves it a
// LOOKUP per file.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	dirsOnly := h.d.e.statted == nil || !h.d.e.statted.Load()
	return h.d.lookupIn(ctx, h.entries, name, out, dirsOnly)
}

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if h.pos >= len(h.entries) {
		return nil, 0
	}
	h.de = dirEntry(&h.entries[h.pos], h.pos)
	h.pos++
	return &h.de, 0
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.pos = int(min(off, uint64(len(h.entries))))
	return 0
}

// fileNode is a message or a control file. Its entry is its directory's,
// which is never changed: a hundred thousand files keep one copy.
type fileNode struct {
	gofs.Inode
	fsys *FS
	e    *entry
}

func (f *fileNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.e.fill(&out.Attr)
	return 0
}

// Open answers ENOSYS, which tells the kernel that files need no open at
// all: from then on it sends neither OPEN nor RELEASE, and keeps the pages
// it has read (a file never changes), so reading a file is a LOOKUP, its
// READs and a GETATTR. A write open is then up to the kernel: it refuses
// it for want of write bits, except to root, whose writes and truncations
// reach Write and Setattr and fail there.
func (f *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	return nil, 0, syscall.ENOSYS
}

func (f *fileNode) Write(ctx context.Context, fh gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	return 0, syscall.EROFS
}

func (f *fileNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

// Flush answers ENOSYS: nothing is written, so a close has nothing to
// flush, and the kernel stops sending FLUSH on every close.
func (f *fileNode) Flush(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	return syscall.ENOSYS
}

func (f *fileNode) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	data := f.e.data
	if f.e.blob != nil {
		var err error
		data, err = f.fsys.blob(f.e)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, syscall.EINTR
			}
			log.Printf("mount: cannot read %s: %v", f.e.where(), err)
			return nil, syscall.EIO
		}
	}
	if off >= int64(len(data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(data[off:min(off+int64(len(dest)), int64(len(data)))]), 0
}

// linkNode is a symbolic link (.snapshots/latest).
type linkNode struct {
	gofs.Inode
	e entry
}

func (l *linkNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.e.fill(&out.Attr)
	return 0
}

func (l *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.e.link), 0
}

// Compile-time checks of the go-fuse interfaces each node implements.
var (
	_ gofs.NodeGetattrer      = (*dirNode)(nil)
	_ gofs.NodeLookuper       = (*dirNode)(nil)
	_ gofs.NodeReaddirer      = (*dirNode)(nil)
	_ gofs.NodeOpendirHandler = (*dirNode)(nil)
	_ gofs.FileLookuper       = (*dirHandle)(nil)
	_ gofs.NodeGetattrer      = (*fileNode)(nil)
	_ gofs.NodeOpener         = (*fileNode)(nil)
	_ gofs.NodeFlusher        = (*fileNode)(nil)
	_ gofs.NodeWriter         = (*fileNode)(nil)
	_ gofs.NodeSetattrer      = (*fileNode)(nil)
	_ gofs.NodeReader         = (*fileNode)(nil)
	_ gofs.InodeEmbedder      = (*dirNode)(nil)
	_ gofs.InodeEmbedder      = (*fileNode)(nil)
	_ gofs.NodeReadlinker     = (*linkNode)(nil)
	_ gofs.NodeGetattrer      = (*linkNode)(nil)
)

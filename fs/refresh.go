package fs

import "syscall"

// Changed tells the mount that the Source has new snapshots. The
// directories whose content depends on which snapshots exist (the root,
// servers, groups, .snapshots and its times) list again on next use, and
// the kernel is told to forget what it cached of them: their listings and
// the names in them, so that new names appear and users' trees are looked
// up again. A user's tree below that is never stale: its inode numbers name
// the snapshot it shows, so a new snapshot is a new directory, and message
// files keep their inode numbers and cached pages.
//
// Changed must not be called from a FUSE request: the kernel answers a
// notification only after the requests it waits for.
func (fsys *FS) Changed() {
	fsys.mu.Lock()
	fsys.gen++
	dirs := make([]*dirNode, 0, len(fsys.dynamic))
	for _, d := range fsys.dynamic {
		dirs = append(dirs, d)
	}
	fsys.mu.Unlock()
	for _, d := range dirs {
		old := d.cached()
		names := map[string]bool{}
		for _, e := range old {
			names[e.name] = true
		}
		fresh, _ := d.list()
		for _, e := range fresh {
			names[e.name] = true
		}
		for name := range names {
			// ENOENT: the kernel had no entry of that name; nothing to drop.
			if errno := d.NotifyEntry(name); errno != 0 && errno != syscall.ENOENT {
				logf("mount: cannot refresh %s/%s: %v", d.e.what, name, errno)
			}
		}
		d.NotifyContent(0, 0)
	}
}

// generation returns the current generation and registers d as a
// dynamic directory the kernel knows.
func (fsys *FS) generation(d *dirNode) uint64 {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.dynamic[d.e.ino] = d
	return fsys.gen
}

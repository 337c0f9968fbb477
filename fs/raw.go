package fs

import "github.com/hanwen/go-fuse/v2/fuse"

// noOpendir answers the kernel's OPENDIR with ENOSYS, after which it sends
// no OPENDIR and RELEASEDIR at all and caches listings as if every
// directory had been opened with FOPEN_CACHE_DIR: a walk (find, tar) then
// costs a LOOKUP and two READDIRs per directory instead of five round
// trips. go-fuse's bridge wants a handle for READDIR, so each READDIR
// opens one, reads and releases it; the listings are in memory
// (dirNode.list), and a handle continues at any offset (dirHandle.Seekdir).
type noOpendir struct {
	fuse.RawFileSystem
}

func (noOpendir) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return fuse.ENOSYS
}

func (r noOpendir) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return r.withHandle(cancel, in, func(in *fuse.ReadIn) fuse.Status { return r.RawFileSystem.ReadDir(cancel, in, out) })
}

func (r noOpendir) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return r.withHandle(cancel, in, func(in *fuse.ReadIn) fuse.Status { return r.RawFileSystem.ReadDirPlus(cancel, in, out) })
}

// withHandle calls read with a directory handle of the bridge's in place
// of the kernel's none.
func (r noOpendir) withHandle(cancel <-chan struct{}, in *fuse.ReadIn, read func(*fuse.ReadIn) fuse.Status) fuse.Status {
	if in.Fh != 0 {
		return read(in) // opened before the kernel learned of ENOSYS
	}
	var open fuse.OpenOut
	if st := r.RawFileSystem.OpenDir(cancel, &fuse.OpenIn{InHeader: in.InHeader}, &open); !st.Ok() {
		return st
	}
	defer r.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: in.InHeader, Fh: open.Fh})
	h := *in
	h.Fh = open.Fh
	return read(&h)
}

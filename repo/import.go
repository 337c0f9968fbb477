package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/groups"
)

// ErrExists means an archive being imported is in the repository already.
var ErrExists = errors.New("archive is already in the repository")

// ImportOptions say where an imported archive comes from.
type ImportOptions struct {
	// Name is the input's file name, when it is a file: an archive of that
	// name in archives/ is taken to be the same archive.
	Name string
}

// Imported is what an import brought into the repository.
type Imported struct {
	Name     string // file name under archives/
	Header   archive.Header
	Users    int
	Folders  int
	Messages int   // message records: for a folder told as a change, the files added
	Bytes    int64 // the sizes of those messages
	Blobs    int
	Size     int64 // bytes of the archive file
	// Origins are the times of the earlier snapshots (of the same server
	// and group) that folders of an incremental archive are told as a
	// change of, sorted: the index can take the archive in only once
	// their archives are in the repository too.
	Origins []int64
}

// Import copies an archive from r (a file, or a stream from a pipe) into
// archives/. The stream is read once with the streaming reader, so every
// frame, every blob's sha-256 and the trailer are checked on the way; the
// copy goes into a pending file under tmp/ that is committed only when the
// whole stream has been read and found intact. A damaged or truncated
// input returns the archive package's ErrCorrupt or ErrTruncated and
// leaves nothing behind. An archive that is already in the repository
// (same header ID, or same server, group and snapshot time, or same file
// name) returns ErrExists and changes nothing.
//
// Import does not touch the index: the next Open ingests the archive.
func (l Layout) Import(ctx context.Context, r io.Reader, opt ImportOptions) (*Imported, error) {
	if err := check(string(l)); err != nil {
		return nil, err
	}
	if opt.Name != "" {
		base := filepath.Base(opt.Name)
		if _, err := os.Lstat(l.ArchivePath(base)); err == nil {
			return nil, fmt.Errorf("%w: archives/%s has the same name", ErrExists, base)
		}
	}
	in := &teeInput{ctx: ctx, r: r}
	sr, err := archive.NewStreamReader(in)
	if err != nil {
		return nil, in.cause(err)
	}
	h := sr.Header()
	if err := validHeader(h); err != nil {
		return nil, err
	}
	// A first look, so that an archive imported twice is refused before
	// its stream is read; the look that counts is taken under the lock.
	if err := l.checkNew(h); err != nil {
		return nil, err
	}
	p, err := l.Create(ArchiveName(time.Unix(0, h.Created), h.Server, h.Group))
	if err != nil {
		return nil, err
	}
	if err := in.startCopy(p); err != nil {
		p.Abort()
		return nil, fmt.Errorf("cannot write %s: %w", p.Name(), err)
	}
	res, err := readAll(sr, h)
	if err != nil {
		p.Abort()
		return nil, in.cause(err)
	}
	res.Size = in.n

	lock, err := l.lockImports()
	if err != nil {
		p.Abort()
		return nil, err
	}
	defer lock.Unlock()
	if err := l.checkNew(h); err != nil {
		p.Abort()
		return nil, err
	}
	if res.Name, err = p.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// readAll reads the stream to its verified end, counting what it holds.
func readAll(sr *archive.StreamReader, h archive.Header) (*Imported, error) {
	res := &Imported{Header: h}
	users := map[string]bool{}
	origins := map[int64]bool{}
	for {
		rec, err := sr.Next()
		if err == io.EOF {
			res.Users = len(users)
			for t := range origins {
				res.Origins = append(res.Origins, t)
			}
			slices.Sort(res.Origins)
			return res, nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case rec.Blob != nil:
			res.Blobs++
		case rec.Folder != nil:
			// Names that would climb out of a restore target or the mount
			// are refused with the archive: no store gives them.
			if err := archive.CheckFolder(rec.Folder); err != nil {
				return nil, fmt.Errorf("folder record %d: %w", res.Folders+1, err)
			}
			res.Folders++
			users[rec.Folder.User] = true
			if rec.Folder.Origin != 0 {
				origins[rec.Folder.Origin] = true
			}
			res.Messages += len(rec.Folder.Messages)
			for _, m := range rec.Folder.Messages {
				res.Bytes += m.Size
			}
		}
	}
}

// validHeader refuses a header whose server or group cannot name a
// directory of the mount and a part of an archive file name.
func validHeader(h archive.Header) error {
	if err := groups.ValidName(h.Server); err != nil {
		return fmt.Errorf("%w: header: server: %v", archive.ErrCorrupt, err)
	}
	if err := groups.ValidName(h.Group); err != nil {
		return fmt.Errorf("%w: header: group: %v", archive.ErrCorrupt, err)
	}
	if h.Created <= 0 {
		return fmt.Errorf("%w: header: no snapshot time", archive.ErrCorrupt)
	}
	return nil
}

// checkNew returns ErrExists if an archive in archives/ has the header's
// ID, or the same server, group and snapshot time (the index could not
// tell two such snapshots apart). Reading a header is cheap: the first
// frame of each file. An archive whose header cannot be read is no
// duplicate of anything.
func (l Layout) checkNew(h archive.Header) error {
	names, err := l.ArchiveNames()
	if err != nil {
		return err
	}
	for _, n := range names {
		o, err := readArchiveHeader(l.ArchivePath(n))
		if err != nil {
			continue
		}
		switch {
		case o.ID == h.ID && h.ID != [16]byte{}:
			return fmt.Errorf("%w as archives/%s (same archive id %x)", ErrExists, n, h.ID[:6])
		case o.Created == h.Created && o.Server == h.Server && o.Group == h.Group:
			return fmt.Errorf("%w as archives/%s (same server %s, group %s and snapshot time %s)", ErrExists, n,
				h.Server, h.Group, time.Unix(0, h.Created).UTC().Format(time.RFC3339Nano))
		}
	}
	return nil
}

func readArchiveHeader(path string) (archive.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return archive.Header{}, err
	}
	defer f.Close()
	sr, err := archive.NewStreamReader(f)
	if err != nil {
		return archive.Header{}, err
	}
	return sr.Header(), nil
}

// lockImports serialises the last duplicate check and the commit of
// imports, so that two imports of one archive at once give one file. It
// waits for the other import: that takes a rename, not a stream.
func (l Layout) lockImports() (*Lock, error) {
	path := filepath.Join(l.Locks(), "import.lock")
	if err := os.MkdirAll(l.Locks(), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", l.Locks(), err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open lock file: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// teeInput passes the input to the stream reader and copies every byte
// read into the pending file. Until the file exists (the header names it)
// the bytes are kept in memory: the reader's buffer, at most 64 KiB.
// Errors of the copy and of the context are kept apart from the input's,
// so that a full disk is not reported as a damaged archive.
//
// One goroutine (the caller of Import) uses it.
type teeInput struct {
	ctx  context.Context
	r    io.Reader
	head bytes.Buffer // read before the file existed
	w    io.Writer    // the pending file, once it exists
	n    int64        // bytes read so far
	werr error        // the first error of the copy or the context
}

func (t *teeInput) Read(p []byte) (int, error) {
	if t.werr != nil {
		return 0, t.werr
	}
	if err := t.ctx.Err(); err != nil {
		t.werr = err
		return 0, err
	}
	n, err := t.r.Read(p)
	t.n += int64(n)
	if t.w == nil {
		t.head.Write(p[:n])
	} else if _, werr := t.w.Write(p[:n]); werr != nil {
		t.werr = fmt.Errorf("cannot write the copy: %w", werr)
		return 0, t.werr
	}
	return n, err
}

// startCopy writes what was read so far to w and sends the rest there.
func (t *teeInput) startCopy(w io.Writer) error {
	if _, err := w.Write(t.head.Bytes()); err != nil {
		return err
	}
	t.w = w
	t.head = bytes.Buffer{}
	return nil
}

// cause returns the copy's or the context's error when that is why the
// reader failed, else the reader's.
func (t *teeInput) cause(err error) error {
	if t.werr != nil {
		return t.werr
	}
	return err
}

package backup

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/maildir"
)

// read is the outcome of reading one message file.
type read struct {
	m      maildir.MessageFile
	hash   archive.Hash
	pieces []archive.Piece
	err    error
}

// messages records the message files of a scanned folder, reading those
// the base snapshot does not have, several at a time, and adding their
// blobs in the folder's order.
func (ur *userRun) messages(f *maildir.Folder) ([]archive.Message, error) {
	g := ur.g
	out := make([]archive.Message, len(f.Messages))
	done := make([]bool, len(f.Messages))
	var toRead []int
	for i, mf := range f.Messages {
		if m := ur.reuse(mf); m != nil {
			out[i], done[i] = *m, true
			continue
		}
		if mf.Size > MaxMessage {
			g.problem(ur.u.ID+"/"+f.Name+"/"+mf.Subdir+"/"+mf.Name,
				fmt.Errorf("skipped: %d bytes, more than the %d bytes a message can have in an archive", mf.Size, MaxMessage))
			continue
		}
		toRead = append(toRead, i)
	}
	if g.planning != nil {
		for _, i := range toRead {
			*g.planning = append(*g.planning, ur.candidate(f.Messages[i]))
		}
		return nil, nil
	}
	if g.store != nil {
		toRead = ur.leaveOut(f, toRead, out, done)
	}
	for start := 0; start < len(toRead); {
		batch := nextBatch(f, toRead[start:])
		start += len(batch)
		reads := ur.read(f, batch)
		for j, i := range batch {
			r := &reads[j]
			switch {
			case errors.Is(r.err, maildir.ErrVanished):
				g.Vanished++ // expunged while we read: left out cleanly
				continue
			case r.err != nil:
				g.problem(ur.u.ID+"/"+f.Name+"/"+r.m.Subdir+"/"+r.m.Name, r.err)
				continue
			}
			m := message(r.m)
			m.Blob = r.hash
			for _, p := range r.pieces {
				g.BytesRead += int64(len(p.Data))
				if len(r.pieces) > 1 {
					m.Parts = append(m.Parts, p.Hash)
				}
				if !g.opt.Copies && (g.st.has(p.Hash) || g.w.HasBlob(p.Hash)) {
					continue
				}
				if _, err := g.w.AddBlob(p.Hash, p.Data); err != nil {
					return nil, err
				}
				g.BytesNew += int64(len(p.Data))
			}
			out[i], done[i] = m, true
			if r.m.Nlink > 1 {
				ur.links[m.Link] = m
			}
		}
	}
	kept := out[:0]
	for i := range out {
		if done[i] {
			kept = append(kept, out[i])
		}
	}
	return kept, nil
}

// MaxMessage is the largest message file a backup stores: the largest blob
// the archive format holds. A larger file is skipped and named, and the
// run is PARTIAL.
const MaxMessage int64 = archive.MaxRecord - int64(len(archive.Hash{}))

// Messages in flight, read and not yet added to the archive: at most
// batchMessages files, and no more than batchBytes unless one file is
// larger by itself. This bounds memory (a folder of large messages costs
// batchBytes plus the largest message, not 64 of them) and keeps the
// readers busy.
const (
	batchMessages = 64
	batchBytes    = 64 << 20
)

// nextBatch returns the first messages of todo (indexes into f.Messages)
// to read at once.
func nextBatch(f *maildir.Folder, todo []int) []int {
	var bytes int64
	for n, i := range todo {
		size := f.Messages[i].Size
		if n == batchMessages || (n > 0 && bytes+size > batchBytes) {
			return todo[:n]
		}
		bytes += size
	}
	return todo
}

// reuse returns the record of a message file whose bytes are stored
// already: a file of the base snapshot (same base name, size and mtime:
// Maildir files are never rewritten, only renamed) or a hard link of a
// file read in this run. Nil means the file must be read.
func (ur *userRun) reuse(mf maildir.MessageFile) *archive.Message {
	g := ur.g
	var from *archive.Message
	if g.opt.Copies {
		return nil // every file read and stored, hard links too
	}
	// A hard link has the size and mtime of the file read; an inode freed
	// and reused meanwhile (an expunge, then a delivery) has not.
	if l, ok := ur.links[linkOf(mf)]; ok && mf.Nlink > 1 && l.Size == mf.Size && l.Mtime == mf.Mtime {
		from = &l
	}
	if from == nil && !g.opt.Full {
		if prev := ur.priorMessage(maildir.BaseName(mf.Name)); prev != nil && prev.Size == mf.Size && prev.Mtime == mf.Mtime && g.stored(prev) {
			from = prev
		}
	}
	if from == nil {
		return nil
	}
	m := message(mf)
	m.Blob, m.Parts = from.Blob, from.Parts
	return &m
}

// priorMessage finds a message of the base snapshot by base name, in any
// folder of the user: IMAP MOVE renames a file into another folder.
func (ur *userRun) priorMessage(base string) *archive.Message {
	if len(ur.prior) == 0 {
		return nil
	}
	if ur.known == nil {
		ur.known = map[string]*archive.Message{}
		for _, f := range ur.prior {
			if err := ur.g.orig.resolve(f); err != nil {
				continue // its files are read from the store
			}
			for i := range f.whole.Messages {
				ur.known[maildir.BaseName(f.whole.Messages[i].Name)] = &f.whole.Messages[i]
			}
		}
	}
	return ur.known[base]
}

// read reads the message files f.Messages[i] for i in batch, opt.Readers at
// a time, and hashes them.
func (ur *userRun) read(f *maildir.Folder, batch []int) []read {
	reads := make([]read, len(batch))
	// Each reader takes the next file by a counter, not from a channel: a
	// hand-off per message woke goroutines on the other core for nothing.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(ur.g.opt.Readers, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= len(batch) {
					return
				}
				r := &reads[j]
				var data []byte
				data, r.m, r.err = f.ReadMessage(f.Messages[batch[j]])
				if r.err == nil {
					r.hash, r.pieces = archive.Split(data)
				}
			}
		}()
	}
	wg.Wait()
	return reads
}

// message is the record of a message file, without its blobs.
func message(m maildir.MessageFile) archive.Message {
	return archive.Message{
		Subdir: m.Subdir, Name: m.Name, Size: m.Size, Mtime: m.Mtime, Mode: m.Mode,
		UID: m.UID, Link: linkOf(m), Nlink: m.Nlink,
	}
}

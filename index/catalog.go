package index

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"log"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/mailvault/mailvault/archive"
)

// FormatVersion is the version of the key layout. An index of another
// version is thrown away and rebuilt: it is only a cache.
const FormatVersion = "mailvault-index 3"

var (
	// ErrLocked means another process holds the index.
	ErrLocked = errors.New("index is in use by another mailvault process")
	// ErrNotFound means the index holds no such entry.
	ErrNotFound = errors.New("not in the index")
)

// Catalog is the badger database of one repository.
type Catalog struct {
	db *badger.DB

	mu       sync.Mutex // guards archives and nextNum
	archives map[uint32]*ArchiveInfo
	nextNum  uint32
}

// dbOptions are the badger options of the index in dir.
func dbOptions(dir string) badger.Options {
	// Memory is the budget here: a backup ingests its archive right after
	// writing it, and its peak RSS is badger's. Each table builder holds
	// twice its table size, and a compaction runs several at once, so
	// tables are small. Level 0 takes several tables before it is
	// compacted: an incremental run adds about one, and merging level 0
	// into level 1 rewrites most of level 1 (blob keys are spread over the
	// whole key range), so that is done every few runs, not every run.
	// Level 0 takes the ten or so tables of a first full backup of the
	// 100 000 message bench store without a compaction: a compaction in
	// that run rewrote every table while the new ones were mapped beside
	// the old, 20 MB more RSS and a third of the ingest's CPU.
	return badger.DefaultOptions(dir).
		WithLogger(quietLogger{}).
		WithMemTableSize(4 << 20).
		WithNumMemtables(2).
		WithBaseTableSize(1 << 20).
		WithNumLevelZeroTables(15).
		WithNumLevelZeroTablesStall(21).
		// At most 15 % of a memtable, which badger requires.
		WithValueThreshold(512 << 10).
		// Keys and values are mostly hashes: snappy saved about 15 % of
		// the tables, cost CPU on every write and read, and doubled what a
		// table builder holds. Uncompressed blocks are read in place from
		// the mapped table. Each table records its compression, so tables
		// written before still read.
		WithCompression(options.None).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(8 << 20).
		WithNumCompactors(2).
		// A damaged index must fail to open or to read, never answer
		// wrongly: tables are checked when opened (checkTables,
		// verifyBlocks: badger's own check at open can panic) and every
		// block when read.
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true)
}

// Open opens (creating if needed) the index in dir for a backup, which
// writes much of it. It returns ErrLocked when another process holds it,
// and an error wrapping ErrStale when the directory holds an index of
// another format version.
func Open(dir string) (*Catalog, error) { return open(dir, dbOptions(dir)) }

// OpenForReads is Open for a process that mostly reads the index (a
// mount, a restore): level 0 is compacted into the level below as soon as
// it holds a few tables, in the background. A first or full backup leaves
// ten or so there, each spanning the whole key range (blob keys are
// hashes), and every look-up asks each of them; compacted, look-ups took
// half the time and folder listings 0.6 of it. A backup lets level 0
// grow (dbOptions), for its memory.
func OpenForReads(dir string) (*Catalog, error) {
	return open(dir, dbOptions(dir).WithNumLevelZeroTables(readerLevel0))
}

// readerLevel0 is how many tables level 0 holds, at most, once a reader
// has the index: a reader after an incremental run or two leaves them be.
const readerLevel0 = 4

func open(dir string, opt badger.Options) (*Catalog, error) {
	if err := checkTables(dir); err != nil {
		return nil, fmt.Errorf("cannot open index %s: %w", dir, err)
	}
	db, err := badger.Open(opt)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("%w (%s)", ErrLocked, dir)
		}
		return nil, fmt.Errorf("cannot open index %s: %w", dir, err)
	}
	if err := verifyBlocks(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot open index %s: %w", dir, err)
	}
	c := &Catalog{db: db, archives: map[uint32]*ArchiveInfo{}, nextNum: 1}
	if err := c.checkVersion(); err != nil {
		db.Close()
		return nil, err
	}
	if err := c.loadArchives(); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

// ErrStale means the index was written by another format version.
var ErrStale = errors.New("index has another format version")

func (c *Catalog) checkVersion() error {
	return c.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte{prefixVersion})
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set([]byte{prefixVersion}, []byte(FormatVersion))
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if string(v) != FormatVersion {
			return fmt.Errorf("%w: %q", ErrStale, v)
		}
		return nil
	})
}

// Close flushes and closes the database.
func (c *Catalog) Close() error { return c.db.Close() }

func (c *Catalog) loadArchives() error {
	return c.scan([]byte{prefixArchive}, func(k, v []byte) error {
		comps, _, err := splitComps(k[1:], 1)
		if err != nil {
			return err
		}
		a, err := decodeArchive(comps[0], v)
		if err != nil {
			return fmt.Errorf("archive entry %s: %w", comps[0], err)
		}
		c.archives[a.Num] = a
		if a.Num >= c.nextNum {
			c.nextNum = a.Num + 1
		}
		return nil
	})
}

// Archives lists the archives the index has ingested, by name.
func (c *Catalog) Archives() []*ArchiveInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*ArchiveInfo, 0, len(c.archives))
	for _, a := range c.archives {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Archive returns an ingested archive by number.
func (c *Catalog) Archive(num uint32) (*ArchiveInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.archives[num]
	return a, ok
}

// Ingest catalogs an archive file: its snapshot, users, folders, messages
// and blobs. The archive must not have been ingested before.
func (c *Catalog) Ingest(name string, size int64, r *archive.Reader) error {
	tr := r.Trailer()
	c.mu.Lock()
	info := &ArchiveInfo{Name: name, Num: c.nextNum, Size: size, Header: r.Header(), Frames: tr.Frames}
	c.nextNum++
	c.mu.Unlock()

	wb := c.db.NewWriteBatch()
	// Each pending transaction holds up to 15 % of a memtable; the
	// default of 16 in flight would be more than the memtables.
	wb.SetMaxPendingTxns(2)
	defer wb.Cancel()
	h := info.Header
	for _, b := range tr.Blobs {
		if err := wb.Set(blobKey(b.Hash), encodeBlob(Blob{Archive: info.Num, Loc: b.Loc})); err != nil {
			return err
		}
	}
	type userSum struct {
		folders, msgs int
		bytes         int64
	}
	users := map[string]*userSum{}
	var snapMsgs int
	var snapBytes int64
	for _, loc := range tr.Folders {
		// One folder at a time: memory stays flat however large the archive.
		f, err := r.ReadFolder(loc)
		if err != nil {
			return err
		}
		// Names that climb out of a directory are refused with the
		// archive, as import refuses them: the index holds none.
		if err := archive.CheckFolder(f); err != nil {
			return fmt.Errorf("folder at logical offset %d: %w", loc.Offset, err)
		}
		var fr *Folder
		if f.Origin != 0 {
			fr, err = c.carried(wb, h, f)
		} else {
			fr, err = c.putListing(wb, f)
		}
		if err != nil {
			return err
		}
		if err := wb.Set(folderKey(h.Server, h.Group, f.User, h.Created, f.Name), encodeFolder(fr)); err != nil {
			return err
		}
		u := users[f.User]
		if u == nil {
			u = &userSum{}
			users[f.User] = u
		}
		u.folders++
		u.msgs += fr.Msgs
		u.bytes += fr.Bytes
		snapMsgs += fr.Msgs
		snapBytes += fr.Bytes
	}
	for name, u := range users {
		v := encodeCounts(info.Num, 1, u.folders, u.msgs, u.bytes)
		if err := wb.Set(userKey(h.Server, h.Group, name, h.Created), v); err != nil {
			return err
		}
	}
	v := encodeCounts(info.Num, len(users), len(tr.Folders), snapMsgs, snapBytes)
	if err := wb.Set(snapKey(h.Server, h.Created, h.Group), v); err != nil {
		return err
	}
	// The archive entry goes last: an index that has it has everything else.
	if err := wb.Set(archiveKey(name), encodeArchive(info)); err != nil {
		return err
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("cannot write index: %w", err)
	}
	c.mu.Lock()
	c.archives[info.Num] = info
	c.mu.Unlock()
	return nil
}

// carried returns the record of a folder told as a change of the same
// folder in an earlier snapshot (archive.Folder.Origin): the listing of
// the folder there if nothing changed, else a listing with the change.
func (c *Catalog) carried(wb *badger.WriteBatch, h archive.Header, f *archive.Folder) (*Folder, error) {
	var origin *Folder
	err := c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(folderKey(h.Server, h.Group, f.User, f.Origin, f.Name))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			origin, err = decodeFolder(f.Name, v)
			return err
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("folder %s of %s is carried over from the snapshot of %s, which is not in the repository: %w",
			f.Name, f.User, time.Unix(0, f.Origin).UTC().Format(time.RFC3339), ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if len(f.Messages) == 0 && len(f.Removed) == 0 && len(f.Files) == 0 {
		// Nothing changed: the origin's listing as it is. Most folders of
		// an incremental run are such, and the origin's control files need
		// not be read to know it.
		fr := folderOf(f)
		fr.Listing, fr.Msgs, fr.Bytes = origin.Listing, origin.Msgs, origin.Bytes
		return fr, nil
	}
	cid := changeID(origin.Listing, f)
	if fr, err := c.knownChange(cid, f); err != nil || fr != nil {
		return fr, err
	}
	controls, err := c.Controls(origin.Listing)
	if err != nil {
		return nil, err
	}
	for _, changed := range f.Files {
		if !slices.ContainsFunc(controls, func(o archive.File) bool { return o.Name == changed.Name }) {
			return nil, fmt.Errorf("folder %s of %s: control file %s is not in the snapshot it is told against: %w", f.Name, f.User, changed.Name, archive.ErrCorrupt)
		}
	}
	if len(f.Messages) > 0 || len(f.Removed) > 0 || !reflect.DeepEqual(f.Apply(&archive.Folder{Files: controls}).Files, controls) {
		// A delta is named by the change it stores; a whole listing by
		// its content.
		fr, err := c.putDelta(wb, cid, origin, controls, f)
		if err != nil {
			return nil, err
		}
		if fr != nil {
			return fr, wb.Set(changeKey(cid), encodeChange(fr))
		}
		msgs, err := c.Messages(origin.Listing)
		if err != nil {
			return nil, err
		}
		whole := &archive.Folder{Files: controls, Messages: make([]archive.Message, len(msgs))}
		for i, m := range msgs {
			whole.Messages[i] = archive.Message{Subdir: m.Subdir, Name: m.Name, Size: m.Size, Mtime: m.Mtime,
				Mode: m.Mode, UID: m.UID, Blob: m.Blob, Link: m.Link, Nlink: m.Nlink}
		}
		if fr, err = c.putListing(wb, f.Apply(whole)); err != nil {
			return nil, err
		}
		return fr, wb.Set(changeKey(cid), encodeChange(fr))
	}
	fr := folderOf(f)
	fr.Listing, fr.Msgs, fr.Bytes = origin.Listing, origin.Msgs, origin.Bytes
	return fr, nil
}

// changeID names a change of a listing: the listing id and every field of
// the change that the listing it makes depends on.
func changeID(origin ListingID, f *archive.Folder) (id [16]byte) {
	sum := sha256.New()
	sum.Write(origin[:])
	var n [8]byte
	count := func(k int) {
		for i := range n {
			n[i] = byte(k >> (8 * i))
		}
		sum.Write(n[:])
	}
	count(len(f.Files))
	for i := range f.Files {
		writeLen(sum, []byte(f.Files[i].Name))
		writeLen(sum, encodeControl(&f.Files[i]))
	}
	count(len(f.Removed))
	for _, r := range f.Removed {
		writeLen(sum, []byte(r))
	}
	count(len(f.Messages))
	for i := range f.Messages {
		m := &f.Messages[i]
		im := Message{Subdir: m.Subdir, Name: m.Name, Size: m.Size, Mtime: m.Mtime, Mode: m.Mode, UID: m.UID, Blob: m.Blob, Link: m.Link, Nlink: m.Nlink}
		writeLen(sum, []byte(m.Subdir))
		writeLen(sum, []byte(m.Name))
		writeLen(sum, encodeMessage(&im))
		count(len(m.Parts))
		for _, p := range m.Parts {
			sum.Write(p[:])
		}
	}
	copy(id[:], sum.Sum(nil))
	return id
}

// knownChange returns the record of a folder told as a change that an
// earlier archive told the same way (nil if none did): its listing is
// stored already.
func (c *Catalog) knownChange(id [16]byte, f *archive.Folder) (*Folder, error) {
	var fr *Folder
	err := c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(changeKey(id))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			fr = folderOf(f)
			return decodeChange(fr, v)
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	return fr, err
}

// putListing writes the messages and control files of a folder under its
// listing id, unless a listing with that id is already there.
// folderOf is the index record of a folder, without its listing.
func folderOf(f *archive.Folder) *Folder {
	return &Folder{
		Name: f.Name, Dir: f.Dir, UIDValidity: f.UIDValidity, NextUID: f.NextUID, GUID: f.GUID,
		Keywords: f.Keywords, Mode: f.Mode, OwnerUID: f.OwnerUID, OwnerGID: f.OwnerGID,
		CurMtime: f.CurMtime, NewMtime: f.NewMtime, Msgs: len(f.Messages),
	}
}

func (c *Catalog) putListing(wb *badger.WriteBatch, f *archive.Folder) (*Folder, error) {
	fr := folderOf(f)
	type kv struct{ k, v []byte }
	kvs := make([]kv, 0, len(f.Messages)+len(f.Files))
	sum := sha256.New()
	for i := range f.Messages {
		m := &f.Messages[i]
		fr.Bytes += m.Size
		im := Message{Subdir: m.Subdir, Name: m.Name, Size: m.Size, Mtime: m.Mtime, Mode: m.Mode, UID: m.UID, Blob: m.Blob, Link: m.Link, Nlink: m.Nlink}
		kvs = append(kvs, kv{appendComp(appendComp(nil, m.Subdir), m.Name), encodeMessage(&im)})
	}
	nmsg := len(kvs)
	for i := range f.Files {
		kvs = append(kvs, kv{appendComp(nil, f.Files[i].Name), encodeControl(&f.Files[i])})
	}
	for i, p := range kvs {
		tag := byte(prefixMessage)
		if i >= nmsg {
			tag = prefixControl
		}
		sum.Write([]byte{tag})
		writeLen(sum, p.k)
		writeLen(sum, p.v)
	}
	copy(fr.Listing[:], sum.Sum(nil))
	exists, err := c.exists(listingPrefix(prefixMessage, fr.Listing))
	if err != nil || exists {
		return fr, err
	}
	for i, p := range kvs {
		prefix := listingPrefix(prefixMessage, fr.Listing)
		if i >= nmsg {
			prefix = listingPrefix(prefixControl, fr.Listing)
		}
		if err := wb.Set(append(prefix, p.k...), p.v); err != nil {
			return nil, err
		}
	}
	if err := putParts(wb, f.Messages); err != nil {
		return nil, err
	}
	// A marker under the message prefix, so that an empty listing exists too.
	return fr, wb.Set(listingPrefix(prefixMessage, fr.Listing), nil)
}

func writeLen(w interface{ Write([]byte) (int, error) }, b []byte) {
	var n [8]byte
	for i := range n {
		n[i] = byte(len(b) >> (8 * i))
	}
	w.Write(n[:])
	w.Write(b)
}

func (c *Catalog) exists(k []byte) (bool, error) {
	err := c.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(k)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// scan calls fn for every key with the prefix, in order.
func (c *Catalog) scan(prefix []byte, fn func(k, v []byte) error) error {
	return c.db.View(func(txn *badger.Txn) error {
		// Values are kept in the tables (ValueThreshold), so prefetching
		// them would only copy each one twice.
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(item.Key(), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// distinct lists the distinct values of the component that follows prefix,
// seeking past each subtree instead of reading it.
func (c *Catalog) distinct(prefix []byte) ([]string, error) {
	var out []string
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); {
			k := it.Item().Key()
			s, _, err := readComp(k[len(prefix):])
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			out = append(out, s)
			it.Seek(prefixEnd(appendComp(bytes.Clone(prefix), s)))
		}
		return nil
	})
	return out, err
}

// Servers lists the servers that have snapshots.
func (c *Catalog) Servers() ([]string, error) { return c.distinct([]byte{prefixUser}) }

// Groups lists the groups of a server.
func (c *Catalog) Groups(server string) ([]string, error) {
	return c.distinct(key(prefixUser, server))
}

// Users lists the users of a group as they were in their latest snapshot
// taken at or before at (unix ns; 0 for the latest of all). A partial
// (--since) snapshot counts only when at is its own time.
func (c *Catalog) Users(server, group string, at int64) ([]User, error) {
	var out []User
	prefix := key(prefixUser, server, group)
	hidden := c.hidden()
	err := c.scan(prefix, func(k, v []byte) error {
		comps, rest, err := splitComps(k[len(prefix):], 1)
		if err != nil {
			return err
		}
		t, _, err := readTime(rest)
		if err != nil {
			return err
		}
		if at != 0 && t > at || hidden[snapID{server, group, t}] {
			return nil
		}
		num, _, folders, msgs, size, err := decodeCounts(v)
		if err != nil {
			return err
		}
		if t != at && c.partial(num) {
			return nil // a --since snapshot is never the latest, only itself
		}
		u := User{Server: server, Group: group, Name: comps[0], Time: t, Archive: num, Folders: folders, Msgs: msgs, Bytes: size}
		if n := len(out); n > 0 && out[n-1].Name == u.Name {
			out[n-1] = u // a later snapshot of the same user
		} else {
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

// partial reports whether an archive holds a --since snapshot.
func (c *Catalog) partial(num uint32) bool {
	a, ok := c.Archive(num)
	return ok && a.Header.Flags&archive.FlagSince != 0
}

// Snapshots lists the snapshots of a server (all servers when server is
// ""), oldest first.
func (c *Catalog) Snapshots(server string) ([]Snapshot, error) {
	prefix := []byte{prefixSnap}
	if server != "" {
		prefix = key(prefixSnap, server)
	}
	var out []Snapshot
	hidden := c.hidden()
	err := c.scan(prefix, func(k, v []byte) error {
		comps, rest, err := splitComps(k[1:], 1)
		if err != nil {
			return err
		}
		t, rest, err := readTime(rest)
		if err != nil {
			return err
		}
		g, _, err := splitComps(rest, 1)
		if err != nil {
			return err
		}
		s := Snapshot{Server: comps[0], Group: g[0], Time: t}
		if hidden[snapID{s.Server, s.Group, t}] {
			return nil // forgotten
		}
		s.Archive, s.Users, s.Folders, s.Msgs, s.Bytes, err = decodeCounts(v)
		s.Partial = c.partial(s.Archive)
		out = append(out, s)
		return err
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	return out, err
}

// Folders lists the folders of a user in the snapshot taken at t.
func (c *Catalog) Folders(server, group, user string, t int64) ([]*Folder, error) {
	prefix := folderPrefix(server, group, user, t)
	var out []*Folder
	err := c.scan(prefix, func(k, v []byte) error {
		comps, _, err := splitComps(k[len(prefix):], 1)
		if err != nil {
			return err
		}
		f, err := decodeFolder(comps[0], v)
		if err != nil {
			return fmt.Errorf("folder %s: %w", comps[0], err)
		}
		out = append(out, f)
		return nil
	})
	return out, err
}

// Messages lists the message files of a listing, cur/ before new/, each
// sorted by name.
func (c *Catalog) Messages(id ListingID) ([]Message, error) {
	var out []Message
	err := c.db.View(func(txn *badger.Txn) error {
		return messages(txn, id, func(k, v []byte) error {
			comps, _, err := splitComps(k, 2)
			if err != nil {
				return err
			}
			m, err := decodeMessage(comps[0], comps[1], v)
			out = append(out, m)
			return err
		})
	})
	return out, err
}

// Controls returns the control files of a listing.
func (c *Catalog) Controls(id ListingID) ([]archive.File, error) {
	prefix := listingPrefix(prefixControl, id)
	var out []archive.File
	err := c.scan(prefix, func(k, v []byte) error {
		comps, _, err := splitComps(k[len(prefix):], 1)
		if err != nil {
			return err
		}
		f, err := decodeControl(comps[0], v)
		out = append(out, f)
		return err
	})
	return out, err
}

// Blob says where a blob lies.
func (c *Catalog) Blob(h archive.Hash) (Blob, error) {
	var b Blob
	err := c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(blobKey(h))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			var err error
			b, err = decodeBlob(v)
			return err
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return b, fmt.Errorf("blob %x: %w", h[:8], ErrNotFound)
	}
	return b, err
}

// quietLogger passes on badger's warnings and errors, not its chatter.
type quietLogger struct{}

func (quietLogger) Errorf(f string, a ...any)   { log.Printf("index: "+f, a...) }
func (quietLogger) Warningf(f string, a ...any) { log.Printf("index: "+f, a...) }
func (quietLogger) Infof(string, ...any)        {}
func (quietLogger) Debugf(string, ...any)       {}

// Remove deletes an index directory, for a rebuild.
func Remove(dir string) error { return os.RemoveAll(dir) }

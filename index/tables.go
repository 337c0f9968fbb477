package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/y"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// Badger opens its tables in goroutines of its own, and some damage (a
// table cut short, a block that fails its checksum) panics there instead
// of failing the open, which would kill the process rather than let the
// index be rebuilt. checkTables and verifyBlocks find that damage first,
// where it can be reported.

// checkTables checks the footer of every table in dir as badger reads
// it when opening the table: the index's length and checksum within the
// file, and the checksum of the index itself. It holds badger's lock
// meanwhile, so that no other process is writing tables; if another
// holds it, badger.Open will say so.
func checkTables(dir string) error {
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new index
	}
	if err != nil {
		return err
	}
	defer lock.Close()
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return nil
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	names, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := checkTable(n); err != nil {
			return fmt.Errorf("table %s: %w", filepath.Base(n), err)
		}
	}
	return nil
}

var errTableFooter = errors.New("damaged footer")

func checkTable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	// From the end: the checksum's length, the checksum, the index's
	// length, the index.
	pos := fi.Size()
	u32 := func() (int64, error) {
		if pos -= 4; pos < 0 {
			return 0, errTableFooter
		}
		var b [4]byte
		if _, err := f.ReadAt(b[:], pos); err != nil {
			return 0, err
		}
		return int64(binary.BigEndian.Uint32(b[:])), nil
	}
	bytesBefore := func(n int64) ([]byte, error) {
		if pos -= n; pos < 0 {
			return nil, errTableFooter
		}
		b := make([]byte, n)
		_, err := f.ReadAt(b, pos)
		return b, err
	}
	n, err := u32()
	if err != nil {
		return err
	}
	b, err := bytesBefore(n)
	if err != nil {
		return err
	}
	var sum pb.Checksum
	if err := proto.Unmarshal(b, &sum); err != nil {
		return fmt.Errorf("%w: %v", errTableFooter, err)
	}
	if n, err = u32(); err != nil {
		return err
	}
	if b, err = bytesBefore(n); err != nil {
		return err
	}
	return y.VerifyChecksum(b, &sum)
}

// verifyBlocks checks every block of every table against its checksum.
func verifyBlocks(db *badger.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("a table fails its checksums: %v", r)
		}
	}()
	return db.VerifyChecksum()
}

package repo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
)

// FuzzImport feeds Import whatever bytes: it either refuses them, leaving
// archives/ and tmp/ as they were, or brings in an archive whose header
// names a server and group the mount can show and whose folders hold only
// names a Maildir can.
func FuzzImport(f *testing.F) {
	a := testArchive{created: time.Unix(1795000000, 0), group: "staff", users: []string{"a@example.org"}, bodies: []string{"x", "y"}}
	f.Add(a.bytes(f))
	f.Add([]byte("MVLTARC1"))
	// One repository for every input: an import that succeeds is removed
	// again, so each input meets an empty one.
	l := Layout(filepath.Join(f.TempDir(), "r"))
	if err := Init(string(l)); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := l.Import(context.Background(), bytes.NewReader(b), ImportOptions{})
		archives, tmp := files(t, l)
		defer func() {
			for _, a := range archives {
				os.Remove(l.ArchivePath(a))
			}
		}()
		if len(tmp) > 0 {
			t.Fatalf("tmp/ holds %v", tmp)
		}
		if err != nil {
			if !errors.Is(err, archive.ErrCorrupt) && !errors.Is(err, archive.ErrTruncated) && !errors.Is(err, archive.ErrNotArchive) {
				t.Fatalf("error of no known kind: %v", err)
			}
			if len(archives) > 0 {
				t.Fatalf("refused (%v) but archives/ holds %v", err, archives)
			}
			return
		}
		if validHeader(res.Header) != nil || len(archives) != 1 {
			t.Fatalf("imported %+v as %v", res.Header, archives)
		}
		o, err := archive.OpenFile(l.ArchivePath(archives[0]))
		if err != nil {
			t.Fatalf("imported an archive that does not open: %v", err)
		}
		defer o.Close()
		folders, err := o.Folders()
		if err != nil {
			t.Fatal(err)
		}
		for _, fo := range folders {
			if err := archive.CheckFolder(fo); err != nil {
				t.Fatalf("imported %v", err)
			}
		}
	})
}

package repo

import (
	"crypto/sha256"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/mailvault/mailvault/archive"
)

// twoRuns imports a full archive and an incremental one that keeps the
// older messages' bytes in the full one, and indexes them.
func twoRuns(t *testing.T) (l Layout, full, incr string, t1, t2 time.Time) {
	t.Helper()
	t1 = time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	t2 = t1.Add(24 * time.Hour)
	users := []string{"a@example.org", "b@example.org"}
	l = newRepo(t)
	full = importBytes(t, l, testArchive{created: t1, group: "staff", users: users, bodies: []string{"AAAA", "BBBBBBBB"}}.bytes(t))
	incr = importBytes(t, l, testArchive{created: t2, group: "staff", users: users, bodies: []string{"AAAA", "BBBBBBBB", "CC"},
		stored: []string{"CC"}}.bytes(t))
	r, problems, err := Open(string(l), Options{})
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	r.Close()
	return l, full, incr, t1, t2
}

func affectedPaths(rep *VerifyReport) map[string][]string {
	out := map[string][]string{}
	for _, a := range rep.Affected {
		out[a.Path] = a.Snapshots
	}
	return out
}

func TestVerifyNamesTheMessagesOfADamagedFrame(t *testing.T) {
	l, full, _, t1, t2 := twoRuns(t)
	for _, opt := range []VerifyOptions{{}, {ReadData: true}, {Sample: 50}} {
		rep, err := Verify(string(l), opt)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Clean() || rep.Archives != 2 || rep.Blobs != 3 || rep.Messages != 10 || len(rep.IndexProblems) > 0 {
			t.Errorf("%+v: intact repository: %+v", opt, rep)
		}
		if opt.ReadData && rep.BlobsRead != 3 || !opt.ReadData && opt.Sample == 0 && rep.BlobsRead != 0 {
			t.Errorf("%+v: %d blobs read", opt, rep.BlobsRead)
		}
	}

	// Damage the data frame of the full archive: the two older messages
	// of both users are damaged, in both snapshots.
	path := l.ArchivePath(full)
	ar, err := archive.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fr := ar.Trailer().Frames[0]
	ar.Close()
	data, _ := os.ReadFile(path)
	data[fr.FileOffset+fr.CompressedLen/2] ^= 0x10
	os.WriteFile(path, data, 0o600)

	rep, err := Verify(string(l), VerifyOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clean() || !reflect.DeepEqual(rep.DamagedArchives(), []string{full}) {
		t.Fatalf("damaged archives %v, report %+v", rep.DamagedArchives(), rep)
	}
	if d := rep.Damaged[0]; d.Frame != 0 || d.Offset != fr.FileOffset {
		t.Errorf("damage at frame %d offset %d, want frame 0 at %d", d.Frame, d.Offset, fr.FileOffset)
	}
	both := []string{snapshotName(t1.UnixNano()), snapshotName(t2.UnixNano())}
	want := map[string][]string{}
	for _, u := range []string{"a@example.org", "b@example.org"} {
		for _, m := range []string{"1.M0P1.host:2,S", "2.M1P1.host:2,S"} {
			want["mail1/staff/"+u+"/INBOX/cur/"+m] = both
		}
	}
	if got := affectedPaths(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("affected:\n got %v\nwant %v", got, want)
	}
	for _, a := range rep.Affected {
		if !strings.Contains(a.Why, full) || !strings.Contains(a.Why, "frame 0") {
			t.Errorf("%s: why %q does not name the archive and frame", a.Path, a.Why)
		}
	}
}

func TestVerifyRemembersAGoneArchive(t *testing.T) {
	l, _, incr, _, t2 := twoRuns(t)
	if err := os.Remove(l.ArchivePath(incr)); err != nil {
		t.Fatal(err)
	}
	// Any open notices the archive gone and rebuilds the index.
	r, _, err := Open(string(l), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	rep, err := Verify(string(l), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Gone) != 1 || rep.Gone[0].Archive != incr || rep.Gone[0].Snapshot != snapshotName(t2.UnixNano()) {
		t.Fatalf("gone: %+v", rep.Gone)
	}
	want := map[string][]string{}
	for _, u := range []string{"a@example.org", "b@example.org"} {
		want["mail1/staff/"+u+"/INBOX/cur/3.M2P1.host:2,S"] = []string{snapshotName(t2.UnixNano())}
	}
	if got := affectedPaths(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("affected:\n got %v\nwant %v", got, want)
	}
	// A second rebuild keeps the record; forgetting it makes the
	// repository sound again.
	r, _, err = Open(string(l), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rebuild(); err != nil {
		t.Fatal(err)
	}
	if g, _ := r.Catalog.Gone(); len(g) != 1 {
		t.Errorf("after a rebuild %d gone records, want 1", len(g))
	}
	if err := r.ForgetGone(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if rep, err = Verify(string(l), VerifyOptions{}); err != nil || !rep.Clean() {
		t.Errorf("after ForgetGone: %+v %v", rep, err)
	}
}

func TestVerifyFindsAWrongIndexAndRebuildsIt(t *testing.T) {
	l, _, _, _, _ := twoRuns(t)
	// An index that lost the location of a blob, as a damaged one might.
	db, err := badger.Open(badger.DefaultOptions(l.Index()).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("AAAA"))
	if err := db.Update(func(txn *badger.Txn) error { return txn.Delete(append([]byte{'B'}, h[:]...)) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rep, err := Verify(string(l), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.IndexRepaired || len(rep.IndexProblems) != 1 || !rep.Clean() {
		t.Errorf("index without a blob: %+v", rep)
	}
	if rep, err = Verify(string(l), VerifyOptions{}); err != nil || rep.IndexRepaired || !rep.Clean() {
		t.Errorf("after the rebuild: %+v %v", rep, err)
	}
}

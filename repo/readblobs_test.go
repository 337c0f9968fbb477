package repo

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// partsArchive commits an archive of n messages, most of them stored in
// parts (a header of their own and a body shared with others, as single
// copy stores mail delivered to several users), with bodies of up to
// maxBody bytes, in frames of frameSize bytes, so that a folder's parts
// lie all over the archive. It returns the messages' hashes and bytes.
func partsArchive(t testing.TB, l Layout, n, frameSize, maxBody int) ([]archive.Hash, map[archive.Hash][]byte) {
	t.Helper()
	now := time.Now()
	p, err := l.Create(ArchiveName(now, "mail1", "user"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := archive.NewWriter(p, archive.Header{Version: 1, Created: now.UnixNano(), Server: "mail1", Group: "user"}, archive.WriterOptions{FrameSize: frameSize})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	add := func(b []byte) archive.Hash {
		h := archive.Hash(sha256.Sum256(b))
		if _, err := w.AddBlob(h, b); err != nil {
			t.Fatal(err)
		}
		return h
	}
	var bodies []archive.Hash
	var bodyBytes [][]byte
	hashes := make([]archive.Hash, n)
	want := map[archive.Hash][]byte{}
	var msgs []archive.Message
	for i := range n {
		hdr := fmt.Appendf(nil, "Received: by mail1 for user%d\r\nSubject: %d\r\n\r\n", i, i)
		if i%5 == 4 || len(bodies) == 0 {
			// a message of one recipient, stored whole
			body := make([]byte, rng.IntN(maxBody))
			for j := range body {
				body[j] = byte('a' + rng.IntN(26))
			}
			whole := append(hdr, body...)
			hashes[i] = add(whole)
			want[hashes[i]] = whole
			msgs = append(msgs, archive.Message{Subdir: "cur", Name: fmt.Sprint(i), Size: int64(len(whole)), Blob: hashes[i]})
			body = append([]byte("shared "), body...)
			bodies = append(bodies, add(body))
			bodyBytes = append(bodyBytes, body)
			continue
		}
		k := rng.IntN(len(bodies))
		parts := []archive.Hash{add(hdr), bodies[k]}
		hashes[i] = archive.PartsHash(parts...)
		want[hashes[i]] = append(bytes.Clone(hdr), bodyBytes[k]...)
		msgs = append(msgs, archive.Message{Subdir: "cur", Name: fmt.Sprint(i), Size: int64(len(want[hashes[i]])), Blob: hashes[i], Parts: parts})
	}
	if err := w.AddFolder(&archive.Folder{User: "u@example.org", Name: "INBOX", Messages: msgs}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	return hashes, want
}

// readBlobs collects what ReadBlobs hands out, checking that every index
// comes once.
func readBlobs(t testing.TB, r *Repo, hs []archive.Hash) ([][]byte, []error) {
	t.Helper()
	data, errs := make([][]byte, len(hs)), make([]error, len(hs))
	seen := make([]bool, len(hs))
	var mu sync.Mutex
	r.ReadBlobs(hs, func(i int, b []byte, err error) {
		mu.Lock()
		defer mu.Unlock()
		if seen[i] {
			t.Errorf("message %d handed out twice", i)
		}
		seen[i], data[i], errs[i] = true, b, err
	})
	for i, ok := range seen {
		if !ok {
			t.Errorf("message %d never handed out", i)
		}
	}
	return data, errs
}

func TestReadBlobsGivesWhatReadBlobGives(t *testing.T) {
	l := newRepo(t)
	hashes, want := partsArchive(t, l, 300, 4096, 3*4096)
	r := openRepo(t, l)
	// In listing order, shuffled, repeated, and with a blob that is not
	// there.
	missing := archive.Hash(sha256.Sum256([]byte("not stored")))
	shuffled := append([]archive.Hash(nil), hashes...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, hs := range [][]archive.Hash{hashes, shuffled, {hashes[7], hashes[7], missing, hashes[0]}, nil} {
		data, errs := readBlobs(t, r, hs)
		for i, h := range hs {
			if h == missing {
				if !errors.Is(errs[i], index.ErrNotFound) {
					t.Errorf("missing blob: %v", errs[i])
				}
				continue
			}
			if errs[i] != nil || !bytes.Equal(data[i], want[h]) {
				t.Fatalf("message %d: %v, %d bytes, want %d", i, errs[i], len(data[i]), len(want[h]))
			}
		}
	}
}

func TestReadBlobsFailsOnlyTheDamagedMessages(t *testing.T) {
	l := newRepo(t)
	hashes, want := partsArchive(t, l, 200, 4096, 3*4096)
	names, _ := l.ArchiveNames()
	path := l.ArchivePath(names[0])
	ar, err := archive.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fr := ar.Trailer().Frames[len(ar.Trailer().Frames)/2]
	ar.Close()
	data, _ := os.ReadFile(path)
	data[fr.FileOffset+fr.CompressedLen/2] ^= 0x10
	os.WriteFile(path, data, 0o600)

	r := openRepo(t, l)
	got, errs := readBlobs(t, r, hashes)
	damaged := 0
	for i, h := range hashes {
		one, err := r.ReadBlob(h)
		switch {
		case err != nil && errs[i] == nil:
			t.Errorf("message %d: ReadBlob fails (%v), ReadBlobs does not", i, err)
		case err == nil && errs[i] != nil:
			t.Errorf("message %d: ReadBlobs fails (%v), ReadBlob does not", i, errs[i])
		case err != nil:
			damaged++
			if errs[i].Error() != err.Error() || !errors.Is(errs[i], archive.ErrCorrupt) {
				t.Errorf("message %d: ReadBlobs says %q, ReadBlob %q", i, errs[i], err)
			}
		case !bytes.Equal(got[i], want[h]) || !bytes.Equal(one, want[h]):
			t.Errorf("message %d differs", i)
		}
	}
	if damaged == 0 || damaged == len(hashes) {
		t.Errorf("%d of %d messages damaged by one frame", damaged, len(hashes))
	}
}

// BenchmarkReadFolder reads a folder of 6000 messages, about 60 MB in
// frames of the default size, more than the repository's frame cache
// holds, in listing order: one by one, and in batches as the mount's
// read-ahead does.
func BenchmarkReadFolder(b *testing.B) {
	l := Layout(b.TempDir())
	if err := Init(string(l)); err != nil {
		b.Fatal(err)
	}
	hashes, want := partsArchive(b, l, 6000, 0, 40000)
	var total int64
	for _, h := range hashes {
		total += int64(len(want[h]))
	}
	r, _, err := Open(string(l), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.Run("one-by-one", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			for _, h := range hashes {
				if _, err := r.ReadBlob(h); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("batched", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			for i := 0; i < len(hashes); i += 256 {
				r.ReadBlobs(hashes[i:min(i+256, len(hashes))], func(_ int, _ []byte, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
		}
	})
}

package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/internal/figures"
)

// The hostile-input tests feed mailvault archives, stores and files made to
// break it: names that climb out of the target, zstd bombs, garbage. Each
// case must end in a clear error naming the thing, with nothing written
// outside the restore target and nothing in it lost.

// craftFolder is one folder of a crafted archive, with its messages' bytes.
type craftFolder struct {
	archive.Folder
	data [][]byte // data[i] is the bytes of Messages[i]
}

// craftMessage returns a message file named name in subdir of bytes body.
func craftMessage(subdir, name string, body []byte) (archive.Message, []byte) {
	return archive.Message{Subdir: subdir, Name: name, Size: int64(len(body)), Mtime: 1795000000e9,
		Mode: 0o600, Blob: sha256.Sum256(body), Nlink: 1}, body
}

// craftArchive writes an archive of server mail1, group staff holding the
// folders, as a backup -f would, but with whatever names they carry.
func craftArchive(t *testing.T, path string, h archive.Header, folders []craftFolder) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if h.Server == "" {
		h.Server, h.Group = "mail1", "staff"
	}
	if h.Created == 0 {
		h.Created = time.Now().UnixNano()
	}
	h.Scope, h.Snapshot, h.Flags = "/", time.Unix(0, h.Created).UTC().Format(time.RFC3339), archive.FlagFull
	rnd := sha256.Sum256([]byte(path))
	copy(h.ID[:], rnd[:])
	w, err := archive.NewWriter(f, h, archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range folders {
		fo := folders[i].Folder
		for j, m := range fo.Messages {
			if _, err := w.AddBlob(m.Blob, folders[i].data[j]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.AddFolder(&fo); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// goodFolder is an ordinary INBOX of user ok@example.org, which every
// crafted archive carries beside its hostile part: the rest of the work must
// go on.
func goodFolder() craftFolder {
	m, b := craftMessage("cur", "1795000000.M1P1.mail1,S=21:2,S", []byte("Subject: ok\r\n\r\nfine\r\n"))
	return craftFolder{Folder: archive.Folder{User: "ok@example.org", Name: "INBOX", UIDValidity: 1, NextUID: 2,
		Mode: 0o700, Messages: []archive.Message{m}}, data: [][]byte{b}}
}

// hostileCase is one crafted archive: a folder whose names try to escape.
type hostileCase struct {
	name   string
	folder craftFolder
}

func hostileCases() []hostileCase {
	body := []byte("Subject: evil\r\n\r\nI climb out\r\n")
	inbox := func(user, fname, dir string, msgs ...archive.Message) craftFolder {
		f := craftFolder{Folder: archive.Folder{User: user, Name: fname, Dir: dir, UIDValidity: 7, NextUID: 9, Mode: 0o700}}
		for _, m := range msgs {
			f.Messages = append(f.Messages, m)
			f.data = append(f.data, body)
		}
		return f
	}
	msg := func(subdir, name string) archive.Message { m, _ := craftMessage(subdir, name, body); return m }
	plain := msg("cur", "1795000001.M2P2.evil:2,S")
	long := strings.Repeat("evil", 1200)
	control := func(name string) craftFolder {
		f := inbox("evil@example.org", "INBOX", "", plain)
		f.Files = []archive.File{{Name: name, Mode: 0o600, Mtime: 1795000000e9, Data: []byte("3 V7 N9\n")}}
		return f
	}
	return []hostileCase{
		{"user climbs with ..", inbox("../../../evil@example.org", "INBOX", "", plain)},
		{"user is ..", inbox("..", "INBOX", "", plain)},
		{"user domain is ..", inbox("evil@..", "INBOX", "", plain)},
		{"user holds a slash", inbox("evil/../../x@example.org", "INBOX", "", plain)},
		{"user is absolute", inbox("/tmp/evil", "INBOX", "", plain)},
		{"user holds NUL", inbox("evil\x00@example.org", "INBOX", "", plain)},
		{"user is absurdly long", inbox(long+"@example.org", "INBOX", "", plain)},
		{"user is empty", inbox("", "INBOX", "", plain)},
		{"folder climbs with ..", inbox("evil@example.org", "../../../evil", "", plain)},
		{"folder is ..", inbox("evil@example.org", "..", "..", plain)},
		{"folder dir climbs", inbox("evil@example.org", "evil", "../../evil", plain)},
		{"folder is absolute", inbox("evil@example.org", "/tmp/evil", "", plain)},
		{"folder holds NUL", inbox("evil@example.org", "evil\x00x", "", plain)},
		{"folder is absurdly long", inbox("evil@example.org", long, "", plain)},
		{"folder is empty", inbox("evil@example.org", "", "", plain)},
		{"message climbs with ..", inbox("evil@example.org", "INBOX", "", msg("cur", "../../../evil"))},
		{"message subdir climbs", inbox("evil@example.org", "INBOX", "", msg("../../..", "evil"))},
		{"message is absolute", inbox("evil@example.org", "INBOX", "", msg("cur", "/tmp/evil"))},
		{"message is ..", inbox("evil@example.org", "INBOX", "", msg("cur", ".."))},
		{"message holds NUL", inbox("evil@example.org", "INBOX", "", msg("cur", "evil\x00:2,S"))},
		{"message is absurdly long", inbox("evil@example.org", "INBOX", "", msg("cur", long))},
		{"message subdir is tmp", inbox("evil@example.org", "INBOX", "", msg("tmp", "evil"))},
		{"control file climbs", control("../../../evil")},
		{"control file is absolute", control("/tmp/evil")},
		{"control file holds NUL", control("evil\x00")},
		{"control file is absurdly long", control(long)},
	}
}

// treeState records every path under root with its size and mtime.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		v := fi.Mode().String()
		if !fi.IsDir() {
			v += fmt.Sprintf(" %d %d", fi.Size(), fi.ModTime().UnixNano())
		}
		out[p] = v
		return nil
	})
	return out
}

// escaped compares two states of a sandbox: paths that appeared outside
// the target, and paths of before that are gone or changed.
func escaped(before, after map[string]string, target string) (outside, lost []string) {
	for p, v := range after {
		if _, ok := before[p]; !ok && p != target && !strings.HasPrefix(p, target+"/") {
			outside = append(outside, p)
		}
		_ = v
	}
	for p, v := range before {
		if a, ok := after[p]; !ok || (a != v && !strings.HasPrefix(a, "d")) {
			lost = append(lost, p)
		}
	}
	sort.Strings(outside)
	sort.Strings(lost)
	return outside, lost
}

// hostileTarget makes sandbox/a/b/c/store owned by a mail user, holding
// one user's INBOX with a message, so that names climbing out of the store
// land inside the sandbox, where the test sees them.
func hostileTarget(t *testing.T) (sandbox, store string) {
	t.Helper()
	sandbox = t.TempDir()
	store = filepath.Join(sandbox, "a", "b", "c", "store")
	inbox := filepath.Join(store, "example.org", "keep", "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(inbox, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(inbox, "cur", "1795000000.M9P9.mail1,S=10:2,S"), []byte("keep me\r\n\r\n"[:10]), 0o600); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(filepath.Join(sandbox, "a"), func(p string, d fs.DirEntry, err error) error {
		return os.Lchown(p, 8, 8) // mail
	})
	return sandbox, store
}

// TestCraftedArchivesCannotEscape feeds archives whose user, folder,
// message and control file names climb out of the target to restore -f,
// import and a mount. Restore refuses the hostile folder, naming the
// archive and the object, restores the rest and ends PARTIAL; import
// refuses the archive; the mount leaves the names out.
func TestCraftedArchivesCannotEscape(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the target store a mail owner")
	}
	quickExit(t)
	cases := hostileCases()
	dir := t.TempDir()
	held, lost := 0, 0
	for i, c := range cases {
		file := filepath.Join(dir, fmt.Sprintf("case%02d.mva", i))
		craftArchive(t, file, archive.Header{Created: int64(1795000000+i) * 1e9}, []craftFolder{goodFolder(), c.folder})
		ok := true
		sandbox, store := hostileTarget(t)
		before := treeState(t, sandbox)
		r := mv(t, "restore", "-f", file, "/mail1", "--to", "maildir:"+store+"/%d/%n/Maildir")
		after := treeState(t, sandbox)
		out, gone := escaped(before, after, store)
		if len(out) > 0 || len(gone) > 0 {
			t.Errorf("%s: restore wrote outside the target %v or lost %v", c.name, out, gone)
			lost += len(out) + len(gone)
			ok = false
		}
		shows := "evil"
		switch c.name {
		case "user is empty":
			shows = `""`
		case "user is ..":
			shows = `".."`
		}
		if r.code != exitPartial || !strings.Contains(r.stderr, "not restored") || !strings.Contains(r.stderr, "archive "+file) || !strings.Contains(r.stderr, shows) {
			t.Errorf("%s: restore -f: exit %d, want %d naming the archive and the object\n%s%s", c.name, r.code, exitPartial, r.stdout, r.stderr)
			ok = false
		}
		if _, err := os.Stat(filepath.Join(store, "example.org", "ok", "Maildir", "cur", "1795000000.M1P1.mail1,S=21:2,S")); err != nil {
			t.Errorf("%s: the good folder beside the hostile one was not restored: %v", c.name, err)
			ok = false
		}
		if testing.Verbose() {
			t.Logf("%s: restore -f says: %s", c.name, r.stderr)
		}

		repoDir := filepath.Join(dir, fmt.Sprintf("repo%02d", i))
		r = mv(t, "import", "--repo", repoDir, file)
		if r.code != exitCorrupt || !strings.Contains(r.stderr, shows) || !strings.Contains(r.stderr, file) {
			t.Errorf("%s: import: exit %d, want %d naming the object\n%s", c.name, r.code, exitCorrupt, r.stderr)
			ok = false
		}
		if names, _ := filepath.Glob(filepath.Join(repoDir, "archives", "*")); len(names) > 0 {
			t.Errorf("%s: import left %v", c.name, names)
			ok = false
		}
		if ok {
			held++
		}
	}
	figures.Record(t, figures.Row{Suite: "hostile", What: "crafted archives rejected (restore -f, import)", Tried: len(cases), Held: held, Lost: lost,
		Note: "names with .., /, NUL, absurd lengths in user, folder, message, control file"})
}

// garbageFiles are files that are no archive at all, each named as one.
func garbageFiles(t *testing.T, dir string) []string {
	t.Helper()
	rnd := make([]byte, 256<<10)
	rand.Read(rnd)
	tarball := filepath.Join(dir, "garbage-tar.mva")
	if out, err := exec.Command("tar", "-cf", tarball, "-C", filepath.Dir(binary), filepath.Base(binary)).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	files := []string{filepath.Join(dir, "garbage-random.mva"), filepath.Join(dir, "garbage-empty.mva"), tarball,
		filepath.Join(dir, "garbage-zstd.mva")}
	zst, err := exec.Command("sh", "-c", "head -c 1000000 /dev/zero | zstd -q -c").Output()
	if err != nil {
		t.Fatalf("zstd: %v", err)
	}
	for i, data := range [][]byte{rnd, nil, nil, zst} {
		if data != nil || i == 1 {
			if err := os.WriteFile(files[i], data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return files
}

// TestGarbageArchives passes random bytes, an empty file, a tar file and a
// plain zstd stream as archives: restore -f and import refuse each as a
// damaged archive (exit 5) naming the file, and write nothing.
func TestGarbageArchives(t *testing.T) {
	quickExit(t)
	dir := t.TempDir()
	files := garbageFiles(t, dir)
	held := 0
	for _, f := range files {
		ok := true
		target := filepath.Join(dir, "target")
		r := mv(t, "restore", "-f", f, "/mail1", "--to", "maildir:"+target+"/%d/%n/Maildir")
		if r.code != exitCorrupt || !strings.Contains(r.stderr, f) {
			t.Errorf("restore -f %s: exit %d, want %d naming the file\n%s", f, r.code, exitCorrupt, r.stderr)
			ok = false
		}
		in, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r = mvInput(t, in, "restore", "-f", "-", "/mail1", "--to", "maildir:"+target+"/%d/%n/Maildir")
		in.Close()
		if r.code != exitCorrupt || !strings.Contains(r.stderr, "standard input") {
			t.Errorf("restore -f - < %s: exit %d, want %d\n%s", f, r.code, exitCorrupt, r.stderr)
			ok = false
		}
		if _, err := os.Stat(target); err == nil {
			t.Errorf("restore of %s created %s", f, target)
			ok = false
		}
		repoDir := filepath.Join(dir, "repo")
		r = mv(t, "import", "--repo", repoDir, f)
		if r.code != exitCorrupt || !strings.Contains(r.stderr, f) {
			t.Errorf("import %s: exit %d, want %d naming the file\n%s", f, r.code, exitCorrupt, r.stderr)
			ok = false
		}
		if names, _ := filepath.Glob(filepath.Join(repoDir, "*", "*")); len(names) > 0 && !allLocksAndLogs(names) {
			t.Errorf("import of %s left %v", f, names)
			ok = false
		}
		if testing.Verbose() {
			t.Logf("%s: %s", filepath.Base(f), r.stderr)
		}
		if ok {
			held++
		}
	}
	figures.Record(t, figures.Row{Suite: "hostile", What: "garbage files as archives (restore -f, -f -, import)", Tried: len(files), Held: held,
		Note: "random bytes, empty file, tar file, plain zstd stream"})
}

// allLocksAndLogs reports whether a repository holds only its lock files
// and an empty archives/ and tmp/.
func allLocksAndLogs(paths []string) bool {
	for _, p := range paths {
		if d := filepath.Base(filepath.Dir(p)); d != "locks" && d != "logs" && d != "index" {
			return false
		}
	}
	return true
}

// TestHostileArchivesInTheRepository drops the crafted archives, one with
// a header naming server "../evil", and the garbage files straight into
// REPO/archives/. The repository still opens, each bad file named in a
// warning and left out of the index as import would refuse it, so neither
// the mount nor a restore from the repository sees a hostile name.
func TestHostileArchivesInTheRepository(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the target store a mail owner")
	}
	requireFUSE(t)
	quickExit(t)
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo")
	good := filepath.Join(dir, "good.mva")
	craftArchive(t, good, archive.Header{Created: 1794000000e9}, []craftFolder{goodFolder()})
	mustMV(t, "import", "--repo", repoDir, good)
	arch := filepath.Join(repoDir, "archives")
	for i, c := range hostileCases() {
		craftArchive(t, filepath.Join(arch, fmt.Sprintf("20261118T%06dZ-mail1-staff-%08d.mva", i, i)),
			archive.Header{Created: int64(1795000000+i) * 1e9}, []craftFolder{c.folder})
	}
	badHeader := filepath.Join(arch, "20261119T000000Z-evil-evil-00000000.mva")
	craftArchive(t, badHeader, archive.Header{Server: "../evil", Group: "a/b", Created: 1795100000e9}, []craftFolder{goodFolder()})
	garbage := garbageFiles(t, t.TempDir())
	for _, g := range garbage {
		data, _ := os.ReadFile(g)
		os.WriteFile(filepath.Join(arch, filepath.Base(g)), data, 0o644)
	}

	r := mv(t, "ls", "--repo", repoDir, "/")
	for _, g := range append(garbage, badHeader) {
		if !strings.Contains(r.stderr, filepath.Base(g)) {
			t.Errorf("ls does not name the bad archive %s:\n%s", filepath.Base(g), r.stderr)
		}
	}
	if strings.Contains(r.stdout, "evil") {
		t.Errorf("ls shows the server of the bad header:\n%s", r.stdout)
	}

	mnt := filepath.Join(dir, "mnt")
	m := startMount(t, repoDir, mnt)
	out, err := exec.Command("ls", "-1aR", mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("ls -aR of the mount: %v\n%s", err, out)
	}
	shown := 0
	for _, block := range strings.Split(string(out), "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		for _, l := range lines[1:] {
			// go-fuse lists no "." and "..": any such entry came from an archive.
			if l == "." || l == ".." || strings.Contains(l, "evil") {
				t.Errorf("the mount shows %q in %s", l, lines[0])
			}
			shown++
		}
	}
	if _, err := os.Stat(filepath.Join(mnt, "mail1", "staff", "ok@example.org", "INBOX", "cur", "1795000000.M1P1.mail1,S=21:2,S")); err != nil {
		t.Errorf("the good message is not in the mount: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "..", "evil")); err == nil {
		t.Errorf("something named evil beside the mount")
	}
	m.stop(t)

	sandbox, store := hostileTarget(t)
	before := treeState(t, sandbox)
	r = mv(t, "restore", "--repo", repoDir, "/mail1", "--to", "maildir:"+store+"/%d/%n/Maildir")
	outside, lost := escaped(before, treeState(t, sandbox), store)
	if len(outside) > 0 || len(lost) > 0 {
		t.Errorf("restore from the repository wrote outside the target %v or lost %v", outside, lost)
	}
	if r.code != exitOK || strings.Contains(r.stdout, "evil") || strings.Contains(r.stderr, "not restored") {
		t.Errorf("restore from the repository: exit %d, want %d, with none of the refused archives\n%s%s", r.code, exitOK, r.stdout, r.stderr)
	}
	if testing.Verbose() {
		t.Logf("restore from the repository:\n%s%s", r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(store, "example.org", "ok", "Maildir", "cur", "1795000000.M1P1.mail1,S=21:2,S")); err != nil {
		t.Errorf("the good folder was not restored: %v", err)
	}
	figures.Record(t, figures.Row{Suite: "hostile", What: "hostile archives dropped into archives/ (ls, mount, restore)", Tried: len(hostileCases()) + 1 + len(garbage),
		Held: map[bool]int{true: len(hostileCases()) + 1 + len(garbage)}[!t.Failed()], Lost: len(outside) + len(lost), Note: fmt.Sprintf("%d entries listed in the mount", shown)})
}

// mvPeak runs the binary with stdin from file (or none) and returns what
// it did and its peak resident memory in MiB, as /usr/bin/time measures it
// (the rusage of a child the test forks itself would carry the test's own
// peak), or -1 without /usr/bin/time.
func mvPeak(t *testing.T, stdin string, args ...string) (result, int64) {
	t.Helper()
	rssFile := filepath.Join(t.TempDir(), "rss")
	cmd := exec.Command(binary, args...)
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		cmd = exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile, binary}, args...)...)
	}
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(rssFile)
	if err != nil {
		return r, -1
	}
	// time writes "Command exited with non-zero status N" before the figure.
	lines := strings.Fields(string(b))
	kib, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		t.Fatalf("/usr/bin/time wrote %q", b)
	}
	return r, kib >> 10
}

// zstdHeader is the start of a zstd frame with no declared size, a
// checksum and a 4 MiB window.
var zstdHeader = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x50}

// bombFrame is a zstd frame of exactly size bytes: raw blocks of zeros to
// fill, then RLE blocks that decode to n bytes in 4 bytes each.
func bombFrame(size, n int) []byte {
	const block = 128 << 10
	rle := (n + block - 1) / block
	b := append([]byte(nil), zstdHeader...)
	pad := size - len(b) - 4*rle - 4
	for pad > 0 {
		s := min(pad-3, block)
		if pad-3-s > 0 && pad-3-s < 3 { // leave room for one more header
			s -= 3
		}
		h := uint32(s) << 3
		b = append(b, byte(h), byte(h>>8), byte(h>>16))
		b = append(b, make([]byte, s)...)
		pad -= 3 + s
	}
	for i := 0; i < rle; i++ {
		h := uint32(block)<<3 | 1<<1
		if i == rle-1 {
			h |= 1
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 'x')
	}
	return append(b, 0, 0, 0, 0)
}

// rawFrame is a zstd frame of raw blocks holding n bytes: as large as it
// decodes to, so a reader that buffers it holds n bytes.
func rawFrame(n int) []byte {
	const block = 128 << 10
	b := append([]byte(nil), zstdHeader...)
	for n > 0 {
		s := min(n, block)
		n -= s
		h := uint32(s) << 3
		if n == 0 {
			h |= 1
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16))
		b = append(b, make([]byte, s)...)
	}
	return append(b, 0, 0, 0, 0)
}

// TestZstdBombs feeds restore -f, restore -f -, and import archives whose
// frames decompress to gigabytes or are hundreds of megabytes of raw
// blocks. Each is refused as damaged, naming the offset, with the peak
// memory of the process far below what the frames claim.
func TestZstdBombs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the target store a mail owner")
	}
	quickExit(t)
	dir := t.TempDir()

	// An archive with one incompressible message in one frame, then the
	// same file with that frame swapped for a bomb of the same length.
	body := make([]byte, 3<<20)
	rand.Read(body)
	m, _ := craftMessage("cur", fmt.Sprintf("1795000000.M1P1.mail1,S=%d:2,S", len(body)), body)
	valid := filepath.Join(dir, "valid.mva")
	craftArchive(t, valid, archive.Header{Created: 1795000000e9}, []craftFolder{{Folder: archive.Folder{User: "ok@example.org", Name: "INBOX",
		Messages: []archive.Message{m}}, data: [][]byte{body}}})
	ar, err := archive.OpenFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	fr := ar.Trailer().Frames[0]
	ar.Close()
	file, _ := os.ReadFile(valid)
	swapped := append([]byte(nil), file...)
	copy(swapped[fr.FileOffset:], bombFrame(int(fr.CompressedLen), 4<<30))
	header := file[:fr.FileOffset]

	raw := figures.Size(128<<20, 512<<20)
	cases := []struct {
		name string
		data []byte
	}{
		{"data frame swapped for a 4 GiB bomb", swapped},
		{"a 4 GiB bomb after the header", append(append([]byte(nil), header...), bombFrame(200<<10, 4<<30)...)},
		{fmt.Sprintf("%d MiB of raw blocks after the header", raw>>20), append(append([]byte(nil), header...), rawFrame(raw)...)},
	}
	held := 0
	var peak int64
	for i, c := range cases {
		f := filepath.Join(dir, fmt.Sprintf("bomb%d.mva", i))
		if err := os.WriteFile(f, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		sandbox, store := hostileTarget(t)
		to := "maildir:" + store + "/%d/%n/Maildir"
		before := treeState(t, sandbox)
		ok := true
		for _, run := range []struct {
			stdin string
			args  []string
			want  int
		}{
			{"", []string{"restore", "-f", f, "/mail1", "--to", to}, exitCorrupt},
			{f, []string{"restore", "-f", "-", "/mail1", "--to", to}, exitCorrupt},
			{"", []string{"import", "--repo", filepath.Join(dir, "repo"), f}, exitCorrupt},
			{f, []string{"import", "--repo", filepath.Join(dir, "repo"), "-"}, exitCorrupt},
		} {
			want := run.want
			if i == 0 && run.stdin == "" && run.args[0] == "restore" {
				want = exitPartial // the trailer is intact: the message is named, the rest goes on
			}
			r, rss := mvPeak(t, run.stdin, run.args...)
			peak = max(peak, rss)
			t.Logf("%s: %s: exit %d, peak RSS %d MiB: %s", c.name, strings.Join(run.args[:2], " "), r.code, rss, strings.TrimSpace(r.stderr))
			if r.code != want || !strings.Contains(r.stderr, "offset") {
				t.Errorf("%s: %s: exit %d, want %d naming the offset\n%s", c.name, strings.Join(run.args, " "), r.code, want, r.stderr)
				ok = false
			}
			// A reader that buffered the raw frame would hold it twice,
			// compressed and decoded.
			if rss > int64(raw>>20)+32 {
				t.Errorf("%s: %s: peak RSS %d MiB", c.name, strings.Join(run.args[:2], " "), rss)
				ok = false
			}
		}
		if out, lost := escaped(before, treeState(t, sandbox), store); len(out) > 0 || len(lost) > 0 {
			t.Errorf("%s: wrote outside %v, lost %v", c.name, out, lost)
			ok = false
		}
		if names, _ := filepath.Glob(filepath.Join(dir, "repo", "archives", "*")); len(names) > 0 {
			t.Errorf("%s: import left %v", c.name, names)
			ok = false
		}
		if ok {
			held++
		}
	}
	figures.Record(t, figures.Row{Suite: "hostile", What: "zstd bombs (restore -f, -f -, import)", Tried: len(cases), Held: held,
		Note: fmt.Sprintf("4 GiB bombs, %d MiB raw frame; peak RSS %d MiB (race build: %v)", raw>>20, peak, raceEnabled)})
}

// vmHWM returns the peak resident memory of a running process in MiB.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib >> 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// bigMessage returns a message of n bytes of base64-like text lines.
func bigMessage(n int) []byte {
	raw := make([]byte, n*3/4)
	rand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	b := []byte("Return-Path: <big@example.org>\r\nDelivered-To: erin@example.org\r\nSubject: a large attachment\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(b) < n {
		k := min(76, len(enc))
		b = append(b, enc[:k]...)
		b = append(b, '\r', '\n')
		enc = enc[k:]
	}
	return b[:n]
}

// hashFile returns the sha-256 of a file, read in 128 KiB pieces.
func hashFile(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 128<<10)); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestHostileStore backs up a store with folder and file names of invalid
// UTF-8 and control bytes, an empty message, a large message, a folder of
// many messages and symlinks pointing out of the store; mounts it and
// restores it. Every symlink is skipped and named (PARTIAL), nothing
// outside the store is read; every other file comes back byte for byte
// under its name, through the mount and the restore; memory stays about
// the size of the large message.
func TestHostileStore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the target store a mail owner")
	}
	requireFUSE(t)
	quickExit(t)
	st := buildStore(t, 30)
	own := storeOwner(t, st)
	erin := st.Maildir("erin@example.org")
	outside := t.TempDir() // what the symlinks point at
	secret := []byte("Subject: outside the store\r\n\r\nnever backed up\r\n")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(outside, d), 0o700)
	}
	os.WriteFile(filepath.Join(outside, "cur", "1795000009.M9P9.outside:2,S"), secret, 0o600)
	os.WriteFile(filepath.Join(outside, "secret"), secret, 0o600)

	bigSize := figures.Size(20<<20, 200<<20)
	bulk := figures.Size(5000, 100000)
	write := func(rel string, data []byte) {
		p := filepath.Join(erin, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	odd := ".\xff\x01bad\x7f" // invalid UTF-8, control bytes
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(erin, odd, d), 0o700)
		os.MkdirAll(filepath.Join(erin, ".Bulk", d), 0o700)
		os.MkdirAll(filepath.Join(erin, ".LinkedCur", d), 0o700)
	}
	write(odd+"/cur/1795000000.M1P1.odd\x01\xfe:2,S", []byte("Subject: odd\r\n\r\nodd folder, odd name\r\n"))
	write("cur/1795000001.M2P2.\x1b[31mred\x7f:2,S", []byte("Subject: escape\r\n\r\nterminal escape in the name\r\n"))
	write("cur/1795000002.M3P3.empty,S=0:2,S", nil)
	write("cur/1795000003.M4P4.big:2,S", bigMessage(bigSize))
	for i := range bulk {
		write(fmt.Sprintf(".Bulk/cur/%d.M%dP%d.bulk:2,S", 1795000000+i, i, i), []byte(fmt.Sprintf("Subject: bulk %d\r\n\r\nmessage %d of the bulk folder\r\n", i, i)))
	}
	links := map[string]string{
		"cur/1795000004.M5P5.link:2,S": filepath.Join(outside, "secret"),
		".Outside":                     outside,
	}
	os.RemoveAll(filepath.Join(erin, ".LinkedCur", "cur"))
	links[".LinkedCur/cur"] = filepath.Join(outside, "cur")
	for rel, to := range links {
		if err := os.Symlink(to, filepath.Join(erin, rel)); err != nil {
			t.Fatal(err)
		}
	}
	filepath.Walk(erin, func(p string, fi os.FileInfo, err error) error {
		return os.Lchown(p, int(own.Uid), int(own.Gid))
	})
	want := contentTree(t, erin) // regular files only: the symlinks are not in it

	repoDir := filepath.Join(t.TempDir(), "repo")
	r, backupRSS := mvPeak(t, "", "backup", "--repo", repoDir, "--server", "mail1", st.Template)
	held, tried := 0, 0
	check := func(ok bool, format string, args ...any) {
		tried++
		if ok {
			held++
			return
		}
		t.Errorf(format, args...)
	}
	check(r.code == exitPartial, "backup: exit %d, want %d (PARTIAL)\n%s%s", r.code, exitPartial, r.stdout, r.stderr)
	for rel := range links {
		check(strings.Contains(r.stderr, filepath.Base(rel)) || strings.Contains(r.stderr, rel), "backup does not name the symlink %s:\n%s", rel, r.stderr)
	}
	t.Logf("backup: peak RSS %d MiB\n%s", backupRSS, r.stderr)

	mnt := filepath.Join(t.TempDir(), "mnt")
	m := startMount(t, repoDir, mnt)
	user := filepath.Join(mnt, "mail1", "user", "erin@example.org")
	got := 0
	for _, line := range want {
		rel := strings.Fields(line)[0]
		if strings.Contains(rel, "big:2,S") {
			continue // read below, while measuring
		}
		folder, file := filepath.Split(rel)
		name := strings.TrimSuffix(folder, "/")
		sub := filepath.Base(name)
		dir := strings.TrimSuffix(filepath.Dir(name), ".")
		fname := "INBOX"
		if dir != "" {
			fname = strings.ReplaceAll(strings.TrimPrefix(dir, "."), ".", "/")
			if dir == odd {
				fname = strings.TrimPrefix(odd, ".")
			}
		}
		data, err := os.ReadFile(filepath.Join(user, fname, sub, file))
		orig, _ := os.ReadFile(filepath.Join(erin, rel))
		if err != nil || !bytes.Equal(data, orig) {
			t.Errorf("mount: %s: %v", rel, err)
			continue
		}
		got++
	}
	check(got == len(want)-1, "the mount gives %d of %d files", got, len(want)-1)
	before := vmHWM(t, m.cmd.Process.Pid)
	check(hashFile(t, filepath.Join(user, "INBOX", "cur", "1795000003.M4P4.big:2,S")) == hashFile(t, filepath.Join(erin, "cur", "1795000003.M4P4.big:2,S")),
		"the large message differs through the mount")
	mountRSS := vmHWM(t, m.cmd.Process.Pid)
	t.Logf("mount: peak RSS %d MiB before reading the large message, %d after", before, mountRSS)
	for _, p := range []string{filepath.Join(user, "Outside"), filepath.Join(user, "INBOX", "cur", "1795000004.M5P5.link:2,S")} {
		_, err := os.Lstat(p)
		check(err != nil, "the mount shows %s", p)
	}
	entries, _ := os.ReadDir(filepath.Join(user, "LinkedCur", "cur"))
	check(len(entries) == 0, "the mount shows %d files of the symlinked cur/", len(entries))
	m.stop(t)

	root := newStoreRoot(t, st, "restored")
	r, restoreRSS := mvPeak(t, "", "restore", "--repo", repoDir, "/mail1/user/erin@example.org", "--to", locationUnder(root))
	check(r.code == exitOK, "restore: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	t.Logf("restore: peak RSS %d MiB", restoreRSS)
	sameTree(t, "restored erin", contentTree(t, filepath.Join(root, "example.org", "erin", "Maildir")), want)

	figures.Record(t, figures.Row{Suite: "hostile", What: "hostile store inputs (names, empty, large, bulk folder, symlinks)", Tried: tried, Held: held,
		Note: fmt.Sprintf("%d-message folder, odd UTF-8 and control bytes in names, 3 symlinks out of the store skipped", bulk)})
	figures.Record(t, figures.Row{Suite: "hostile", What: fmt.Sprintf("%d MiB message: peak RSS", bigSize>>20), Tried: 1, Held: map[bool]int{true: 1}[!t.Failed()],
		Note: fmt.Sprintf("backup %d MiB, restore %d MiB, mount %d MiB (race build: %v)", backupRSS, restoreRSS, mountRSS, raceEnabled)})
}

// TestRestoreNeverFollowsSymlinks restores into targets where a directory
// or control file on the way was replaced by a symlink to a directory
// outside the store: the restore refuses that folder, naming the symlink,
// restores the rest, and nothing outside the store changes.
func TestRestoreNeverFollowsSymlinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the target store a mail owner")
	}
	quickExit(t)
	body := []byte("Subject: restored\r\n\r\nback again\r\n")
	msg := func(name string) craftFolder {
		m, b := craftMessage("cur", name, body)
		return craftFolder{data: [][]byte{b}, Folder: archive.Folder{User: "erin@example.org", UIDValidity: 5, NextUID: 2, Mode: 0o700,
			Messages: []archive.Message{m}, Files: []archive.File{{Name: "dovecot-uidlist", Mode: 0o600, Mtime: 1795000000e9,
				Data: []byte("3 V5 N2\n1 :" + strings.SplitN(name, ":", 2)[0] + "\n")}}}}
	}
	inbox, arch := msg("1795000000.M1P1.mail1:2,S"), msg("1795000001.M2P2.mail1:2,S")
	inbox.Name, arch.Name, arch.Dir = "INBOX", "Archive", ".Archive"
	file := filepath.Join(t.TempDir(), "erin.mva")
	craftArchive(t, file, archive.Header{Created: 1795000000e9}, []craftFolder{inbox, arch})

	// Each case turns one path of erin's existing store into a symlink to
	// the sandbox's elsewhere/, a Maildir outside the store.
	cases := []struct{ name, link string }{
		{"cur/ of INBOX", "example.org/erin/Maildir/cur"},
		{"new/ of INBOX", "example.org/erin/Maildir/new"},
		{"tmp/ of INBOX", "example.org/erin/Maildir/tmp"},
		{"the user's Maildir", "example.org/erin/Maildir"},
		{"the user's directory", "example.org/erin"},
		{"the domain directory", "example.org"},
		{"a folder directory", "example.org/erin/Maildir/.Archive"},
		{"cur/ of a folder", "example.org/erin/Maildir/.Archive/cur"},
		{"dovecot-uidlist of INBOX", "example.org/erin/Maildir/dovecot-uidlist"},
	}
	held, lost := 0, 0
	for _, c := range cases {
		sandbox, store := hostileTarget(t)
		elsewhere := filepath.Join(sandbox, "elsewhere")
		erin := filepath.Join(store, "example.org", "erin", "Maildir")
		for _, d := range []string{"", ".Archive"} {
			for _, s := range []string{"cur", "new", "tmp"} {
				os.MkdirAll(filepath.Join(erin, d, s), 0o700)
				os.MkdirAll(filepath.Join(elsewhere, d, s), 0o700)
			}
		}
		os.WriteFile(filepath.Join(elsewhere, "dovecot-uidlist"), []byte("3 V9 N1\n"), 0o600)
		filepath.Walk(sandbox, func(p string, fi os.FileInfo, err error) error { return os.Lchown(p, 8, 8) })
		target := filepath.Join(store, c.link)
		os.RemoveAll(target)
		to := elsewhere
		switch {
		case strings.HasSuffix(c.link, "dovecot-uidlist"):
			to = filepath.Join(elsewhere, "dovecot-uidlist")
		case c.link == "example.org/erin":
			os.MkdirAll(filepath.Join(elsewhere, "Maildir"), 0o700)
			to = filepath.Join(sandbox, "elsewhere")
		}
		if err := os.Symlink(to, target); err != nil {
			t.Fatal(err)
		}
		before := treeState(t, sandbox)
		r := mv(t, "restore", "-f", file, "/mail1", "--to", "maildir:"+store+"/%d/%n/Maildir")
		after := treeState(t, sandbox)
		outside, gone := escaped(before, after, store)
		// The symlink itself is in the store; nothing may change behind it.
		for p, v := range after {
			if strings.HasPrefix(p, elsewhere) && before[p] != v {
				outside = append(outside, p)
			}
		}
		ok := len(outside) == 0 && len(gone) == 0
		if !ok {
			t.Errorf("%s: wrote outside the store %v or lost %v", c.name, outside, gone)
			lost += len(outside) + len(gone)
		}
		refused := r.code == exitPartial && strings.Contains(r.stderr, "symlink")
		if strings.HasSuffix(c.link, "dovecot-uidlist") {
			// Merged: the symlink is neither read through nor replaced.
			refused = r.code != exitOK || strings.Contains(r.stderr, "dovecot-uidlist")
		}
		if !refused {
			t.Errorf("%s: exit %d, want %d naming the symlink\n%s%s", c.name, r.code, exitPartial, r.stdout, r.stderr)
			ok = false
		}
		if fi, err := os.Lstat(target); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s: the symlink %s was replaced", c.name, target)
		}
		if testing.Verbose() {
			t.Logf("%s: exit %d: %s", c.name, r.code, r.stderr)
		}
		if ok {
			held++
		}
	}
	figures.Record(t, figures.Row{Suite: "hostile", What: "restore into targets with symlinks out of the store", Tried: len(cases), Held: held, Lost: lost,
		Note: "cur/, new/, tmp/, Maildir, user, domain, folder, uidlist replaced by symlinks"})
}

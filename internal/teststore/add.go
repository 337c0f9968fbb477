package teststore

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Open returns a store built earlier under root (by Build or mkstore), to
// deliver more mail to. Its users are the <domain>/<local>/Maildir
// directories under root.
func Open(root string) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("teststore: %w", err)
	}
	mds, err := filepath.Glob(filepath.Join(root, "*", "*", "Maildir"))
	if err != nil || len(mds) == 0 {
		return nil, fmt.Errorf("teststore: no <domain>/<local>/Maildir under %s", root)
	}
	s := &Store{Root: root, Template: "maildir:" + root + "/%d/%n/Maildir", Conf: root + ".dovecot/dovecot.conf"}
	for _, md := range mds {
		local := filepath.Base(filepath.Dir(md))
		domain := filepath.Base(filepath.Dir(filepath.Dir(md)))
		s.Users = append(s.Users, local+"@"+domain)
	}
	slices.Sort(s.Users)
	if s.Files, err = s.countFiles(); err != nil {
		return nil, err
	}
	return s, nil
}

// DeliverNew delivers n new messages into the INBOX/new of users chosen
// with seed, as a night's mail arrives: corpus messages with a new
// Message-ID, Date and a light body change, a third of them to 2–5
// recipients of one domain whose copies differ only in their delivery
// header lines. It returns the users it delivered to, sorted.
func (s *Store) DeliverNew(n int, seed int64) ([]string, error) {
	srcs, err := sources()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6e6577206d61696c))
	g := &gen{s: s, rng: rng, srcs: srcs}
	byDomain := map[string][]string{}
	for _, u := range s.Users {
		_, d, _ := strings.Cut(u, "@")
		byDomain[d] = append(byDomain[d], u)
	}
	touched := map[string]bool{}
	for sent := 0; sent < n; {
		m := srcs[rng.IntN(len(srcs))]
		first := s.Users[rng.IntN(len(s.Users))]
		_, domain, _ := strings.Cut(first, "@")
		rcpts := []string{first}
		if rng.IntN(3) == 0 {
			peers := byDomain[domain]
			for k := 1 + rng.IntN(4); k > 0 && len(rcpts) < len(peers); k-- {
				if u := peers[rng.IntN(len(peers))]; !slices.Contains(rcpts, u) {
					rcpts = append(rcpts, u)
				}
			}
		}
		rcpts = rcpts[:min(len(rcpts), n-sent)]
		t := time.Now()
		hdr, body := g.render(m, 1+rng.IntN(1000), t)
		rcvd := fmt.Sprintf("Received: from relay.example.com (relay.example.com [192.0.2.1])\n"+
			"\tby mx1.%s (Postfix) with ESMTPS id %X;\n\t%s\n", domain, rng.Uint64(), rfc2822(t))
		for _, u := range rcpts {
			data := fmt.Appendf(nil, "Return-Path: <%s>\nDelivered-To: %s\n%s", m.rpath, u, rcvd)
			data = append(append(append(data, hdr...), '\n'), body...)
			if err := s.Deliver(u, [][]byte{data}); err != nil {
				return nil, err
			}
			touched[u] = true
			sent++
		}
	}
	users := make([]string, 0, len(touched))
	for u := range touched {
		users = append(users, u)
	}
	slices.Sort(users)
	return users, nil
}

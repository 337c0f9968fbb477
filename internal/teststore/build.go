package teststore

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailvault/mailvault/internal/corpus"
)

// Domains are the domains of generated users.
var Domains = []string{"example.org", "example.net"}

var hosts = []string{"mail1", "mail2"}

// Build builds a store as opt says, lets Dovecot index it, and returns it.
func Build(opt Options) (*Store, error) {
	if opt.Root == "" {
		return nil, fmt.Errorf("teststore: no Root given")
	}
	if opt.Messages < 0 {
		return nil, fmt.Errorf("teststore: negative number of messages")
	}
	if err := Available(); err != nil {
		return nil, err
	}
	root, err := filepath.Abs(opt.Root)
	if err != nil {
		return nil, fmt.Errorf("teststore: %w", err)
	}
	if ents, err := os.ReadDir(root); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("teststore: %s exists and is not empty", root)
	}
	confDir := opt.ConfDir
	if confDir == "" {
		confDir = root + ".dovecot"
	}
	if confDir, err = filepath.Abs(confDir); err != nil {
		return nil, fmt.Errorf("teststore: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0x6d61696c7661756c))
	users := slices.Clone(opt.Users)
	if len(users) == 0 {
		if opt.NumUsers <= 0 {
			return nil, fmt.Errorf("teststore: neither Users nor NumUsers given")
		}
		users = makeUsers(rng, opt.NumUsers)
	}
	seen := map[string]bool{}
	for _, u := range users {
		l, d, ok := strings.Cut(u, "@")
		if !ok || l == "" || d == "" || strings.ContainsAny(u, "/ \t\n:") || seen[u] {
			return nil, fmt.Errorf("teststore: bad or repeated user %q (want local@domain)", u)
		}
		seen[u] = true
	}
	srcs, err := sources()
	if err != nil {
		return nil, err
	}
	o, err := storeOwner()
	if err != nil {
		return nil, err
	}
	if err := checkReachable(root, o); err != nil {
		return nil, err
	}
	if err := checkReachable(confDir, o); err != nil {
		return nil, err
	}
	s := &Store{
		Root:     root,
		Template: "maildir:" + root + "/%d/%n/Maildir",
		Conf:     filepath.Join(confDir, "dovecot.conf"),
		Users:    users,
		owner:    o,
	}
	if err := s.mkfolders(); err != nil {
		return nil, err
	}
	g := &gen{s: s, rng: rng, srcs: srcs, names: map[string]bool{}}
	if err := g.run(opt.Messages); err != nil {
		return nil, err
	}
	if err := s.writeConfig(confDir); err != nil {
		return nil, err
	}
	if err := s.index(opt.Seed); err != nil {
		return nil, err
	}
	if s.Files, err = s.countFiles(); err != nil {
		return nil, err
	}
	return s, nil
}

// mkfolders creates every user's folders, owned by the store owner, as
// Dovecot would (0700 directories, maildirfolder markers in subfolders).
func (s *Store) mkfolders() error {
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return fmt.Errorf("teststore: %w", err)
	}
	chown := func(p string) error { return os.Lchown(p, s.owner.uid, s.owner.gid) }
	for _, u := range s.Users {
		home := s.Home(u)
		for _, d := range []string{filepath.Dir(home), home, s.Maildir(u)} {
			if err := os.Mkdir(d, 0o700); err != nil && !os.IsExist(err) {
				return fmt.Errorf("teststore: %w", err)
			}
			if err := chown(d); err != nil {
				return fmt.Errorf("teststore: %w", err)
			}
		}
		for _, f := range Folders {
			dir := filepath.Join(s.Maildir(u), f.Dir)
			for _, sub := range []string{"", "cur", "new", "tmp"} {
				p := filepath.Join(dir, sub)
				if err := os.Mkdir(p, 0o700); err != nil && !os.IsExist(err) {
					return fmt.Errorf("teststore: %w", err)
				}
				if err := chown(p); err != nil {
					return fmt.Errorf("teststore: %w", err)
				}
			}
			if f.Dir != "" {
				if err := writeFile(filepath.Join(dir, "maildirfolder"), nil, s.owner, time.Now()); err != nil {
					return fmt.Errorf("teststore: %w", err)
				}
			}
		}
	}
	// The domain directories stay searchable, like /var/vmail/<domain>.
	for _, u := range s.Users {
		if err := os.Chmod(filepath.Dir(s.Home(u)), 0o755); err != nil {
			return fmt.Errorf("teststore: %w", err)
		}
	}
	return nil
}

func (s *Store) countFiles() (int, error) {
	n := 0
	for _, u := range s.Users {
		for _, f := range Folders {
			for _, sub := range []string{"cur", "new"} {
				ents, err := os.ReadDir(filepath.Join(s.Maildir(u), f.Dir, sub))
				if err != nil {
					return 0, fmt.Errorf("teststore: %w", err)
				}
				n += len(ents)
			}
		}
	}
	return n, nil
}

// ---------------------------------------------------------------- sources

// source is a corpus message prepared for delivery: its header without
// Return-Path and Content-Length (the LDA writes its own), and its body.
type source struct {
	idx     int
	hdr     []byte // header lines, each ending in "\n"
	body    []byte
	date    time.Time
	spam    bool
	fork    bool   // a message of the fork@xent.com list
	rpath   string // envelope sender
	msgHost string // domain of its Message-ID
}

var sourcesOnce = sync.OnceValues(func() ([]source, error) {
	ms, err := corpus.Messages()
	if err != nil {
		return nil, err
	}
	out := make([]source, len(ms))
	for i, m := range ms {
		hdr, body := splitMessage(m.Data)
		rp, _ := corpus.Header(m.Data, "Return-Path")
		rp = strings.Trim(rp, "<> ")
		if !strings.Contains(rp, "@") {
			rp = "bounce@lists.example.com"
		}
		fork := false
		for _, h := range []string{"List-Id", "To", "Cc"} {
			if v, _ := corpus.Header(m.Data, h); strings.Contains(strings.ToLower(v), "fork") {
				fork = true
			}
		}
		host := "mail.example.com"
		if v, ok := corpus.Header(m.Data, "Message-Id"); ok {
			if _, h, ok := strings.Cut(strings.Trim(v, "<> "), "@"); ok && h != "" && !strings.ContainsAny(h, " <>") {
				host = h
			}
		}
		out[i] = source{
			idx:     i,
			hdr:     removeFields(hdr, "Return-Path", "Content-Length"),
			body:    body,
			date:    m.Date,
			spam:    strings.HasPrefix(m.Group, "spam"),
			fork:    fork,
			rpath:   rp,
			msgHost: host,
		}
	}
	return out, nil
})

func sources() ([]source, error) { return sourcesOnce() }

// splitMessage splits a message at its first empty line.
func splitMessage(m []byte) (hdr, body []byte) {
	if i := bytes.Index(m, []byte("\n\n")); i >= 0 {
		return m[:i+1], m[i+2:]
	}
	if len(m) > 0 && m[len(m)-1] != '\n' {
		return append(slices.Clip(m), '\n'), nil
	}
	return m, nil
}

// fields splits a header into fields, each with its continuation lines.
func fields(hdr []byte) [][]byte {
	var out [][]byte
	for len(hdr) > 0 {
		end := 0
		for {
			i := bytes.IndexByte(hdr[end:], '\n')
			if i < 0 {
				end = len(hdr)
				break
			}
			end += i + 1
			if end >= len(hdr) || (hdr[end] != ' ' && hdr[end] != '\t') {
				break
			}
		}
		out = append(out, hdr[:end])
		hdr = hdr[end:]
	}
	return out
}

func fieldIs(f []byte, names ...string) bool {
	k, _, ok := bytes.Cut(f, []byte(":"))
	if !ok {
		return false
	}
	for _, n := range names {
		if strings.EqualFold(string(k), n) {
			return true
		}
	}
	return false
}

func removeFields(hdr []byte, names ...string) []byte {
	var out []byte
	for _, f := range fields(hdr) {
		if !fieldIs(f, names...) {
			out = append(out, f...)
		}
	}
	return out
}

// setField replaces the first field called name, or appends one.
func setField(hdr []byte, name, value string) []byte {
	var out []byte
	done := false
	for _, f := range fields(hdr) {
		if !done && fieldIs(f, name) {
			out = fmt.Appendf(out, "%s: %s\n", name, value)
			done = true
			continue
		}
		out = append(out, f...)
	}
	if !done {
		out = fmt.Appendf(out, "%s: %s\n", name, value)
	}
	return out
}

// ---------------------------------------------------------------- users

var (
	firstNames = strings.Fields(`anna ben carla david eva frank greta hans ines jonas karl lena max nina
		oskar paula quentin rosa stefan tina ulrich vera walter xenia yusuf zoe alice bob chris dana
		emil fiona georg heidi igor julia kevin lara mia noah olga peter ruth sven tom ute viktor wanda`)
	lastNames = strings.Fields(`mueller schmidt schneider fischer weber meyer wagner becker schulz
		hoffmann koch richter klein wolf neumann schwarz zimmermann braun krueger hofmann hartmann
		lange schmitt werner krause meier lehmann schmid`)
	roles = []string{"2ndlevel", "24x7ops", "1stline", "3dprint", "4matic"}
)

// makeUsers returns n distinct users over Domains (both present when n ≥ 2),
// with local parts of the shapes seen in practice: first names, first.last,
// initial+last, name+digits, and a few that start with a digit.
func makeUsers(rng *rand.Rand, n int) []string {
	var users []string
	seen := map[string]bool{}
	for range n {
		dom := Domains[0]
		if rng.Float64() >= 0.6 {
			dom = Domains[1]
		}
		f, l := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
		var base string
		switch r := rng.Float64(); {
		case r < 0.05:
			base = roles[rng.IntN(len(roles))]
		case r < 0.30:
			base = f + "." + l
		case r < 0.50:
			base = f[:1] + l
		case r < 0.70:
			base = fmt.Sprintf("%s%d", f, 1+rng.IntN(98))
		default:
			base = f
		}
		name := base
		for k := 2; seen[name+"@"+dom]; k++ {
			name = fmt.Sprintf("%s%d", base, k)
		}
		seen[name+"@"+dom] = true
		users = append(users, name+"@"+dom)
	}
	if n >= 2 {
		doms := map[string]bool{}
		for _, u := range users {
			_, d, _ := strings.Cut(u, "@")
			doms[d] = true
		}
		if len(doms) < 2 {
			l, d, _ := strings.Cut(users[n-1], "@")
			other := Domains[0]
			if d == Domains[0] {
				other = Domains[1]
			}
			for seen[l+"@"+other] {
				l += "x"
			}
			users[n-1] = l + "@" + other
		}
	}
	return users
}

// ---------------------------------------------------------------- generator

// gen writes the message files of a store.
type gen struct {
	s     *Store
	rng   *rand.Rand
	srcs  []source
	names map[string]bool // unique base names used so far

	perm  []int // current pass over the corpus
	pos   int
	cycle int // how many times the corpus has been used up: the reuse count

	recs []record
	qid  int
	jobs chan writeJob // files for the writers; only run sends

	nlinks map[string]int // hard links to make per user
}

// record is one written message file.
type record struct {
	user   string
	folder string // Folder.Dir
	path   string
	t      time.Time
}

var y2003 = time.Date(2003, 1, 1, 0, 0, 0, 0, time.UTC)

func (g *gen) next() (source, int) {
	if g.pos >= len(g.perm) {
		if g.perm == nil {
			g.cycle = -1
		}
		g.perm = g.rng.Perm(len(g.srcs))
		g.pos = 0
		g.cycle++
	}
	m := g.srcs[g.perm[g.pos]]
	g.pos++
	return m, g.cycle
}

func (g *gen) eventTime(m source, k int) time.Time {
	if k == 0 {
		return m.date.Add(time.Duration(5+g.rng.IntN(895)) * time.Second)
	}
	return m.date.Add(time.Duration(g.rng.IntN(330*86400)-300*86400) * time.Second)
}

func (g *gen) folderFor(m source, t time.Time) string {
	r := g.rng.Float64()
	switch {
	case m.spam:
		if r < 0.6 {
			return ""
		}
		return ".Trash"
	case m.fork:
		if r < 0.8 {
			return ".Lists.fork"
		} else if r < 0.9 {
			return ""
		}
		return ".Trash"
	case r < 0.55:
		return ""
	case r < 0.88:
		if t.Before(y2003) {
			return ".Archive.2002"
		}
		return ""
	}
	return ".Trash"
}

type weighted struct {
	flags string
	p     float64
}

var flagTables = map[string][]weighted{
	"":              {{"", .08}, {"S", .70}, {"RS", .12}, {"FS", .05}, {"FRS", .02}, {"ST", .03}},
	".Lists.fork":   {{"", .30}, {"S", .66}, {"FS", .02}, {"RS", .02}},
	".Trash":        {{"S", .85}, {"ST", .10}, {"", .05}},
	".Archive.2002": {{"S", .85}, {"RS", .10}, {"FS", .05}},
	".Sent":         {{"S", .97}, {"FS", .03}},
	".Entw&APw-rfe": {{"DS", 1}},
}

func (g *gen) flags(folder string) string {
	r, acc := g.rng.Float64(), 0.0
	tab := flagTables[folder]
	for _, w := range tab {
		acc += w.p
		if r < acc {
			return w.flags
		}
	}
	return tab[len(tab)-1].flags
}

// uniqueBase returns a Dovecot base name <time>.M<usec>P<pid>.<host> not used
// before in this store.
func (g *gen) uniqueBase(t time.Time, usec, pid int, host string) string {
	for {
		b := fmt.Sprintf("%d.M%dP%d.%s", t.Unix(), usec, pid, host)
		if !g.names[b] {
			g.names[b] = true
			return b
		}
		usec = g.rng.IntN(1000000)
	}
}

// render returns header and body for use number k of m: the first use is the
// corpus message; later ones get a new Message-ID and Date and a light body
// change.
func (g *gen) render(m source, k int, t time.Time) (hdr, body []byte) {
	if k == 0 {
		return m.hdr, m.body
	}
	h := sha1.Sum(fmt.Appendf(nil, "%d:%d", m.idx, k))
	hdr = setField(m.hdr, "Message-ID", fmt.Sprintf("<%s.%d@%s>", hex.EncodeToString(h[:8]), k, m.msgHost))
	d := t.Add(-time.Duration(30+g.rng.IntN(3570)) * time.Second)
	hdr = setField(hdr, "Date", rfc2822(d))
	return hdr, mutateBody(g.rng, m.body)
}

func rfc2822(t time.Time) string { return t.UTC().Format("Mon, 2 Jan 2006 15:04:05 +0000") }

// verp returns the VERP return path of a list sender for one recipient.
func verp(addr, rcpt string) string {
	i := strings.LastIndexByte(addr, '@')
	l, d, _ := strings.Cut(rcpt, "@")
	return fmt.Sprintf("%s+%s=%s@%s", addr[:i], l, d, addr[i+1:])
}

// deliver writes one delivery of m to recipients (all in one domain), each
// into the folder folderOf gives it.
func (g *gen) deliver(m source, k int, rcpts []string, t time.Time, folderOf func(string) string) error {
	_, domain, _ := strings.Cut(rcpts[0], "@")
	hdr, body := g.render(m, k, t)
	qid := fmt.Sprintf("%X", 0x1000000000+g.qid)
	forClause := ""
	if len(rcpts) == 1 {
		forClause = "\n\tfor <" + rcpts[0] + ">"
	}
	rcvd := fmt.Sprintf("Received: from relay%d.example.com (relay%d.example.com [192.0.2.%d])\n"+
		"\tby mx%d.%s (Postfix) with ESMTPS id %s%s;\n\t%s\n",
		g.qid%7, g.qid%7, 1+g.qid%250, 1+g.qid%2, domain, qid, forClause, rfc2822(t))
	host := hosts[g.qid%2]
	g.qid++
	pid := 1000 + g.rng.IntN(60000)
	usec0 := g.rng.IntN(900000)
	for j, u := range rcpts {
		rp := m.rpath
		if len(rcpts) > 1 {
			rp = verp(m.rpath, u)
		}
		var data []byte
		data = fmt.Appendf(data, "Return-Path: <%s>\nDelivered-To: %s\n%s", rp, u, rcvd)
		data = append(data, hdr...)
		data = append(data, '\n')
		data = append(data, body...)
		fo := folderOf(u)
		base := g.uniqueBase(t, usec0+j*37, pid, host)
		name := fmt.Sprintf("%s,S=%d,W=%d:2,%s", base, len(data), vsize(data), g.flags(fo))
		if err := g.write(u, fo, name, data, t); err != nil {
			return err
		}
	}
	return nil
}

// own writes a message user wrote (Sent, drafts): no delivery headers.
func (g *gen) own(m source, k int, user string, t time.Time, folder string) error {
	hdr, body := g.render(m, k, t)
	hdr = removeFields(hdr, "Delivered-To", "Received")
	var kept []byte
	for _, f := range fields(hdr) {
		if !bytes.HasPrefix(bytes.ToLower(f), []byte("x-")) {
			kept = append(kept, f...)
		}
	}
	hdr = setField(kept, "From", user)
	data := append(slices.Clip(hdr), '\n')
	data = append(data, body...)
	base := g.uniqueBase(t, g.rng.IntN(1000000), 1000+g.rng.IntN(60000), hosts[0])
	name := fmt.Sprintf("%s,S=%d,W=%d:2,%s", base, len(data), vsize(data), g.flags(folder))
	return g.write(user, folder, name, data, t)
}

// write queues a message file for the writers (started by startWriters).
func (g *gen) write(user, folder, name string, data []byte, t time.Time) error {
	p := filepath.Join(g.s.Maildir(user), folder, "cur", name)
	g.jobs <- writeJob{p, data, t}
	g.recs = append(g.recs, record{user, folder, p, t})
	return nil
}

type writeJob struct {
	path string
	data []byte
	t    time.Time
}

// startWriters starts the goroutines that write queued files: file creation
// is bound by system-call latency, so a few writers overlap it. wait closes
// the queue, waits for the writers and returns the first error.
func (g *gen) startWriters(n int) (wait func() error) {
	g.jobs = make(chan writeJob, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards first
	var first error
	for range n {
		wg.Go(func() {
			for j := range g.jobs {
				if err := writeFile(j.path, j.data, g.s.owner, j.t); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("teststore: %w", err)
					}
					mu.Unlock()
				}
			}
		})
	}
	return func() error {
		close(g.jobs)
		wg.Wait()
		return first
	}
}

// allocate splits total over the users with log-normal weights: a few big
// mailboxes, many small ones.
func (g *gen) allocate(total int) []int {
	n := len(g.s.Users)
	minPer := min(5, total/n)
	w := make([]float64, n)
	sum := 0.0
	for i := range w {
		w[i] = math.Exp(g.rng.NormFloat64())
		sum += w[i]
	}
	cnt := make([]int, n)
	got := 0
	for i := range cnt {
		cnt[i] = max(minPer, int(math.Round(float64(total)*w[i]/sum)))
		got += cnt[i]
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cnt[b] - cnt[a] })
	for i := 0; got != total; i++ {
		j := order[i%n]
		step := 1
		if got > total {
			step = -1
		}
		if cnt[j]+step >= minPer {
			cnt[j] += step
			got += step
		}
	}
	return cnt
}

func (g *gen) run(total int) error {
	if total == 0 {
		return nil
	}
	wait := g.startWriters(4)
	err := g.generate(total)
	if werr := wait(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	return g.finish()
}

// generate writes (queues) the message files: deliveries to several users,
// single deliveries and the users' own messages.
func (g *gen) generate(total int) error {
	users := g.s.Users
	cnt := g.allocate(total)
	capLeft := map[string]int{}
	nlinks := map[string]int{}
	base := 0
	for i, u := range users {
		l := int(math.Round(float64(cnt[i]) * 0.05 / 1.05))
		if l == 0 && cnt[i] >= 8 {
			l = 1
		}
		nlinks[u] = l
		capLeft[u] = cnt[i] - l
		base += capLeft[u]
	}
	byDomain := map[string][]string{}
	var domains []string
	for _, u := range users {
		_, d, _ := strings.Cut(u, "@")
		if byDomain[d] == nil {
			domains = append(domains, d)
		}
		byDomain[d] = append(byDomain[d], u)
	}

	// 1) deliveries to several users of a domain, ~30 % of the files
	target := int(math.Round(0.30 * float64(base)))
	var kvals []int
	var kw []float64
	for k := 2; k <= 20; k++ {
		kvals = append(kvals, k)
		kw = append(kw, 1/math.Pow(float64(k), 1.3))
	}
	for done := 0; done < target; {
		var doms []string
		var dcap []float64
		for _, d := range domains {
			c, tot := 0, 0
			for _, u := range byDomain[d] {
				if capLeft[u] > 0 {
					c++
					tot += capLeft[u]
				}
			}
			if c >= 2 {
				doms = append(doms, d)
				dcap = append(dcap, float64(tot))
			}
		}
		if len(doms) == 0 {
			break
		}
		d := doms[pick(g.rng, dcap)]
		var avail []string
		for _, u := range byDomain[d] {
			if capLeft[u] > 0 {
				avail = append(avail, u)
			}
		}
		k := min(kvals[pick(g.rng, kw)], len(avail), max(2, target-done))
		// weighted sample without replacement (Efraimidis–Spirakis)
		key := map[string]float64{}
		for _, u := range avail {
			key[u] = math.Pow(g.rng.Float64(), 1/float64(capLeft[u]))
		}
		slices.SortStableFunc(avail, func(a, b string) int {
			switch {
			case key[a] > key[b]:
				return -1
			case key[a] < key[b]:
				return 1
			}
			return 0
		})
		rcpts := slices.Clone(avail[:k])
		slices.Sort(rcpts)
		for _, u := range rcpts {
			capLeft[u]--
		}
		m, cyc := g.next()
		t := g.eventTime(m, cyc)
		fo := map[string]string{}
		for _, u := range rcpts {
			fo[u] = g.folderFor(m, t)
		}
		if err := g.deliver(m, cyc, rcpts, t, func(u string) string { return fo[u] }); err != nil {
			return err
		}
		done += len(rcpts)
	}

	// 2) single deliveries and the users' own messages
	var slots []string
	for _, u := range users {
		for range capLeft[u] {
			slots = append(slots, u)
		}
	}
	g.rng.Shuffle(len(slots), func(i, j int) { slots[i], slots[j] = slots[j], slots[i] })
	for _, u := range slots {
		m, cyc := g.next()
		t := g.eventTime(m, cyc)
		var err error
		switch r := g.rng.Float64(); {
		case r < 0.08:
			err = g.own(m, cyc, u, t, ".Sent")
		case r < 0.09:
			err = g.own(m, cyc, u, t, ".Entw&APw-rfe")
		default:
			fo := g.folderFor(m, t)
			err = g.deliver(m, cyc, []string{u}, t, func(string) string { return fo })
		}
		if err != nil {
			return err
		}
	}

	g.nlinks = nlinks
	return nil
}

// finish moves the newest messages of each INBOX to new/ and makes the hard
// links, once all files are written.
func (g *gen) finish() error {
	users, nlinks := g.s.Users, g.nlinks
	// 3) the newest ~1.5 % of each INBOX (at least one) not yet seen: new/, no ":2,"
	inbox := map[string][]int{}
	for i, r := range g.recs {
		if r.folder == "" {
			inbox[r.user] = append(inbox[r.user], i)
		}
	}
	for _, u := range users {
		idx := inbox[u]
		if len(idx) < 2 {
			continue
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			if c := g.recs[a].t.Compare(g.recs[b].t); c != 0 {
				return c
			}
			return strings.Compare(g.recs[a].path, g.recs[b].path)
		})
		nnew := max(1, len(idx)*15/1000)
		for _, i := range idx[len(idx)-nnew:] {
			r := &g.recs[i]
			name := filepath.Base(r.path)
			name = name[:strings.Index(name, ":2,")]
			np := filepath.Join(filepath.Dir(filepath.Dir(r.path)), "new", name)
			if err := os.Rename(r.path, np); err != nil {
				return fmt.Errorf("teststore: %w", err)
			}
			r.path = np
		}
	}

	// 4) ~5 % of each user's files: hard links into Archive/2002 with a new
	// name, as Dovecot's IMAP COPY makes them
	cand := map[string][]record{}
	for _, r := range g.recs {
		if (r.folder == "" || r.folder == ".Lists.fork") && filepath.Base(filepath.Dir(r.path)) == "cur" {
			cand[r.user] = append(cand[r.user], r)
		}
	}
	nl := 0
	for _, u := range users {
		c := cand[u]
		slices.SortFunc(c, func(a, b record) int { return strings.Compare(a.path, b.path) })
		for _, i := range g.rng.Perm(len(c))[:min(nlinks[u], len(c))] {
			r := c[i]
			old := filepath.Base(r.path)
			tail := old[strings.Index(old, ",S="):]
			tcopy := r.t.Add(time.Duration(86400+g.rng.IntN(199*86400)) * time.Second)
			b := g.uniqueBase(tcopy, g.rng.IntN(1000000), 1000+g.rng.IntN(60000), hosts[nl%2])
			dst := filepath.Join(g.s.Maildir(u), ".Archive.2002", "cur", b+tail)
			if err := os.Link(r.path, dst); err != nil {
				return fmt.Errorf("teststore: %w", err)
			}
			nl++
		}
	}
	return nil
}

// pick returns an index chosen with the given weights.
func pick(rng *rand.Rand, w []float64) int {
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	r := rng.Float64() * sum
	for i, x := range w {
		if r < x {
			return i
		}
		r -= x
	}
	return len(w) - 1
}

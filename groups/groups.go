// Package groups sorts users into backup groups.
//
// A groups file holds NAME=REGEX lines; a user belongs to the group of the
// first line whose regular expression matches the whole user id. Users that
// match no line are in the predefined group "user". Go's regexp package is
// RE2, so no expression can take exponential time on a hostile user id.
package groups

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Default is the group of every user no line claims.
const Default = "user"

// Limits that keep a hostile or mistaken groups file from taking the memory
// and time of a huge automaton; a real file is a few short lines.
const (
	// maxLine bounds a line of a groups file.
	maxLine = 4096
	// maxFile bounds the whole file.
	maxFile = 1 << 20
	// maxProg bounds the size of one expression as compiled: about the
	// number of automaton instructions, repetitions counted out. Go's
	// parser refuses a{1001} and (a{1000}){1000}, but (a|b){999} repeated
	// 400 times on one line compiles to 300 MiB.
	maxProg = 20000
	// maxTotalProg bounds all expressions of the file together.
	maxTotalProg = 500000
)

// Rule is one NAME=REGEX line.
type Rule struct {
	Name string
	Re   *regexp.Regexp
	Line int
}

// Set is an ordered list of rules.
type Set struct {
	Rules []Rule
}

// Load reads a groups file. An empty path gives the empty Set (everyone in
// Default).
func Load(path string) (*Set, error) {
	if path == "" {
		return &Set{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read groups file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read groups file: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("groups file %s: %w", path, err)
	}
	return s, nil
}

// Parse parses the text of a groups file.
func Parse(data []byte) (*Set, error) {
	if len(data) > maxFile {
		return nil, fmt.Errorf("more than %d bytes: a groups file holds a few NAME=REGEX lines", maxFile)
	}
	s := &Set{}
	total := 0
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, expr, ok := strings.Cut(line, "=")
		name, expr = strings.TrimSpace(name), strings.TrimSpace(expr)
		if !ok || name == "" || expr == "" {
			return nil, fmt.Errorf("line %d: want NAME=REGEX, got %q", n, line)
		}
		if err := ValidName(name); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if first, dup := seen[name]; dup {
			return nil, fmt.Errorf("line %d: group %q already defined on line %d", n, name, first)
		}
		parsed, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad regular expression for group %q: %v", n, name, err)
		}
		size := progSize(parsed, maxProg+1)
		if size > maxProg {
			return nil, fmt.Errorf("line %d: the regular expression for group %q is too large (more than %d instructions once its repetitions are counted out)", n, name, maxProg)
		}
		if total += size; total > maxTotalProg {
			return nil, fmt.Errorf("line %d: the regular expressions up to here are too large together (more than %d instructions)", n, maxTotalProg)
		}
		re, err := regexp.Compile(`^(?:` + expr + `)$`)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad regular expression for group %q: %v", n, name, err)
		}
		seen[name] = n
		s.Rules = append(s.Rules, Rule{Name: name, Re: re, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return s, nil
}

// progSize estimates the instructions re compiles to, counting a repeated
// expression once per repetition, as the compiler does. It stops counting
// past limit, so a huge expression costs no more than a small one.
func progSize(re *syntax.Regexp, limit int) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) + 1
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpCapture:
		return progSize(re.Sub[0], limit) + 2
	case syntax.OpRepeat:
		n := re.Max
		if n < 0 {
			n = re.Min + 1
		}
		sub := progSize(re.Sub[0], limit) + 2
		if n > 0 && sub > limit/n {
			return limit + 1
		}
		return sub * max(n, 1)
	case syntax.OpConcat, syntax.OpAlternate:
		total := 1
		for _, sub := range re.Sub {
			if total += progSize(sub, limit) + 1; total > limit {
				return limit + 1
			}
		}
		return total
	}
	return 1
}

// Match returns the group of a user id.
func (s *Set) Match(user string) string {
	for _, r := range s.Rules {
		if r.Re.MatchString(user) {
			return r.Name
		}
	}
	return Default
}

// ValidName reports whether name can name a group or a server: it becomes a
// path component of the mount and part of archive file names.
func ValidName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("name %q must be 1 to 64 characters", name)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || (c == '.' && i > 0)
		if !ok {
			return fmt.Errorf("name %q may hold only letters, digits, '_', '-' and '.' (not first)", name)
		}
	}
	return nil
}

// Scope limits a run or a listing: everything, one group, or one user of a
// group.
type Scope struct {
	Group string // "" for all groups
	User  string // "" for all users of Group
}

// ParseScope parses "/", "/GROUP" or "/GROUP/USER".
func ParseScope(s string) (Scope, error) {
	if s == "" || s == "/" {
		return Scope{}, nil
	}
	if !strings.HasPrefix(s, "/") {
		return Scope{}, fmt.Errorf("scope %q must start with '/': /, /GROUP or /GROUP/USER", s)
	}
	parts := strings.Split(strings.TrimSuffix(s[1:], "/"), "/")
	if len(parts) > 2 || parts[0] == "" || (len(parts) == 2 && parts[1] == "") {
		return Scope{}, fmt.Errorf("scope %q: want /, /GROUP or /GROUP/USER", s)
	}
	if err := ValidName(parts[0]); err != nil {
		return Scope{}, fmt.Errorf("scope %q: group %w", s, err)
	}
	sc := Scope{Group: parts[0]}
	if len(parts) == 2 {
		sc.User = parts[1]
	}
	return sc, nil
}

// Contains reports whether a user of a group is inside the scope.
func (sc Scope) Contains(group, user string) bool {
	return (sc.Group == "" || sc.Group == group) && (sc.User == "" || sc.User == user)
}

func (sc Scope) String() string {
	switch {
	case sc.Group == "":
		return "/"
	case sc.User == "":
		return "/" + sc.Group
	}
	return "/" + sc.Group + "/" + sc.User
}

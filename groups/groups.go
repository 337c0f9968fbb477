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
	"os"
	"regexp"
	"strings"
)

// Default is the group of every user no line claims.
const Default = "user"

// maxLine bounds a line of a groups file; a longer one is refused rather than
// compiled into a huge automaton.
const maxLine = 4096

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
	data, err := os.ReadFile(path)
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
	s := &Set{}
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

package maildir

import (
	"errors"
	"fmt"
	"strings"
)

// Location is a parsed Dovecot mail_location template for Maildir++.
type Location struct {
	path  string   // the path template as written, "::" already unescaped
	opts  []string // accepted options, kept for String
	comps []component
	has   map[byte]bool // which of 'd', 'n', 'u' occur
}

// component is one path component of the template: literals and variables.
type component []token

// token is a literal (v == 0) or one of the variables 'd', 'n', 'u'.
type token struct {
	lit string
	v   byte
}

// longVars are Dovecot's long names for the variables understood here.
var longVars = map[string]byte{"domain": 'd', "username": 'n', "user": 'u'}

// ParseLocation parses "maildir:PATH[:KEY=VALUE...]". PATH must be absolute
// and may hold %d (domain), %n (local part) and %u (whole user), or the long
// forms %{domain}, %{username} and %{user}; "%%" is a "%", and "::" a ":"
// as in Dovecot. INDEX= is accepted and ignored, as is LAYOUT=maildir++
// (the default); other options are refused, since this package would
// misread a store laid out by them.
func ParseLocation(s string) (*Location, error) {
	rest, ok := strings.CutPrefix(s, "maildir:")
	if !ok {
		return nil, fmt.Errorf("mail location %q: only \"maildir:\" locations are supported", s)
	}
	parts := splitEscaped(rest)
	l := &Location{path: parts[0], has: map[byte]bool{}}
	for _, opt := range parts[1:] {
		key, val, _ := strings.Cut(opt, "=")
		switch {
		case key == "INDEX", key == "LAYOUT" && val == "maildir++":
			l.opts = append(l.opts, opt)
		default:
			return nil, fmt.Errorf("mail location %q: option %q is not supported yet", s, opt)
		}
	}
	if !strings.HasPrefix(l.path, "/") {
		return nil, fmt.Errorf("mail location %q: path %q is not absolute", s, l.path)
	}
	for _, c := range strings.Split(l.path, "/") {
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			return nil, fmt.Errorf("mail location %q: path must not hold \"..\"", s)
		}
		comp, err := parseComponent(c, l.has)
		if err != nil {
			return nil, fmt.Errorf("mail location %q: %w", s, err)
		}
		l.comps = append(l.comps, comp)
	}
	if !l.has['n'] && !l.has['u'] {
		return nil, fmt.Errorf("mail location %q: path needs %%u or %%n to tell users apart", s)
	}
	return l, nil
}

// splitEscaped splits at ":" except where "::" stands for a literal ":".
func splitEscaped(s string) []string {
	var parts []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == ':' && i+1 < len(s) && s[i+1] == ':':
			b.WriteByte(':')
			i++
		case s[i] == ':':
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(parts, b.String())
}

// parseComponent splits one path component into literals and variables,
// noting the variables seen in has.
func parseComponent(c string, has map[byte]bool) (component, error) {
	var comp component
	var lit strings.Builder
	addVar := func(v byte) {
		if lit.Len() > 0 {
			comp = append(comp, token{lit: lit.String()})
			lit.Reset()
		}
		comp = append(comp, token{v: v})
		has[v] = true
	}
	for i := 0; i < len(c); i++ {
		if c[i] != '%' {
			lit.WriteByte(c[i])
			continue
		}
		if i+1 == len(c) {
			return nil, errors.New("path ends in a lone \"%\"")
		}
		i++
		switch c[i] {
		case '%':
			lit.WriteByte('%')
		case 'd', 'n', 'u':
			addVar(c[i])
		case '{':
			name, _, ok := strings.Cut(c[i+1:], "}")
			v, known := longVars[name]
			if !ok || !known {
				return nil, fmt.Errorf("variable in %q is not supported (use %%d, %%n, %%u)", c)
			}
			addVar(v)
			i += len(name) + 1
		default:
			return nil, fmt.Errorf("variable %%%c is not supported (use %%d, %%n, %%u)", c[i])
		}
	}
	if lit.Len() > 0 {
		comp = append(comp, token{lit: lit.String()})
	}
	return comp, nil
}

// String returns the location in the form ParseLocation reads.
func (l *Location) String() string {
	var b strings.Builder
	b.WriteString("maildir:")
	b.WriteString(strings.ReplaceAll(l.path, ":", "::"))
	for _, o := range l.opts {
		b.WriteByte(':')
		b.WriteString(strings.ReplaceAll(o, ":", "::"))
	}
	return b.String()
}

// Path expands the template for one user: with "maildir:/var/vmail/%d/%n/Maildir",
// "alice@example.org" is /var/vmail/example.org/alice/Maildir. The domain is
// what follows the first "@", as in Dovecot.
func (l *Location) Path(userID string) (string, error) {
	vars := userVars(userID)
	if l.has['d'] && vars['d'] == "" {
		return "", fmt.Errorf("user %q has no domain, which %s needs", userID, l)
	}
	var b strings.Builder
	for _, comp := range l.comps {
		var c strings.Builder
		for _, t := range comp {
			if t.v == 0 {
				c.WriteString(t.lit)
			} else {
				c.WriteString(vars[t.v])
			}
		}
		s := c.String()
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
			return "", fmt.Errorf("user %q cannot be a path component (%q) of %s", userID, s, l)
		}
		b.WriteByte('/')
		b.WriteString(s)
	}
	return b.String(), nil
}

// userVars splits a user id into Dovecot's %u, %n and %d.
func userVars(id string) map[byte]string {
	n, d, _ := strings.Cut(id, "@")
	return map[byte]string{'u': id, 'n': n, 'd': d}
}

// userID names the user a set of matched variables stands for.
func (l *Location) userID(vars map[byte]string) string {
	switch {
	case l.has['n'] && l.has['d']:
		return vars['n'] + "@" + vars['d']
	case l.has['u']:
		return vars['u']
	}
	return vars['n']
}

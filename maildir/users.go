package maildir

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// User is one user a Location finds.
type User struct {
	ID   string // "local@domain" if the template has %n and %d, else %u or %n
	Root string // the user's Maildir root directory
}

// Users finds every user the template matches by walking the file system. A
// variable matches a whole path component or part of one; it never matches
// an empty string, a name starting with ".", or a symlink, so alias domains
// linked to a real one are not backed up twice. Literal components are
// followed as the system resolves them. A root counts only if it has cur/ or
// new/.
//
// Directories that cannot be read are reported in the []error and skipped.
// So is a root that two user ids could name (a template like "%n%d" is
// ambiguous); a directory that merely leads nowhere is skipped silently.
func (l *Location) Users() ([]User, []error) {
	w := &userWalk{l: l}
	w.walk("/", 0, map[byte]string{}, false)
	byRoot := map[string][]string{}
	for _, u := range w.users {
		if !slices.Contains(byRoot[u.Root], u.ID) {
			byRoot[u.Root] = append(byRoot[u.Root], u.ID)
		}
	}
	var users []User
	for _, root := range slices.Sorted(maps.Keys(byRoot)) {
		ids := byRoot[root]
		if len(ids) > 1 {
			w.problems = append(w.problems, fmt.Errorf("%s: skipped: %s could name it as any of %q", root, l, ids))
			continue
		}
		users = append(users, User{ID: ids[0], Root: root})
	}
	slices.SortFunc(users, func(a, b User) int { return cmp.Compare(a.ID, b.ID) })
	return users, w.problems
}

type userWalk struct {
	l        *Location
	users    []User
	problems []error
}

// walk matches component i of the template below dir. viaVar says whether a
// variable led here; then a missing directory is just not a match.
func (w *userWalk) walk(dir string, i int, vars map[byte]string, viaVar bool) {
	if i == len(w.l.comps) {
		w.found(dir, vars)
		return
	}
	comp := w.l.comps[i]
	if len(comp) == 1 && comp[0].v == 0 {
		w.walk(filepath.Join(dir, comp[0].lit), i+1, vars, viaVar)
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !viaVar || !notExist(err) {
			w.problems = append(w.problems, fmt.Errorf("cannot look for users: %w", err))
		}
		return
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.Type().IsDir() {
			continue
		}
		for _, m := range matchComponent(comp, name, vars) {
			w.walk(filepath.Join(dir, name), i+1, m, true)
		}
	}
}

func (w *userWalk) found(dir string, vars map[byte]string) {
	fi, err := os.Stat(dir)
	switch {
	case err != nil && !notExist(err):
		w.problems = append(w.problems, fmt.Errorf("cannot look for users: %w", err))
	case err == nil && fi.IsDir() && isMaildir(dir):
		w.users = append(w.users, User{ID: w.l.userID(vars), Root: dir})
	}
}

// matchComponent returns every extension of vars under which comp matches
// name exactly.
func matchComponent(comp component, name string, vars map[byte]string) []map[byte]string {
	var out []map[byte]string
	var match func(toks component, s string)
	match = func(toks component, s string) {
		if len(toks) == 0 {
			if s == "" {
				out = append(out, maps.Clone(vars))
			}
			return
		}
		t := toks[0]
		if t.v == 0 {
			if rest, ok := strings.CutPrefix(s, t.lit); ok {
				match(toks[1:], rest)
			}
			return
		}
		if val, bound := vars[t.v]; bound {
			if rest, ok := strings.CutPrefix(s, val); ok {
				match(toks[1:], rest)
			}
			return
		}
		for i := 1; i <= len(s); i++ {
			vars[t.v] = s[:i]
			if consistent(vars) {
				match(toks[1:], s[i:])
			}
		}
		delete(vars, t.v)
	}
	match(comp, name)
	return out
}

// consistent reports whether the bound variables can belong to one user:
// %n holds no "@", and %u is %n@%d (or just %n without a domain).
func consistent(vars map[byte]string) bool {
	n, hasN := vars['n']
	d, hasD := vars['d']
	u, hasU := vars['u']
	if hasN && strings.Contains(n, "@") {
		return false
	}
	if !hasU {
		return true
	}
	want := userVars(u)
	return (!hasN || n == want['n']) && (!hasD || d == want['d'])
}

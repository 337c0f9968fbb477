package restore

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mailvault/mailvault/archive"
)

// Scope names what to restore: /SERVER[/GROUP[/USER[/FOLDER[/MESSAGE-FILE]]]].
// Folder names hold slashes themselves (Archive/2002), so Rest keeps the
// part after the user until it is matched against the user's folders.
type Scope struct {
	Server, Group, User string
	Rest                string // folder path, possibly followed by a message file
}

// ParseScope parses a restore scope. Trailing slashes, as shell completion
// leaves them after a directory of the mount, are dropped.
func ParseScope(s string) (Scope, error) {
	body := strings.TrimRight(strings.TrimPrefix(s, "/"), "/")
	if !strings.HasPrefix(s, "/") || body == "" {
		return Scope{}, fmt.Errorf("scope %q: want /SERVER[/GROUP[/USER[/FOLDER[/MESSAGE-FILE]]]]", s)
	}
	parts := strings.SplitN(body, "/", 4)
	for _, p := range parts[:min(len(parts), 3)] {
		if p == "" || p == "." || p == ".." {
			return Scope{}, fmt.Errorf("scope %q: empty or relative component", s)
		}
	}
	var sc Scope
	fields := []*string{&sc.Server, &sc.Group, &sc.User, &sc.Rest}
	for i, p := range parts {
		*fields[i] = p
	}
	return sc, nil
}

func (sc Scope) String() string {
	s := "/" + sc.Server
	for _, p := range []string{sc.Group, sc.User, sc.Rest} {
		if p == "" {
			break
		}
		s += "/" + p
	}
	return s
}

// selectFolders picks the folders of a user that the scope's Rest names:
// all of them, one folder, or one folder and a message file in it.
func (sc Scope) selectFolders(folders []*archive.Folder) ([]*archive.Folder, string, error) {
	if sc.Rest == "" {
		return folders, "", nil
	}
	// The longest folder name that the rest starts with wins, so that
	// "Archive/2002" is not taken for folder "Archive" and message "2002".
	sorted := append([]*archive.Folder(nil), folders...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i].Name) > len(sorted[j].Name) })
	for _, f := range sorted {
		if sc.Rest == f.Name {
			return []*archive.Folder{f}, "", nil
		}
		if msg, ok := strings.CutPrefix(sc.Rest, f.Name+"/"); ok {
			return []*archive.Folder{f}, msg, nil
		}
	}
	return nil, "", fmt.Errorf("user %s has no folder %q in the backup", sc.User, sc.Rest)
}

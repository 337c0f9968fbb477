package maildir

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// listTries bounds how often a directory that changes while it is read is
// read again.
const listTries = 3

// listMessages lists the message files of a folder: cur/ then new/, each in
// name order, with the mtimes of cur/ and new/.
//
// Dovecot renames files while we read. new/ is listed before cur/, so a
// message moved from new/ to cur/ in between is seen at least once; if seen
// in both, the cur/ name wins. A directory whose mtime changed during the
// listing is listed again and the names merged, since readdir may skip an
// entry renamed under it.
func listMessages(folder string) (msgs []MessageFile, curMtime, newMtime int64, problems []error) {
	var newNames, curNames []string
	newNames, newMtime, problems = listNames(filepath.Join(folder, "new"), problems)
	curNames, curMtime, problems = listNames(filepath.Join(folder, "cur"), problems)
	inCur := make(map[string]bool, len(curNames))
	for _, n := range curNames {
		inCur[baseOf(n)] = true
	}
	for _, sub := range []struct {
		name  string
		names []string
	}{{"cur", curNames}, {"new", newNames}} {
		for _, name := range sub.names {
			if sub.name == "new" && inCur[baseOf(name)] {
				continue
			}
			p := filepath.Join(folder, sub.name, name)
			fi, err := os.Lstat(p)
			switch {
			case notExist(err):
				continue // a stale name from an earlier try, or expunged
			case err != nil:
				problems = append(problems, err)
			case fi.Mode()&os.ModeSymlink != 0:
				problems = append(problems, fmt.Errorf("%s: skipped: a symlink, which is not followed", p))
			case !fi.Mode().IsRegular():
				problems = append(problems, fmt.Errorf("%s: skipped: not a regular file (%s)", p, fi.Mode().Type()))
			default:
				msgs = append(msgs, messageFile(sub.name, name, fi))
			}
		}
	}
	return msgs, curMtime, newMtime, problems
}

// listNames returns the sorted names in dir, skipping those starting with "."
// as Dovecot does, and dir's mtime from before the listing. A missing dir is
// not a problem: Dovecot creates cur/ and new/ as needed.
func listNames(dir string, problems []error) ([]string, int64, []error) {
	seen := map[string]bool{}
	var mtime int64
	for try := 0; try < listTries; try++ {
		before, err := os.Lstat(dir)
		if err == nil && !before.IsDir() {
			return nil, 0, append(problems, notDir(dir, before))
		}
		if err != nil {
			if !notExist(err) {
				problems = append(problems, err)
			}
			return nil, 0, problems
		}
		mtime = before.ModTime().UnixNano()
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, mtime, append(problems, fmt.Errorf("cannot list messages: %w", err))
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				seen[e.Name()] = true
			}
		}
		after, err := os.Lstat(dir)
		if err == nil && after.ModTime().UnixNano() == mtime {
			break
		}
	}
	return slices.Sorted(maps.Keys(seen)), mtime, problems
}

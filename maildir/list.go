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
// message moved from new/ to cur/ in between is seen at least once. A
// directory whose mtime changed during the listing is listed again and the
// names merged, since readdir may skip an entry renamed under it. So a
// message may be seen under several names, of which one at most is still
// there: each base name is listed once, under the name found on lstat, and
// one renamed again before its lstat is looked up by its base. A message
// whose base is nowhere any more was expunged and is left out.
//
// With keepCur not 0, a cur/ that still has that mtime is not listed
// (curKept): its messages are the caller's.
func listMessages(folder string, keepCur int64) (msgs []MessageFile, curMtime, newMtime int64, curKept bool, problems []error) {
	var newNames, curNames []string
	newNames, newMtime, problems = listNames(filepath.Join(folder, "new"), problems)
	if keepCur != 0 {
		fi, err := os.Lstat(filepath.Join(folder, "cur"))
		curKept = err == nil && fi.IsDir() && fi.ModTime().UnixNano() == keepCur
	}
	if curKept {
		curMtime = keepCur
	} else {
		curNames, curMtime, problems = listNames(filepath.Join(folder, "cur"), problems)
	}
	var bases []string
	seen := map[string][]MessageFile{} // base → names seen, cur/ first
	for _, sub := range []struct {
		name  string
		names []string
	}{{"cur", curNames}, {"new", newNames}} {
		for _, name := range sub.names {
			b := baseOf(name)
			if seen[b] == nil {
				bases = append(bases, b)
			}
			seen[b] = append(seen[b], MessageFile{Subdir: sub.name, Name: name})
		}
	}
	var relook relookup
	for _, b := range bases {
		m, ok, err := statMessage(folder, b, seen[b], &relook)
		switch {
		case err != nil:
			problems = append(problems, err)
		case ok:
			msgs = append(msgs, m)
		}
	}
	slices.SortFunc(msgs, func(a, b MessageFile) int {
		if a.Subdir != b.Subdir {
			return strings.Compare(a.Subdir, b.Subdir) // cur before new
		}
		return strings.Compare(a.Name, b.Name)
	})
	return msgs, curMtime, newMtime, curKept, problems
}

// statMessage stats the message file of base under one of the names it was
// listed with, or, if it was renamed since, where relook finds it now. False
// means it is gone: expunged. A file that is not a regular one is an error.
func statMessage(folder, base string, names []MessageFile, relook *relookup) (MessageFile, bool, error) {
	try := func(m MessageFile) (MessageFile, bool, error) {
		p := filepath.Join(folder, m.Subdir, m.Name)
		fi, err := os.Lstat(p)
		switch {
		case notExist(err):
			return m, false, nil
		case err != nil:
			return m, false, err
		case fi.Mode()&os.ModeSymlink != 0:
			return m, false, fmt.Errorf("%s: skipped: a symlink, which is not followed", p)
		case !fi.Mode().IsRegular():
			return m, false, fmt.Errorf("%s: skipped: not a regular file (%s)", p, fi.Mode().Type())
		}
		return messageFile(m.Subdir, m.Name, fi), true, nil
	}
	var last MessageFile
	for _, m := range names {
		if got, ok, err := try(m); ok || err != nil {
			return got, ok, err
		}
		last = m
	}
	for range relookTries {
		m, ok := relook.find(folder, base, last)
		if !ok {
			return MessageFile{}, false, nil
		}
		if got, ok, err := try(m); ok || err != nil {
			return got, ok, err
		}
		last = m
	}
	return MessageFile{}, false, nil
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

package archive

import (
	"fmt"
	"strconv"
	"strings"
)

// ErrBadName means a folder record holds a name that no Maildir could have
// given it: one that would climb out of a directory (a "/" or ".."), a NUL,
// or an absurd length. Such a record was crafted or damaged; restore, import
// and the mount refuse the names. It wraps ErrCorrupt.
var ErrBadName = fmt.Errorf("%w: a name no Maildir can hold", ErrCorrupt)

// Limits on names, above what any store gives (a path component is at most
// 255 bytes on Linux; a user id is at most two of them, local part and
// domain).
const (
	MaxNameLen       = 255
	MaxUserLen       = 2*MaxNameLen + 1
	MaxFolderNameLen = 4 * MaxNameLen

	maxNamed = 5 // bad names told in one error; the rest are counted
)

// CheckFolder checks the names of a folder record: its user, folder name
// and directory, its messages, control files, removed files and keywords.
// Every name a backup of a real store writes passes: those came from
// directory entries, which hold no "/" or NUL and are never "." or "..". The
// error wraps ErrBadName and names the folder and the object, with long
// names shortened.
func CheckFolder(f *Folder) error {
	var errs []string
	bad := func(what, name, why string) {
		errs = append(errs, fmt.Sprintf("%s %s %s", what, QuoteName(name), why))
	}
	if why := userID(f.User); why != "" {
		errs = append(errs, "the user id "+why)
	}
	if why := folderName(f.Name, f.Dir != ""); why != "" {
		errs = append(errs, "the folder name "+why)
	}
	if f.Dir != "" {
		if why := pathComponent(f.Dir, MaxNameLen); why != "" || f.Dir[0] != '.' {
			bad("folder directory", f.Dir, orElse(why, `is not a Maildir++ folder directory (".name")`))
		}
	}
	for i := range f.Messages {
		m := &f.Messages[i]
		if m.Subdir != "cur" && m.Subdir != "new" {
			bad("message subdirectory", m.Subdir, `is not "cur" or "new"`)
		}
		if why := messageName(m.Name); why != "" {
			bad("message file", m.Name, why)
		}
	}
	for _, r := range f.Removed {
		sub, name, _ := strings.Cut(r, "/")
		if (sub != "cur" && sub != "new") || messageName(name) != "" {
			bad("removed file", r, `is not "cur/<message file>" or "new/<message file>"`)
		}
	}
	for _, c := range f.Files {
		if why := pathComponent(c.Name, MaxNameLen); why != "" {
			bad("control file", c.Name, why)
		}
	}
	for _, k := range f.Keywords {
		if strings.ContainsAny(k, "\x00\n") || len(k) > MaxNameLen {
			bad("keyword", k, "holds a line break or NUL, or is too long")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	if n := len(errs); n > maxNamed {
		errs = append(errs[:maxNamed], fmt.Sprintf("and %d more", n-maxNamed))
	}
	return fmt.Errorf("%w: user %s, folder %s: %s", ErrBadName, QuoteName(f.User), QuoteName(f.Name), strings.Join(errs, "; "))
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// pathComponent says what keeps s from being one path component of at
// most max bytes, or "".
func pathComponent(s string, max int) string {
	switch {
	case s == "":
		return "is empty"
	case s == "." || s == "..":
		return "is a relative path component"
	case strings.ContainsRune(s, '/'):
		return "holds a \"/\""
	case strings.ContainsRune(s, 0):
		return "holds a NUL byte"
	case len(s) > max:
		return fmt.Sprintf("is %d bytes, more than %d", len(s), max)
	}
	return ""
}

// userID says what is wrong with a user id: it is a path component, and
// so are its local part and domain (%n and %d of a location template).
func userID(s string) string {
	if why := pathComponent(s, MaxUserLen); why != "" {
		return why
	}
	if local, domain, ok := strings.Cut(s, "@"); ok {
		for _, p := range []string{local, domain} {
			if p == "." || p == ".." {
				return "has a relative path component as its local part or domain"
			}
		}
	}
	return ""
}

// folderName says what is wrong with a folder name, levels separated by
// "/". Empty levels are allowed beside the directory they came from: a
// store directory ".a..b", which is not valid Maildir++, is backed up as
// "a//b" with that directory.
func folderName(s string, hasDir bool) string {
	switch {
	case s == "":
		return "is empty"
	case strings.ContainsRune(s, 0):
		return "holds a NUL byte"
	case len(s) > MaxFolderNameLen:
		return fmt.Sprintf("is %d bytes, more than %d", len(s), MaxFolderNameLen)
	}
	for _, level := range strings.Split(s, "/") {
		if level == "" && !hasDir {
			return "has an empty level and no folder directory"
		}
		if level == "." || level == ".." {
			return "has a relative level (\".\" or \"..\")"
		}
		if len(level) > MaxNameLen {
			return fmt.Sprintf("has a level of %d bytes, more than %d", len(level), MaxNameLen)
		}
	}
	return ""
}

// messageName says what is wrong with a message file name. Dovecot ignores
// names starting with ".", and a backup never lists them.
func messageName(s string) string {
	if why := pathComponent(s, MaxNameLen); why != "" {
		return why
	}
	if s[0] == '.' {
		return "starts with \".\""
	}
	return ""
}

// QuoteName quotes a name from an archive for a message: Go syntax, so
// control bytes and invalid UTF-8 show, and shortened when long.
func QuoteName(s string) string {
	const keep = 48
	if len(s) <= keep+16 {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:keep]), len(s))
}

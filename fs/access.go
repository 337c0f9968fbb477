package fs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"

	"github.com/mailvault/mailvault/index"
)

// Who may read what. The repository holds every user's mail, so the mount
// is the mounting user's alone unless the admin asks for more:
//
//   - Without AllowOther the kernel lets no other user in, and the modes
//     say so: everything is owned by the mounting user, directories 0500,
//     files 0400.
//   - With AllowOther the directories above users (the root, servers,
//     groups, .snapshots) are 0555 and owned by the mounting user, and each
//     user's tree is owned by the owner of that mail (the owner its folders
//     had in the store, or the one an owner map names), directories 0500
//     and files 0400. The mount uses default_permissions, so the kernel
//     enforces those modes: a local user reads their own mail and no one
//     else's.
//
// No mode has write bits: that is also what makes Dovecot open a mounted
// Maildir read-only instead of trying to lock it.
const (
	privateDirPerm  = 0o500
	privateFilePerm = 0o400
	sharedDirPerm   = 0o555
)

// Owner is a local account: who owns a user's tree in the mount.
type Owner struct{ UID, GID uint32 }

// access is the owner and modes of a part of the tree: the directories
// above users share one, each user's tree has its own. Its owner may be
// found on first use (find), since that reads the user's folder records.
type access struct {
	dirPerm, filePerm uint32

	once  sync.Once
	find  func() Owner // nil when owner is fixed
	owner Owner        // set by once when find is not nil
}

func (a *access) get() Owner {
	if a.find != nil {
		a.once.Do(func() { a.owner = a.find() })
	}
	return a.owner
}

// setAccess sets who owns what, from the mount's options; Mount calls it
// before the kernel asks anything.
func (fsys *FS) setAccess(opt MountOptions) {
	me := Owner{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	fsys.top = &access{dirPerm: privateDirPerm, filePerm: privateFilePerm, owner: me}
	fsys.private = fsys.top
	fsys.perUser = opt.AllowOther
	fsys.owners = opt.Owners
	if opt.AllowOther {
		fsys.top = &access{dirPerm: sharedDirPerm, filePerm: privateFilePerm, owner: me}
	}
}

// userAccess is the owner and modes of one user's tree in one snapshot.
func (fsys *FS) userAccess(u index.User) *access {
	if !fsys.perUser {
		return fsys.private
	}
	a := &access{dirPerm: privateDirPerm, filePerm: privateFilePerm}
	if fsys.owners != nil {
		// The map replaces the store's owners: the mount host's accounts
		// differ. A user it does not name is root's alone.
		a.owner, _ = fsys.owners.Lookup(u.Name)
		return a
	}
	a.find = func() Owner {
		folders, err := fsys.src.Folders(u.Server, u.Group, u.Name, u.Time)
		if err != nil {
			logf("mount: cannot read the owner of %s/%s/%s: %v; only root may read it", u.Server, u.Group, u.Name, err)
			return Owner{}
		}
		return storeOwner(folders)
	}
	return a
}

// storeOwner is who owned a user's mail in the store: the owner of INBOX,
// the Maildir root, or else of the first folder.
func storeOwner(folders []*index.Folder) Owner {
	for _, f := range folders {
		if f.Name == "INBOX" {
			return Owner{UID: f.OwnerUID, GID: f.OwnerGID}
		}
	}
	if len(folders) > 0 {
		return Owner{UID: folders[0].OwnerUID, GID: folders[0].OwnerGID}
	}
	return Owner{}
}

// OwnerMap names the local owner of each backed-up user, for a mount host
// whose accounts are not those of the mail server.
type OwnerMap struct {
	users map[string]Owner
	other *Owner // "*": every user not named
}

// Lookup returns the owner of a user, and false when the map names none.
func (m *OwnerMap) Lookup(userID string) (Owner, bool) {
	if o, ok := m.users[userID]; ok {
		return o, true
	}
	if m.other != nil {
		return *m.other, true
	}
	return Owner{}, false
}

// ParseOwnerMap reads an owner map: lines of "USER OWNER", where USER is a
// user id as backed up (alice@example.org) or "*" for every other user,
// and OWNER is UID:GID or the name of a local account (its uid and primary
// group). Blank lines and # comments (at the start of a line or after a
// blank) are allowed. name names the file in errors.
func ParseOwnerMap(name string, data []byte) (*OwnerMap, error) {
	m := &OwnerMap{users: map[string]Owner{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i == 0 || i > 0 && (line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i] // a comment; a # inside a name is kept
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want 'USER UID:GID' or 'USER ACCOUNT', got %q", name, n, line)
		}
		o, err := parseOwner(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n, err)
		}
		u := fields[0]
		if _, dup := m.users[u]; dup || (u == "*" && m.other != nil) {
			return nil, fmt.Errorf("%s:%d: %s is named twice", name, n, u)
		}
		if u == "*" {
			m.other = &o
			continue
		}
		m.users[u] = o
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return m, nil
}

func parseOwner(s string) (Owner, error) {
	if uid, gid, ok := strings.Cut(s, ":"); ok {
		u, uerr := strconv.ParseUint(uid, 10, 32)
		g, gerr := strconv.ParseUint(gid, 10, 32)
		if uerr != nil || gerr != nil {
			return Owner{}, fmt.Errorf("%q is not UID:GID (two numbers)", s)
		}
		return Owner{UID: uint32(u), GID: uint32(g)}, nil
	}
	acct, err := user.Lookup(s)
	if err != nil {
		return Owner{}, fmt.Errorf("no local account %q (give UID:GID instead)", s)
	}
	u, uerr := strconv.ParseUint(acct.Uid, 10, 32)
	g, gerr := strconv.ParseUint(acct.Gid, 10, 32)
	if uerr != nil || gerr != nil {
		return Owner{}, fmt.Errorf("account %q has no numeric uid and gid", s)
	}
	return Owner{UID: uint32(u), GID: uint32(g)}, nil
}

// noAccess is for an entry made without one: root's alone.
var noAccess = access{dirPerm: privateDirPerm, filePerm: privateFilePerm}

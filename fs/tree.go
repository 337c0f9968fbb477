package fs

import (
	"hash/fnv"
	"log"
	"sort"
	"strings"

	"github.com/mailvault/mailvault/index"
)

// Maildir subdirectories of every folder directory. A subfolder with one of
// these names cannot be shown beside them.
var maildirSubdirs = []string{"cur", "new", "tmp"}

// folderTree is a user's folders arranged by path: "Archive/2002" is the
// child "2002" of the node "Archive". A node without a folder is a parent
// that only holds subfolders.
type folderTree struct {
	folder  *index.Folder
	listing *listing // of folder, when the mount shows it
	kids    map[string]*folderTree
}

// buildTree arranges a flat folder list into a tree.
func buildTree(folders []*index.Folder) *folderTree {
	root := &folderTree{kids: map[string]*folderTree{}}
	for _, f := range folders {
		parts := strings.Split(f.Name, "/")
		if !usableParts(parts) {
			log.Printf("mount: folder %q has an unusable name; not shown", f.Name)
			continue
		}
		n := root
		for _, part := range parts {
			k := n.kids[part]
			if k == nil {
				k = &folderTree{kids: map[string]*folderTree{}}
				n.kids[part] = k
			}
			n = k
		}
		n.folder = f
	}
	return root
}

func usableParts(parts []string) bool {
	for _, p := range parts {
		if !usableName(p) {
			return false
		}
	}
	return true
}

// names returns the children's names, sorted, leaving out those that clash
// with the Maildir subdirectories of a real folder.
func (t *folderTree) names() []string {
	var out []string
	for name := range t.kids {
		if t.folder != nil && isMaildirSubdir(name) {
			log.Printf("mount: subfolder %q of %q clashes with the Maildir directory of that name; not shown", name, t.folder.Name)
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func isMaildirSubdir(name string) bool {
	for _, s := range maildirSubdirs {
		if name == s {
			return true
		}
	}
	return false
}

// inoOf derives a stable inode number from the parts that identify a node.
// Directory and message numbers come from different tags, so they don't
// collide in practice; 1 is the root's.
func inoOf(tag string, parts ...string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(tag))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	ino := h.Sum64()
	if ino <= 1 {
		ino += 2
	}
	return ino
}

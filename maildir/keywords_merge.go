package maildir

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MergeKeywords merges a backup's keyword list into the target folder's
// (both as ParseKeywords returns them). The target's keywords keep their
// indexes; a backup keyword the target lacks takes the first free index.
// mapping takes each backup index that names a keyword to its index in
// merged. IMAP keywords are matched without regard to case, as Dovecot
// does. More than 26 keywords in all is an error.
func MergeKeywords(target, backup []string) (merged []string, mapping map[int]int, err error) {
	merged = slices.Clone(target)
	mapping = map[int]int{}
	for i, name := range backup {
		if name == "" {
			continue
		}
		j := slices.IndexFunc(merged, func(s string) bool { return strings.EqualFold(s, name) })
		if j < 0 {
			j = slices.Index(merged, "")
			if j < 0 {
				if len(merged) == maxKeywords {
					return nil, nil, fmt.Errorf("keyword %q: the target folder has all %d keyword letters in use", name, maxKeywords)
				}
				merged = append(merged, "")
				j = len(merged) - 1
			}
			merged[j] = name
		}
		mapping[i] = j
	}
	return merged, mapping, nil
}

// RenderKeywords writes a keyword list in dovecot-keywords form,
// "<index> <keyword>" lines for the used indexes.
func RenderKeywords(kw []string) []byte {
	var b strings.Builder
	for i, name := range kw {
		if name != "" {
			b.WriteString(strconv.Itoa(i))
			b.WriteByte(' ')
			b.WriteString(name)
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

// RemapFlags rewrites the keyword letters of a file name through mapping
// (from MergeKeywords). Other flag letters stay as written; the keyword
// letters follow them in alphabetical order, as Dovecot writes them. A
// letter the mapping lacks names no keyword in the backup and is dropped:
// kept, it would take on whatever the target's letter means.
func RemapFlags(name string, mapping map[int]int) string {
	n := ParseName(name)
	if !n.Info {
		return name
	}
	var other []byte
	var kw uint32
	for i := 0; i < len(n.Flags); i++ {
		c := n.Flags[i]
		if c < 'a' || c > 'z' {
			other = append(other, c)
		} else if j, ok := mapping[int(c-'a')]; ok && j >= 0 && j < maxKeywords {
			kw |= 1 << j
		}
	}
	for j := 0; j < maxKeywords; j++ {
		if kw&(1<<j) != 0 {
			other = append(other, byte('a'+j))
		}
	}
	n.Flags = string(other)
	return n.String()
}

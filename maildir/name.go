package maildir

import (
	"strconv"
	"strings"
)

// Name is a parsed Maildir file name: "<base>[,S=<size>][,W=<vsize>][:2,<flags>]".
//
// Base is everything before the first "," or ":", as Dovecot has it; it stays
// the same when Dovecot renames the file. Fields other than S= and W= (and a
// second S= or W=) are kept verbatim, each with its leading ",", in Extra.
// A name whose base would be empty, or whose ":" is not followed by "2,",
// does not parse: it is all Base.
type Name struct {
	Base  string
	Size  int64  // the ,S= field: the file's size; -1 if absent
	VSize int64  // the ,W= field: size with CRLF line ends; -1 if absent
	Extra string // unrecognised ",..." fields as written
	Info  bool   // ":2," is present
	Flags string // the letters after ":2," as written
}

// ParseName parses a Maildir file name. It never fails.
func ParseName(s string) Name {
	n := Name{Base: s, Size: -1, VSize: -1}
	head, flags, info := strings.Cut(s, ":")
	if info {
		var ok bool
		if flags, ok = strings.CutPrefix(flags, "2,"); !ok {
			return n
		}
	}
	base, fields, _ := strings.Cut(head, ",")
	if base == "" {
		return n
	}
	n.Base, n.Info, n.Flags = base, info, flags
	if head == base {
		return n
	}
	for _, f := range strings.Split(fields, ",") {
		if v, ok := strings.CutPrefix(f, "S="); ok && n.Size < 0 && canonicalUint(v) {
			n.Size, _ = strconv.ParseInt(v, 10, 64)
		} else if v, ok := strings.CutPrefix(f, "W="); ok && n.VSize < 0 && canonicalUint(v) {
			n.VSize, _ = strconv.ParseInt(v, 10, 64)
		} else {
			n.Extra += "," + f
		}
	}
	return n
}

// canonicalUint reports whether s is a decimal int64 as strconv writes it, so
// that String gives back the digits that were read.
func canonicalUint(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// String assembles the file name: base, S=, W=, the Extra fields, then the
// info. It gives back exactly the string ParseName read when that string had
// its fields in this order.
func (n Name) String() string {
	var b strings.Builder
	b.WriteString(n.Base)
	if n.Size >= 0 {
		b.WriteString(",S=")
		b.WriteString(strconv.FormatInt(n.Size, 10))
	}
	if n.VSize >= 0 {
		b.WriteString(",W=")
		b.WriteString(strconv.FormatInt(n.VSize, 10))
	}
	b.WriteString(n.Extra)
	if n.Info {
		b.WriteString(":2,")
		b.WriteString(n.Flags)
	}
	return b.String()
}

// Standard returns the system flag letters (D, F, P, R, S, T and any other
// capital) in the order written.
func (n Name) Standard() string {
	var b strings.Builder
	for i := 0; i < len(n.Flags); i++ {
		if c := n.Flags[i]; c >= 'A' && c <= 'Z' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Keywords returns the indexes (a=0 … z=25) of the keyword letters in the
// order written, each once; dovecot-keywords gives their names.
func (n Name) Keywords() []int {
	var seen uint32
	var idx []int
	for i := 0; i < len(n.Flags); i++ {
		c := n.Flags[i]
		if c < 'a' || c > 'z' || seen&(1<<(c-'a')) != 0 {
			continue
		}
		seen |= 1 << (c - 'a')
		idx = append(idx, int(c-'a'))
	}
	return idx
}

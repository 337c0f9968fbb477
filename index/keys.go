package index

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Key prefixes; see doc.go for the layout of each kind of key.
const (
	prefixVersion = 'V'
	prefixArchive = 'A'
	prefixSnap    = 'S'
	prefixUser    = 'U'
	prefixFolder  = 'D'
	prefixMessage = 'M'
	prefixControl = 'C'
	prefixBlob    = 'B'
	prefixGone    = 'G'
	prefixChange  = 'X'
)

var errBadKey = errors.New("malformed index key")

// appendComp appends a string component that keeps the byte order of the
// strings it encodes: 0x00 is escaped as 00 FF and the component ends with
// 00 01. Names may hold any byte, NUL included, and still sort and split
// correctly.
func appendComp(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b = append(b, 0, 0xFF)
		} else {
			b = append(b, s[i])
		}
	}
	return append(b, 0, 1)
}

// readComp reads a component written by appendComp.
func readComp(b []byte) (string, []byte, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			out = append(out, b[i])
			continue
		}
		if i+1 >= len(b) {
			return "", nil, errBadKey
		}
		switch b[i+1] {
		case 0xFF:
			out = append(out, 0)
			i++
		case 1:
			return string(out), b[i+2:], nil
		default:
			return "", nil, errBadKey
		}
	}
	return "", nil, errBadKey
}

// appendTime appends a snapshot time (unix ns) so that keys sort by time.
func appendTime(b []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t)^(1<<63))
}

func readTime(b []byte) (int64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, errBadKey
	}
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)), b[8:], nil
}

// key builds a key from a prefix and string components.
func key(prefix byte, comps ...string) []byte {
	b := []byte{prefix}
	for _, c := range comps {
		b = appendComp(b, c)
	}
	return b
}

func archiveKey(name string) []byte { return key(prefixArchive, name) }

func snapKey(server string, t int64, group string) []byte {
	return appendComp(appendTime(key(prefixSnap, server), t), group)
}

func userKey(server, group, user string, t int64) []byte {
	return appendTime(key(prefixUser, server, group, user), t)
}

func folderKey(server, group, user string, t int64, folder string) []byte {
	return appendComp(folderPrefix(server, group, user, t), folder)
}

// folderPrefix is the prefix of every folder of one user in one snapshot.
func folderPrefix(server, group, user string, t int64) []byte {
	b := key(prefixFolder, server, group, user)
	return appendTime(b, t)
}

func listingPrefix(prefix byte, id ListingID) []byte {
	return append([]byte{prefix}, id[:]...)
}

func messageKey(id ListingID, subdir, name string) []byte {
	return appendComp(appendComp(listingPrefix(prefixMessage, id), subdir), name)
}

func controlKey(id ListingID, name string) []byte {
	return appendComp(listingPrefix(prefixControl, id), name)
}

func blobKey(h [32]byte) []byte { return append([]byte{prefixBlob}, h[:]...) }

func changeKey(id [16]byte) []byte { return append([]byte{prefixChange}, id[:]...) }

// splitComps reads n components from b.
func splitComps(b []byte, n int) ([]string, []byte, error) {
	out := make([]string, 0, n)
	for range n {
		s, rest, err := readComp(b)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %q", err, b)
		}
		out = append(out, s)
		b = rest
	}
	return out, b, nil
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// for skipping over a subtree while iterating.
func prefixEnd(p []byte) []byte {
	end := append([]byte{}, p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xFF: nothing sorts after it
}

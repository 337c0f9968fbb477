package archive

import (
	"bytes"
	"crypto/sha256"
)

// Copies of one delivery to several recipients differ only in the trace
// lines each recipient's delivery put on top (Return-Path, Delivered-To,
// Received ... for <rcpt>). A message that starts with such lines is
// stored in two parts, those lines and the rest, so that the copies share
// the rest. Splitting below the trace lines rather than between header and
// body also shares the rest of the header, and costs one small blob per
// message.
var traceFields = [][]byte{
	[]byte("return-path:"), []byte("delivered-to:"), []byte("x-original-to:"), []byte("received:"),
}

// minRest is the smallest rest worth a blob of its own.
const minRest = 512

// traceEnd returns the length of the message's leading trace lines, 0 if
// it has none or splitting would not pay.
func traceEnd(data []byte) int {
	n := 0
	for n < len(data) {
		line := data[n:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		continuation := line[0] == ' ' || line[0] == '\t'
		if !(continuation && n > 0) && !isTrace(line) {
			break
		}
		n += len(line)
	}
	if len(data)-n < minRest {
		return 0
	}
	return n
}

func isTrace(line []byte) bool {
	for _, f := range traceFields {
		if len(line) >= len(f) && bytes.EqualFold(line[:len(f)], f) {
			return true
		}
	}
	return false
}

// Piece is one blob of a message.
type Piece struct {
	Hash Hash
	Data []byte
}

// Split cuts a message into the blobs that store it and returns the
// message's Blob: the sha-256 of the bytes for a message stored whole, or
// PartsHash of its parts.
func Split(data []byte) (Hash, []Piece) {
	n := traceEnd(data)
	if n == 0 {
		h := Hash(sha256.Sum256(data))
		return h, []Piece{{h, data}}
	}
	p := []Piece{{sha256.Sum256(data[:n]), data[:n]}, {sha256.Sum256(data[n:]), data[n:]}}
	return PartsHash(p[0].Hash, p[1].Hash), p
}

// Identities returns the hashes a message with these bytes may be recorded
// under: its Blob as Split gives it and the sha-256 of its bytes. A restore
// that finds either in a folder knows the message is there already.
func Identities(data []byte) [][32]byte {
	h, parts := Split(data)
	if len(parts) == 1 {
		return [][32]byte{h}
	}
	return [][32]byte{h, sha256.Sum256(data)}
}

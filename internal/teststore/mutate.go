package teststore

import (
	"bytes"
	"math/rand/v2"
)

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

var defaultVocab = [][]byte{
	[]byte("message"), []byte("please"), []byte("would"), []byte("there"), []byte("about"),
	[]byte("which"), []byte("their"), []byte("information"), []byte("email"), []byte("people"),
	[]byte("could"), []byte("because"), []byte("other"),
}

// mutateBody returns a lightly changed copy of a body, for a corpus message
// delivered again: about 15 % of its plain lower-case words are swapped for
// other words of the same body, and base64 lines are re-enciphered with a
// permuted alphabet (they stay valid base64). MIME part headers, boundaries
// and header-like lines are kept, so the structure stays intact.
func mutateBody(rng *rand.Rand, body []byte) []byte {
	lines := bytes.SplitAfter(body, []byte("\n"))
	var vocab [][]byte
	for _, l := range lines {
		eachWord(l, func(i, j int) { vocab = append(vocab, l[i:j]) })
	}
	if len(vocab) < 5 {
		vocab = defaultVocab
	}
	perm := rng.Perm(64)
	var tab [256]byte
	for i := range tab {
		tab[i] = byte(i)
	}
	for i, p := range perm {
		tab[b64Alphabet[i]] = b64Alphabet[p]
	}

	out := make([]byte, 0, len(body)+len(body)/16)
	inPartHeader := false
	for _, l := range lines {
		content := bytes.TrimRight(l, "\r\n")
		switch {
		case inPartHeader:
			if len(bytes.TrimSpace(content)) == 0 {
				inPartHeader = false
			}
			out = append(out, l...)
		case bytes.HasPrefix(l, []byte("--")):
			inPartHeader = true
			out = append(out, l...)
		case isBase64Line(content):
			for _, c := range l {
				out = append(out, tab[c])
			}
		case isHeaderLike(content) || bytes.Contains(bytes.ToLower(content), []byte("boundary")):
			out = append(out, l...)
		default:
			last := 0
			eachWord(l, func(i, j int) {
				if rng.Float64() < 0.15 {
					out = append(out, l[last:i]...)
					out = append(out, vocab[rng.IntN(len(vocab))]...)
					last = j
				}
			})
			out = append(out, l[last:]...)
		}
	}
	return out
}

// eachWord calls f for each plain word of a line: four or more lower-case
// ASCII letters, after a blank or the line start, before a blank, the line
// end or sentence punctuation (so not in URLs, addresses, markup or
// quoted-printable codes).
func eachWord(l []byte, f func(i, j int)) {
	isLower := func(c byte) bool { return c >= 'a' && c <= 'z' }
	isLetter := func(c byte) bool { return isLower(c) || c >= 'A' && c <= 'Z' || c >= 0x80 }
	for i := 0; i < len(l); {
		if !isLetter(l[i]) {
			i++
			continue
		}
		j := i
		for j < len(l) && isLetter(l[j]) {
			j++
		}
		before := i == 0 || l[i-1] == ' ' || l[i-1] == '\t'
		after := j == len(l) || bytes.IndexByte([]byte(" \t\r\n.,;!?"), l[j]) >= 0
		lower := true
		for _, c := range l[i:j] {
			lower = lower && isLower(c)
		}
		if before && after && lower && j-i >= 4 {
			f(i, j)
		}
		i = j
	}
}

func isBase64Line(l []byte) bool {
	t := bytes.TrimRight(l, "=")
	if len(t) < 40 {
		return false
	}
	for _, c := range t {
		if bytes.IndexByte([]byte(b64Alphabet), c) < 0 {
			return false
		}
	}
	return true
}

// isHeaderLike says whether a line looks like "Name: value".
func isHeaderLike(l []byte) bool {
	for i, c := range l {
		switch {
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-'):
		case i > 0 && c == ':':
			return i+1 < len(l) && (l[i+1] == ' ' || l[i+1] == '\t')
		default:
			return false
		}
	}
	return false
}

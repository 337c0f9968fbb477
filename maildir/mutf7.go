package maildir

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3): printable ASCII stands for itself except
// "&", which is "&-"; anything else is UTF-16BE in base64 with "," for "/",
// no padding, between "&" and "-".
const mutf7Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

// mutf7Value maps a byte to its value in mutf7Alphabet, or -1.
var mutf7Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(mutf7Alphabet); i++ {
		t[mutf7Alphabet[i]] = int8(i)
	}
	return t
}()

// direct reports whether r is written as itself.
func direct(r rune) bool { return r >= 0x20 && r <= 0x7e }

// EncodeMUTF7 encodes s in modified UTF-7. Invalid UTF-8 in s is encoded as
// U+FFFD, so only valid UTF-8 survives a round trip.
func EncodeMUTF7(s string) string {
	var b strings.Builder
	var units []uint16
	flush := func() {
		if len(units) == 0 {
			return
		}
		b.WriteByte('&')
		var acc uint32
		nbits := 0
		for _, u := range units {
			acc = acc<<16 | uint32(u)
			nbits += 16
			for nbits >= 6 {
				nbits -= 6
				b.WriteByte(mutf7Alphabet[(acc>>nbits)&0x3f])
			}
		}
		if nbits > 0 {
			b.WriteByte(mutf7Alphabet[(acc<<(6-nbits))&0x3f])
		}
		b.WriteByte('-')
		units = units[:0]
	}
	for _, r := range s {
		if direct(r) {
			flush()
			b.WriteRune(r)
			if r == '&' {
				b.WriteByte('-')
			}
			continue
		}
		units = utf16.AppendRune(units, r)
	}
	flush()
	return b.String()
}

// DecodeMUTF7 decodes modified UTF-7. It accepts only the canonical form
// EncodeMUTF7 produces (no encoded printable ASCII, no padding bits, no two
// encoded runs back to back), so a name decodes to one string and encodes
// back to the same bytes.
func DecodeMUTF7(s string) (string, error) {
	var b strings.Builder
	shiftEnd := -1 // index just after the last encoded run
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("invalid modified utf-7 %q: byte 0x%02x at offset %d", s, c, i)
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		n := strings.IndexByte(s[i+1:], '-')
		if n < 0 {
			return "", fmt.Errorf("invalid modified utf-7 %q: \"&\" at offset %d has no closing \"-\"", s, i)
		}
		run := s[i+1 : i+1+n]
		if run == "" {
			b.WriteByte('&')
			i += 2
			continue
		}
		if i == shiftEnd {
			return "", fmt.Errorf("invalid modified utf-7 %q: encoded runs at offset %d should be one", s, i)
		}
		if err := decodeRun(&b, run); err != nil {
			return "", fmt.Errorf("invalid modified utf-7 %q at offset %d: %w", s, i, err)
		}
		i += n + 2
		shiftEnd = i
	}
	return b.String(), nil
}

// decodeRun appends the UTF-8 form of one base64 run (without "&" and "-").
func decodeRun(b *strings.Builder, run string) error {
	var acc uint32
	nbits := 0
	var units []uint16
	for i := 0; i < len(run); i++ {
		v := mutf7Value[run[i]]
		if v < 0 {
			return fmt.Errorf("%q is not a base64 character", run[i])
		}
		acc = acc<<6 | uint32(v)
		nbits += 6
		if nbits >= 16 {
			nbits -= 16
			units = append(units, uint16(acc>>nbits))
			acc &= 1<<nbits - 1
		}
	}
	if nbits >= 6 || acc != 0 {
		return fmt.Errorf("base64 run %q has stray bits", run)
	}
	for i := 0; i < len(units); i++ {
		r := rune(units[i])
		switch {
		case utf16.IsSurrogate(r) && r < 0xdc00 && i+1 < len(units):
			r = utf16.DecodeRune(r, rune(units[i+1]))
			i++
			if r == utf8.RuneError {
				return fmt.Errorf("base64 run %q has a broken surrogate pair", run)
			}
		case utf16.IsSurrogate(r):
			return fmt.Errorf("base64 run %q has a lone surrogate", run)
		case direct(r):
			return fmt.Errorf("base64 run %q encodes printable ascii %q", run, r)
		}
		b.WriteRune(r)
	}
	return nil
}

package archive

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// enc appends the primitive encodings of the format to b.
type enc struct{ b []byte }

func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) u64(v uint64)     { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) fixed(p []byte)   { e.b = append(e.b, p...) }

func (e *enc) bytes(p []byte) {
	e.uvarint(uint64(len(p)))
	e.b = append(e.b, p...)
}

func (e *enc) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// begin starts a structure of n fields and returns where its body starts;
// end then puts the body's length in front of the body. The length lets a
// reader skip fields added by later versions.
func (e *enc) begin(n int) int {
	e.uvarint(uint64(n))
	return len(e.b)
}

func (e *enc) end(start int) {
	n := len(e.b) - start
	var tmp [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(tmp[:], uint64(n))
	e.b = append(e.b, tmp[:l]...)
	copy(e.b[start+l:], e.b[start:start+n])
	copy(e.b[start:], tmp[:l])
}

// dec reads what enc wrote. The first error sticks and later reads return
// zero values, so a decoder reads straight through and checks err once.
// Every length and count is checked against the bytes left.
type dec struct {
	b    []byte
	off  int    // offset of b[0] in the decoded item
	what string // the decoded item and where it is, for messages
	err  error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corruptf("%s, byte %d: %s", d.what, d.off, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

func (d *dec) take(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("%s of %d bytes overruns the %d bytes left", what, n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	d.off += int(n)
	return p
}

// uvarint accepts only the shortest encoding, so that an encoding has one
// form and decode-encode round trips are byte-exact.
func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if n != (bits.Len64(v|1)+6)/7 {
		d.fail("varint not in shortest form")
		return 0
	}
	d.b = d.b[n:]
	d.off += n
	return v
}

func (d *dec) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *dec) u32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("%d does not fit 32 bits", v)
	}
	return uint32(v)
}

func (d *dec) u16() uint16 {
	v := d.uvarint()
	if v > math.MaxUint16 {
		d.fail("%d does not fit 16 bits", v)
	}
	return uint16(v)
}

func (d *dec) u64() uint64 {
	p := d.take(8, "u64")
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (d *dec) fixed(dst []byte) { copy(dst, d.take(uint64(len(dst)), "fixed field")) }

// bytes returns a copy, so that a decoded value never aliases a cached
// frame; empty decodes as nil.
func (d *dec) bytes() []byte {
	p := d.take(d.uvarint(), "byte string")
	if len(p) == 0 {
		return nil
	}
	return bytes.Clone(p)
}

func (d *dec) str() string { return string(d.take(d.uvarint(), "string")) }

// count reads a list length, each element taking at least min bytes.
func (d *dec) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.fail("count %d exceeds what the %d bytes left can hold", n, len(d.b))
		return 0
	}
	return int(n)
}

// done reports trailing bytes as corruption.
func (d *dec) done() {
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d unexpected bytes at the end", len(d.b))
	}
}

// fields reads the fields of one structure in order. A structure is
// encoded as its field count, its body length and the body. Fields beyond
// the count (written by an older version) read as zero values; fields
// beyond those this reader knows (a newer version) are skipped by end.
type fields struct {
	d    dec    // over the body
	left uint64 // fields written but not read yet
}

func (d *dec) begin() fields {
	n := d.uvarint()
	l := d.uvarint()
	off := d.off
	body := d.take(l, "structure")
	if d.err == nil && n > l {
		d.fail("%d fields in %d bytes", n, l)
	}
	return fields{d: dec{b: body, off: off, what: d.what, err: d.err}, left: n}
}

func (d *dec) end(s *fields) {
	if s.left == 0 {
		s.d.done()
	}
	if d.err == nil && s.d.err != nil {
		d.err = s.d.err
		d.b = nil
	}
}

func (s *fields) next() bool {
	if s.left == 0 || s.d.err != nil {
		return false
	}
	s.left--
	return true
}

func (s *fields) str() string {
	if !s.next() {
		return ""
	}
	return s.d.str()
}

func (s *fields) bytes() []byte {
	if !s.next() {
		return nil
	}
	return s.d.bytes()
}

func (s *fields) u16() uint16 {
	if !s.next() {
		return 0
	}
	return s.d.u16()
}

func (s *fields) u32() uint32 {
	if !s.next() {
		return 0
	}
	return s.d.u32()
}

func (s *fields) uvarint() uint64 {
	if !s.next() {
		return 0
	}
	return s.d.uvarint()
}

func (s *fields) varint() int64 {
	if !s.next() {
		return 0
	}
	return s.d.varint()
}

func (s *fields) u64() uint64 {
	if !s.next() {
		return 0
	}
	return s.d.u64()
}

func (s *fields) fixed(dst []byte) {
	if s.next() {
		s.d.fixed(dst)
	}
}

// decodeList reads a list field whose elements take at least min bytes each;
// an empty list decodes as nil.
func decodeList[T any](s *fields, min int, elem func(*dec, *T)) []T {
	if !s.next() {
		return nil
	}
	n := s.d.count(min)
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		elem(&s.d, &out[i])
	}
	if s.d.err != nil {
		return nil
	}
	return out
}

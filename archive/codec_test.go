package archive

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func testMessage() Message {
	return Message{Subdir: "cur", Name: "1.M1P1.host,S=5:2,S", Size: 5, Mtime: -7, Mode: 0o600, UID: 42,
		Blob: Hash{1, 2, 3}, Link: 1<<64 - 1, Nlink: 2}
}

// encodeFirst writes the first n fields of m, as a version that knew only
// those would, then extra fields a later version might have added.
func encodeFirst(m *Message, n int, extra ...string) []byte {
	var e enc
	s := e.begin(n + len(extra))
	all := []func(){
		func() { e.str(m.Subdir) }, func() { e.str(m.Name) }, func() { e.varint(m.Size) },
		func() { e.varint(m.Mtime) }, func() { e.uvarint(uint64(m.Mode)) }, func() { e.uvarint(uint64(m.UID)) },
		func() {
			if len(m.Parts) > 0 {
				e.fixed(make([]byte, 32)) // implied by the parts
			} else {
				e.fixed(m.Blob[:])
			}
		}, func() { e.u64(m.Link) }, func() { e.uvarint(uint64(m.Nlink)) },
		func() {
			e.uvarint(uint64(len(m.Parts)))
			for _, p := range m.Parts {
				e.fixed(p[:])
			}
		},
	}
	for _, f := range all[:n] {
		f()
	}
	for _, x := range extra {
		e.str(x)
	}
	e.end(s)
	return e.b
}

func decodeMessageBytes(b []byte) (Message, error) {
	var m Message
	d := dec{b: b, what: "test"}
	decodeMessage(&d, &m)
	d.done()
	return m, d.err
}

func TestFieldCompatibility(t *testing.T) {
	m := testMessage()
	var e enc
	encodeMessage(&e, &m)
	if !bytes.Equal(e.b, encodeFirst(&m, messageFields-1)) {
		t.Fatal("encodeFirst does not match encodeMessage")
	}

	// A newer writer appended fields: they are skipped.
	got, err := decodeMessageBytes(encodeFirst(&m, messageFields, "new field", "another"))
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("newer encoding: %+v, %v", got, err)
	}
	// An older writer wrote fewer fields: the rest are zero.
	got, err = decodeMessageBytes(encodeFirst(&m, 6))
	want := m
	want.Blob, want.Link, want.Nlink = Hash{}, 0, 0
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("older encoding: %+v, %v", got, err)
	}
	// A message stored in parts writes the tenth field, and its Blob is
	// the hash of the parts.
	m.Parts = []Hash{{1}, {2}}
	m.Blob = PartsHash(m.Parts...)
	e = enc{}
	encodeMessage(&e, &m)
	if !bytes.Equal(e.b, encodeFirst(&m, messageFields)) {
		t.Fatal("encodeFirst does not match encodeMessage with parts")
	}
	if got, err := decodeMessageBytes(e.b); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("parts: %+v, %v", got, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	m := testMessage()
	good := encodeFirst(&m, messageFields)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"cut short", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"byte after the last field", func() []byte { b := bytes.Clone(good); b[1]++; return append(b, 0) }()},
		{"non-minimal varint", append([]byte{0x89, 0x00}, good[1:]...)},
		{"huge body length", []byte{9, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"more fields than bytes", []byte{5, 2, 0, 0}},
		{"string past the end", []byte{1, 2, 0x7f, 'a'}},
	} {
		if _, err := decodeMessageBytes(tc.b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", tc.name, err)
		}
	}

	var e enc
	s := e.begin(2)
	e.str("user")
	e.uvarint(1 << 40) // a count no input of this size can hold
	e.end(s)
	var f Folder
	d := dec{b: e.b, what: "test"}
	decodeFolder(&d, &f)
	if !errors.Is(d.err, ErrCorrupt) {
		t.Errorf("absurd count: err %v", d.err)
	}

	e = enc{}
	s = e.begin(5)
	for range 4 {
		e.str("")
	}
	e.uvarint(1 << 33) // UIDValidity
	e.end(s)
	d = dec{b: e.b, what: "test"}
	decodeFolder(&d, &f)
	if !errors.Is(d.err, ErrCorrupt) {
		t.Errorf("u32 overflow: err %v", d.err)
	}
}

func TestFolderEncoding(t *testing.T) {
	for _, f := range makeContent(12, 4, 3).folders {
		var e enc
		encodeFolder(&e, f)
		var got Folder
		d := dec{b: e.b, what: "test"}
		decodeFolder(&d, &got)
		d.done()
		if d.err != nil || !reflect.DeepEqual(&got, f) {
			t.Fatalf("folder round trip: %v\n got %+v\nwant %+v", d.err, got, f)
		}
	}
}

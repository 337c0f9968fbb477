package maildir

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// UIDList is a parsed dovecot-uidlist file.
type UIDList struct {
	Version     int    // 1 or 3
	UIDValidity uint32 // header V
	NextUID     uint32 // max(header N, last UID + 1): the header can be stale
	GUID        string // header G, the mailbox GUID in hex; "" in version 1
	Header      string // the header line as written
	Records     []UIDRecord

	byBase map[string]uint32 // built by ParseUIDList; read-only after
}

// UIDRecord is one message line of dovecot-uidlist.
type UIDRecord struct {
	UID  uint32
	Ext  string // extension fields as written, e.g. "W2345 S2300"; "" if none
	Base string // the file name after ":", which may carry ,S= and ,W=
}

// ParseUIDList parses dovecot-uidlist, version 3 ("3 V<uidvalidity>
// N<nextuid> G<guid> ...", records "<uid> [ext ...] :<file name>") or version 1
// ("1 <uidvalidity> <nextuid>", records "<uid> <file name>"). UIDs must rise
// strictly, as Dovecot writes them.
func ParseUIDList(data []byte) (*UIDList, error) {
	lines := splitLines(data)
	if len(lines) == 0 {
		return nil, errors.New("dovecot-uidlist: empty file")
	}
	u := &UIDList{Header: lines[0]}
	if err := u.parseHeader(lines[0]); err != nil {
		return nil, fmt.Errorf("dovecot-uidlist line 1: %w", err)
	}
	u.Records = make([]UIDRecord, 0, len(lines)-1)
	u.byBase = make(map[string]uint32, len(lines)-1)
	var last uint32
	for i, line := range lines[1:] {
		r, err := parseRecord(line, u.Version)
		if err == nil && r.UID <= last {
			err = fmt.Errorf("uid %d after %d: uids must rise", r.UID, last)
		}
		if err != nil {
			return nil, fmt.Errorf("dovecot-uidlist line %d: %w", i+2, err)
		}
		last = r.UID
		u.Records = append(u.Records, r)
		if b := baseOf(r.Base); u.byBase[b] == 0 {
			u.byBase[b] = r.UID
		}
	}
	u.NextUID = max(u.NextUID, last+1)
	return u, nil
}

func (u *UIDList) parseHeader(line string) error {
	f := strings.Split(line, " ")
	switch f[0] {
	case "1":
		if len(f) != 3 {
			return fmt.Errorf("version 1 header %q: want \"1 <uidvalidity> <nextuid>\"", line)
		}
		var err error
		if u.UIDValidity, err = parseUID(f[1]); err != nil {
			return fmt.Errorf("uidvalidity: %w", err)
		}
		if u.NextUID, err = parseUID(f[2]); err != nil {
			return fmt.Errorf("next uid: %w", err)
		}
		u.Version = 1
		return nil
	case "3":
		var haveV, haveN bool
		for _, kv := range f[1:] {
			if kv == "" {
				return fmt.Errorf("header %q: empty field", line)
			}
			var err error
			switch kv[0] {
			case 'V':
				u.UIDValidity, err = parseUID(kv[1:])
				haveV = true
			case 'N':
				u.NextUID, err = parseUID(kv[1:])
				haveN = true
			case 'G':
				u.GUID = kv[1:]
			} // other fields are Dovecot's business; Header keeps them
			if err != nil {
				return fmt.Errorf("header field %q: %w", kv, err)
			}
		}
		if !haveV || !haveN {
			return fmt.Errorf("header %q: V and N are required", line)
		}
		u.Version = 3
		return nil
	}
	return fmt.Errorf("header %q: unsupported version %q (want 1 or 3)", line, f[0])
}

func parseRecord(line string, version int) (UIDRecord, error) {
	uid, rest, ok := strings.Cut(line, " ")
	if !ok {
		return UIDRecord{}, fmt.Errorf("record %q: no file name", line)
	}
	var r UIDRecord
	var err error
	if r.UID, err = parseUID(uid); err != nil {
		return UIDRecord{}, fmt.Errorf("record %q: %w", line, err)
	}
	if r.UID == math.MaxUint32 {
		return UIDRecord{}, fmt.Errorf("record %q: uid leaves no next uid", line)
	}
	if version == 1 {
		r.Base = rest
	} else if strings.HasPrefix(rest, ":") {
		r.Base = rest[1:]
	} else if ext, name, ok := strings.Cut(rest, " :"); ok {
		r.Ext, r.Base = ext, name
	} else {
		return UIDRecord{}, fmt.Errorf("record %q: no \" :\" before the file name", line)
	}
	if r.Base == "" {
		return UIDRecord{}, fmt.Errorf("record %q: empty file name", line)
	}
	return r, nil
}

// parseUID parses a nonzero decimal uint32.
func parseUID(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("%q is not a number from 1 to %d", s, uint32(math.MaxUint32))
	}
	return uint32(v), nil
}

// Lookup returns the UID of the message with the given base (see Name), or
// false. Records are matched on the base of their file names, so a record
// written before Dovecot added ,S= to a name still matches. If two records
// share a base, the first wins.
func (u *UIDList) Lookup(base string) (uint32, bool) {
	if u.byBase == nil { // a UIDList built by hand, not parsed
		for _, r := range u.Records {
			if baseOf(r.Base) == base {
				return r.UID, true
			}
		}
		return 0, false
	}
	uid, ok := u.byBase[base]
	return uid, ok
}

// baseOf returns a file name's base: everything before the first "," or ":".
// It is what Dovecot keys messages by.
func baseOf(name string) string {
	if i := strings.IndexAny(name, ",:"); i >= 0 {
		return name[:i]
	}
	return name
}

// splitLines splits a control file into lines. The final newline ends the
// last line; a file without one is taken as if it had it.
func splitLines(data []byte) []string {
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// BaseName is a message file name without its size and info parts
// (",S=…:2,flags"): what stays the same when Dovecot renames the file.
func BaseName(name string) string { return baseOf(name) }

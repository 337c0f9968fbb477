package maildir

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// NewUIDList makes an empty version 3 uidlist for a folder that has none:
// the given UIDVALIDITY (the current unix time, as Dovecot picks it), next
// UID 1 and a random mailbox GUID.
func NewUIDList(uidValidity uint32) *UIDList {
	var g [16]byte
	rand.Read(g[:])
	u := &UIDList{Version: 3, UIDValidity: uidValidity, NextUID: 1, GUID: hex.EncodeToString(g[:]), byBase: map[string]uint32{}}
	u.Header = u.renderHeader()
	return u
}

// Append adds a record for a message file with the next UID and raises
// NextUID. As Dovecot does, the record keeps the file name without its
// ":2,<flags>" part, which changes with the flags. Header is not updated;
// Render writes a fresh one.
func (u *UIDList) Append(filename string) (uint32, error) {
	if u.NextUID == 0 || u.NextUID == math.MaxUint32 {
		return 0, fmt.Errorf("dovecot-uidlist: next uid %d leaves no uid to give", u.NextUID)
	}
	head, _, _ := strings.Cut(filename, ":")
	if head == "" || strings.ContainsAny(head, "\n\x00") {
		return 0, fmt.Errorf("dovecot-uidlist: %q is not a message file name", filename)
	}
	uid := u.NextUID
	u.Records = append(u.Records, UIDRecord{UID: uid, Base: head})
	u.NextUID++
	if b := baseOf(head); u.byBase != nil && u.byBase[b] == 0 {
		u.byBase[b] = uid
	}
	return uid, nil
}

// Render writes the list in Dovecot's version 3 format: the header
// "3 V<uidvalidity> N<nextuid> G<guid>" followed by the other fields of the
// header as read, then one "<uid> [<ext>] :<file name>" line per record.
// ParseUIDList gives back the same list (with a version 1 list turned into
// version 3).
func (u *UIDList) Render() []byte {
	var b strings.Builder
	b.WriteString(u.renderHeader())
	b.WriteByte('\n')
	for _, r := range u.Records {
		b.WriteString(strconv.FormatUint(uint64(r.UID), 10))
		if r.Ext != "" {
			b.WriteByte(' ')
			b.WriteString(r.Ext)
		}
		b.WriteString(" :")
		b.WriteString(r.Base)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func (u *UIDList) renderHeader() string {
	h := fmt.Sprintf("3 V%d N%d", u.UIDValidity, u.NextUID)
	if u.GUID != "" {
		h += " G" + u.GUID
	}
	for _, f := range headerExtras(u.Header) {
		h += " " + f
	}
	return h
}

// headerExtras returns the fields of a version 3 header other than the
// version, V, N and G: Dovecot's own, to be kept as they were.
func headerExtras(header string) []string {
	f := strings.Split(header, " ")
	if f[0] != "3" {
		return nil
	}
	var extra []string
	for _, kv := range f[1:] {
		if kv != "" && !strings.ContainsAny(kv[:1], "VNG") {
			extra = append(extra, kv)
		}
	}
	return extra
}

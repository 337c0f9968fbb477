package fs

import (
	"sort"

	"github.com/mailvault/mailvault/index"
	"github.com/mailvault/mailvault/maildir"
)

// synthUIDList writes the dovecot-uidlist a mounted folder shows: the
// backed-up one brought in line with the backed-up messages. Dovecot
// appends records and rewrites the header only now and then, so a copy
// taken from a live store often has a stale next UID; Dovecot would want to
// fix that under a lock, which it cannot take on the mount. The result has
// the same UIDVALIDITY, GUID and UIDs, one record per message that had a
// UID, and a next UID above all of them.
func synthUIDList(orig []byte, f *index.Folder, msgs []index.Message) []byte {
	u, err := maildir.ParseUIDList(orig)
	if err != nil {
		u = &maildir.UIDList{Version: 3}
	}
	u.UIDValidity, u.GUID = f.UIDValidity, f.GUID
	ext := map[uint32]string{}
	for _, r := range u.Records {
		ext[r.UID] = r.Ext
	}
	u.Records = u.Records[:0]
	next := max(u.NextUID, f.NextUID, 1)
	for _, m := range msgs {
		if m.UID == 0 {
			continue
		}
		base := maildir.ParseName(m.Name)
		base.Info, base.Flags = false, ""
		u.Records = append(u.Records, maildir.UIDRecord{UID: m.UID, Ext: ext[m.UID], Base: base.String()})
		next = max(next, m.UID+1)
	}
	sort.Slice(u.Records, func(i, j int) bool { return u.Records[i].UID < u.Records[j].UID })
	u.NextUID = next
	return u.Render()
}

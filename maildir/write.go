package maildir

import (
	"io"
	"strings"
	"time"
)

// writeNew writes r to name in d by way of a temp file in scratch. A nil r
// makes an empty file. An existing name is ErrExists. Unless durable, the
// caller syncs the file system afterwards.
func writeNew(scratch, d dir, name string, r io.Reader, mtime int64, o Owner, durable bool) error {
	if r == nil {
		r = strings.NewReader("")
	}
	t, err := createTemp(scratch)
	if err != nil {
		return err
	}
	defer t.discard()
	if _, err := t.write(r, mtime, o, durable); err != nil {
		return err
	}
	return t.place(d, name, !durable)
}

func nowNano() int64 { return time.Now().UnixNano() }

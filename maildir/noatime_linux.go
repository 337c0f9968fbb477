package maildir

import "syscall"

// oNOATIME keeps a backup from updating every message's atime.
const oNOATIME = syscall.O_NOATIME

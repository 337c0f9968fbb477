//go:build !linux

package maildir

// oNOATIME is Linux-only; elsewhere atime is updated as usual.
const oNOATIME = 0

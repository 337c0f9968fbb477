//go:build !linux

package maildir

// moveNoReplace renames a file without ever replacing one: EEXIST if toName
// is taken.
func moveNoReplace(from dir, fromName string, to dir, toName string) error {
	return linkNoReplace(from, fromName, to, toName)
}

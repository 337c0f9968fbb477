package maildir

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// ContentHashes returns the SHA-256 of every message file of the folder as
// scanned, mapped to the file's base, so a restore can skip a message the
// folder holds already under any name. Files are streamed, not held in
// memory; a file renamed since the scan is found
// under its new name, one expunged is left out.
func (f *Folder) ContentHashes() (map[[32]byte]string, error) {
	sums := make(map[[32]byte]string, len(f.Messages))
	for _, m := range f.Messages {
		sum, err := hashFile(filepath.Join(f.Path, m.Subdir, m.Name))
		if notExist(err) { // renamed for new flags, or expunged
			next, ok := f.relook.find(f.Path, baseOf(m.Name), m)
			if !ok {
				continue
			}
			if sum, err = hashFile(filepath.Join(f.Path, next.Subdir, next.Name)); notExist(err) {
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		if _, dup := sums[sum]; !dup {
			sums[sum] = baseOf(m.Name)
		}
	}
	return sums, nil
}

// ContentHashes is Folder.ContentHashes for a folder directory not scanned
// yet, such as a restore's target: it lists cur/ and new/ first.
func ContentHashes(folder string) (map[[32]byte]string, error) {
	msgs, _, _, problems := listMessages(folder)
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	f := &Folder{Path: folder, Messages: msgs}
	return f.ContentHashes()
}

func hashFile(path string) ([32]byte, error) {
	file, _, err := openFile(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer file.Close()
	h := sha256.New()
	if _, err := io.Copy(h, file); err != nil {
		return [32]byte{}, fmt.Errorf("%s: %w", path, err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}

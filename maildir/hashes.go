package maildir

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// ContentHashes returns the hashes ids gives for the bytes of every message
// file of the folder as scanned, each mapped to the file's base, so a
// restore can skip a message the folder holds already under any name. A
// file renamed since the scan is found under its new name, one expunged is
// left out.
func (f *Folder) ContentHashes(ids func([]byte) [][32]byte) (map[[32]byte]string, error) {
	sums := make(map[[32]byte]string, len(f.Messages))
	for _, m := range f.Messages {
		hs, err := hashFile(filepath.Join(f.Path, m.Subdir, m.Name), ids)
		if notExist(err) { // renamed for new flags, or expunged
			next, ok := f.relook.find(f.Path, baseOf(m.Name), m)
			if !ok {
				continue
			}
			if hs, err = hashFile(filepath.Join(f.Path, next.Subdir, next.Name), ids); notExist(err) {
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		for _, sum := range hs {
			if _, dup := sums[sum]; !dup {
				sums[sum] = baseOf(m.Name)
			}
		}
	}
	return sums, nil
}

// ContentHashes is Folder.ContentHashes for a folder directory not scanned
// yet, such as a restore's target: it lists cur/ and new/ first.
func ContentHashes(folder string, ids func([]byte) [][32]byte) (map[[32]byte]string, error) {
	msgs, _, _, _, problems := listMessages(folder, 0)
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	f := &Folder{Path: folder, Messages: msgs}
	return f.ContentHashes(ids)
}

func hashFile(path string, ids func([]byte) [][32]byte) ([][32]byte, error) {
	file, _, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ids(data), nil
}

//go:build !linux

package maildir

// readFile reads a whole file, opened as openFile opens it.
func readFile(path string, limit int64) ([]byte, fileStat, error) {
	f, fi, err := openFile(path)
	if err != nil {
		return nil, fileStat{}, err
	}
	defer f.Close()
	data, err := readAll(f, fi.Size(), limit)
	if err != nil {
		return nil, fileStat{}, err
	}
	return data, statOf(fi), nil
}

// willRead does nothing here.
func willRead(path string) {}

package maildir

import (
	"fmt"
	"strconv"
	"strings"
)

// maxKeywords is the number of keyword letters, a to z.
const maxKeywords = 26

// ParseKeywords parses dovecot-keywords, lines of "<index> <keyword>". The
// result's element i names keyword letter 'a'+i; unused indexes are "".
func ParseKeywords(data []byte) ([]string, error) {
	var kw []string
	for i, line := range splitLines(data) {
		num, name, ok := strings.Cut(line, " ")
		idx, err := strconv.Atoi(num)
		switch {
		case !ok || name == "":
			err = fmt.Errorf("%q: want \"<index> <keyword>\"", line)
		case err != nil || idx < 0 || idx >= maxKeywords || num != strconv.Itoa(idx):
			err = fmt.Errorf("%q: index must be 0 to %d", line, maxKeywords-1)
		case idx < len(kw) && kw[idx] != "":
			err = fmt.Errorf("%q: index %d given twice", line, idx)
		}
		if err != nil {
			return nil, fmt.Errorf("dovecot-keywords line %d: %w", i+1, err)
		}
		for len(kw) <= idx {
			kw = append(kw, "")
		}
		kw[idx] = name
	}
	return kw, nil
}

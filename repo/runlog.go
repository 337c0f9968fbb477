package repo

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The log (REPO/logs/backup.log) is what an operator reads every morning:
// one line per event, each with its time and the id of its run, so runs
// that share the repository (two groups backed up at once) can interleave
// and still be told apart:
//
//	2026-12-03T02:30:00Z 5a3239c1 START backup server=mail1 scope=/staff kind=incremental mode=unattended
//	2026-12-03T02:30:04Z 5a3239c1 ERROR mail1/staff/alice@example.org/INBOX/cur/…: permission denied
//	2026-12-03T02:31:10Z 5a3239c1 END PARTIAL BACKUP completed | … (1 messages not backed up: …)
//
// Lines of older versions, without a run id, are read as runs in order.

// RunLog writes one run's lines.
type RunLog struct {
	l  Layout
	ID string
}

// StartRun appends the START line of a run of command with its fields
// ("server=mail1", …) and returns the run's log.
func (l Layout) StartRun(command string, fields ...string) (*RunLog, error) {
	var b [4]byte
	rand.Read(b[:])
	r := &RunLog{l: l, ID: hex.EncodeToString(b[:])}
	return r, r.write("START " + strings.Join(append([]string{command}, fields...), " "))
}

// Event appends a line of the run: word is ERROR, WARN, HOOK, DAMAGED … and
// text what it says; newlines in it become spaces.
func (r *RunLog) Event(word, text string) error { return r.write(word + " " + oneLine(text)) }

// End appends the run's verdict, e.g. "FULL BACKUP completed successfully
// | …"; a run has one.
func (r *RunLog) End(verdict string) error { return r.write("END " + oneLine(verdict)) }

func (r *RunLog) write(text string) error {
	if r == nil {
		return nil
	}
	return r.l.AppendLog(time.Now().UTC().Format(time.RFC3339) + " " + r.ID + " " + text)
}

func oneLine(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r", ""), "\n", " ") }

// Run is one run as the log tells it.
type Run struct {
	ID      string            `json:"id,omitempty"`
	Command string            `json:"command"` // backup, verify
	Fields  map[string]string `json:"fields,omitempty"`
	Start   time.Time         `json:"start"`
	End     time.Time         `json:"end,omitzero"`
	// Status is the verdict's first word: FULL, PARTIAL, FAILED (from
	// "BACKUP FAILED"), OK, DAMAGE …, or UNFINISHED for a run with no END
	// line (still running, or killed).
	Status  string  `json:"status"`
	Verdict string  `json:"verdict,omitempty"`
	Events  []Event `json:"events,omitempty"`

	line int // the log line of its START, from 0
}

// Event is a line of a run between its START and END.
type Event struct {
	Time time.Time `json:"time"`
	Word string    `json:"word"`
	Text string    `json:"text"`
}

// Runs reads the log, oldest run first.
func (l Layout) Runs() ([]Run, error) {
	f, err := os.Open(l.logPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseRuns(f)
}

func (l Layout) logPath() string { return filepath.Join(l.Logs(), "backup.log") }

func parseRuns(f *os.File) ([]Run, error) {
	var runs []Run
	open := map[string]int{} // run id → index in runs of its unfinished run
	last := -1               // the run that lines without an id belong to
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 0; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "  ") { // an event line of the older format
			if last >= 0 {
				word, text, _ := strings.Cut(strings.TrimSpace(line), " ")
				runs[last].Events = append(runs[last].Events, Event{Time: runs[last].Start, Word: word, Text: text})
			}
			continue
		}
		ts, rest, _ := strings.Cut(line, " ")
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			continue // not a line of ours: leave it
		}
		id, body := "", rest
		if w, after, ok := strings.Cut(rest, " "); ok && isRunID(w) {
			id, body = w, after
		}
		word, text, _ := strings.Cut(body, " ")
		i, ok := open[id]
		if id == "" {
			i, ok = last, last >= 0 && runs[last].Status == "UNFINISHED"
		}
		switch {
		case word == "START":
			cmd, fields, _ := strings.Cut(text, " ")
			r := Run{ID: id, Command: cmd, Fields: map[string]string{}, Start: t, Status: "UNFINISHED", line: n}
			for _, kv := range strings.Fields(fields) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					r.Fields[k] = v
				}
			}
			runs = append(runs, r)
			last = len(runs) - 1
			if id != "" {
				open[id] = last
			}
		case id == "" && word != "END": // an old-format verdict line
			if !ok {
				runs = append(runs, Run{Command: verdictCommand(body), Start: t, line: n})
				i = len(runs) - 1
			}
			finish(&runs[i], t, body)
			last = i
		case word == "END" && ok:
			finish(&runs[i], t, text)
			delete(open, id)
		case ok:
			runs[i].Events = append(runs[i].Events, Event{Time: t, Word: word, Text: text})
		}
	}
	return runs, sc.Err()
}

func finish(r *Run, t time.Time, verdict string) {
	r.End, r.Verdict = t, verdict
	first, _, _ := strings.Cut(verdict, " ")
	switch {
	case strings.HasPrefix(verdict, "BACKUP FAILED"), strings.HasPrefix(verdict, "VERIFY FAILED"):
		r.Status = "FAILED"
	case strings.HasPrefix(verdict, "VERIFY FOUND DAMAGE"):
		r.Status = "DAMAGE"
	case strings.HasPrefix(verdict, "VERIFY OK"):
		r.Status = "OK"
	default:
		r.Status = first
	}
}

func verdictCommand(verdict string) string {
	if strings.HasPrefix(verdict, "VERIFY") {
		return "verify"
	}
	return "backup"
}

func isRunID(w string) bool {
	if len(w) != 8 {
		return false
	}
	_, err := hex.DecodeString(w)
	return err == nil
}

// TrimLog keeps the log's last keep runs and drops the older ones, so the
// log stays bounded over years of nightly runs. Writers that append at
// the same time lose nothing: appends and the trim lock the file, and an
// append that finds the file replaced under it writes to the new one.
func (l Layout) TrimLog(keep int) error {
	f, err := os.OpenFile(l.logPath(), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	runs, err := parseRuns(f)
	if err != nil || len(runs) <= keep {
		return err
	}
	cut := runs[len(runs)-keep].line
	keepID := map[string]bool{}
	for _, r := range runs[len(runs)-keep:] {
		keepID[r.ID] = true
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	var kept []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 0; sc.Scan(); n++ {
		line := sc.Text()
		if n < cut {
			continue
		}
		// After the cut, lines of runs that started before it go too.
		if _, rest, ok := strings.Cut(line, " "); ok {
			if id, _, _ := strings.Cut(rest, " "); isRunID(id) && !keepID[id] {
				continue
			}
		}
		kept = append(append(kept, line...), '\n')
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return writeFileAtomic(l.logPath(), kept)
}

// appendLocked appends to the log under its lock, reopening it if a trim
// replaced the file while this waited for the lock.
func appendLocked(path string, data []byte) error {
	for range 3 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return err
		}
		var held, now syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &held) == nil && syscall.Stat(path, &now) == nil && held.Ino != now.Ino {
			f.Close() // replaced by a trim: write to the new file
			continue
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		return err
	}
	return fmt.Errorf("%s: replaced again and again while appending", path)
}

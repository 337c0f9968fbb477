package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mailvault/mailvault/backup"
)

// progress prints a line that updates in place while a backup runs, on a
// terminal only: cron mail and logs get the summary alone.
type progress struct {
	mu    sync.Mutex // guards last
	on    bool
	start time.Time
	last  time.Time
	w     *os.File
}

func newProgress(e *env) *progress {
	f, ok := e.stderr.(*os.File)
	on := ok && !e.quiet && isTerminal(f)
	return &progress{on: on, start: time.Now(), w: f}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func (p *progress) update(t backup.Totals) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start)
	secs := elapsed.Seconds()
	fmt.Fprintf(p.w, "\r\033[K%s users, %d folders, %d messages, %s read (%s/s)%s",
		ofTotal(t.Users, t.UsersInScope), t.Folders, t.Messages, size(t.BytesRead),
		size(int64(float64(t.BytesRead)/max(secs, 0.001))), eta(elapsed, t.Users, t.UsersInScope))
}

func ofTotal(n, total int) string {
	if total == 0 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d/%d", n, total)
}

// eta estimates the time left from the share of users done; users differ
// in size, so it is shown only once a tenth of them is done.
func eta(elapsed time.Duration, done, total int) string {
	if total == 0 || done*10 < total || done >= total {
		return ""
	}
	left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
	return ", about " + left.Round(time.Second).String() + " left"
}

func (p *progress) done() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

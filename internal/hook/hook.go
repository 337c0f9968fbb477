// Package hook runs the commands an administrator hangs around a backup
// (--pre-exec, --post-exec): to freeze a store, or take an LVM or btrfs
// snapshot of it and back up from that.
//
// A hook is a shell command line, run with /bin/sh -c in a process group of
// its own, so that on a timeout the shell and everything it started are
// killed, not only the shell. Its standard output and standard error are
// taken together, line by line, for the caller to show and log.
package hook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// pipeGrace is how long a hook that has exited may leave its output open
// (a daemon it started, say) before it is no longer read.
const pipeGrace = 2 * time.Second

// Hook is one command to run.
type Hook struct {
	Name    string        // what the hook is, for messages: "pre-exec"
	Command string        // the shell command line
	Env     []string      // added to mailvault's environment, KEY=VALUE
	Timeout time.Duration // 0: no limit
	// Line, if set, is called with each line of output as it comes, without
	// its newline. Calls do not overlap.
	Line func(line string)
}

// Result is what a hook did.
type Result struct {
	Output   []string      // its lines of output, stdout and stderr together
	ExitCode int           // -1 if it did not exit by itself
	Took     time.Duration // from start to exit
}

// ErrTimeout means a hook ran longer than its timeout and was killed.
var ErrTimeout = errors.New("did not finish in time")

// Run runs the hook and waits for it. The error says why it failed: it
// could not be started, it exited with a status other than 0, or it was
// killed at the timeout (wrapping ErrTimeout).
func (h Hook) Run() (*Result, error) {
	ctx := context.Background()
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", h.Command)
	cmd.Env = append(os.Environ(), h.Env...)
	cmd.Stdin = nil // /dev/null: a hook never reads the backup's input
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the whole group
	}
	cmd.WaitDelay = pipeGrace
	lw := &lineWriter{line: h.Line}
	cmd.Stdout, cmd.Stderr = lw, lw

	res := &Result{ExitCode: -1}
	start := time.Now()
	err := cmd.Run()
	res.Took = time.Since(start)
	lw.flush()
	res.Output = lw.lines
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	// On a timeout, make sure nothing of the group survives: the shell may
	// have exited on its own while a child it started did not.
	if cmd.Process != nil && ctx.Err() != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	switch {
	case ctx.Err() != nil && (err != nil || res.ExitCode != 0):
		return res, fmt.Errorf("%s %q %w: killed after %s (raise --hook-timeout if it needs longer)", h.Name, h.Command, ErrTimeout, h.Timeout)
	case errors.Is(err, exec.ErrWaitDelay):
		return res, nil // exited 0 but left its output open: not ours to wait for
	case res.ExitCode > 0:
		return res, fmt.Errorf("%s %q exited with status %d", h.Name, h.Command, res.ExitCode)
	case err != nil:
		return res, fmt.Errorf("%s %q: %w", h.Name, h.Command, err)
	}
	return res, nil
}

// lineWriter splits what a hook writes into lines.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	line    func(string)
}

// maxLine bounds a line kept: a hook that writes megabytes without a
// newline still gets logged, in pieces.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		if i := bytes.IndexByte(w.partial, '\n'); i >= 0 {
			w.emit(string(w.partial[:i]))
			w.partial = w.partial[i+1:]
		} else if len(w.partial) >= maxLine {
			w.emit(string(w.partial[:maxLine]))
			w.partial = w.partial[maxLine:]
		} else {
			break
		}
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit(string(w.partial))
		w.partial = nil
	}
}

func (w *lineWriter) emit(s string) {
	s = strings.TrimSuffix(s, "\r")
	w.lines = append(w.lines, s)
	if w.line != nil {
		w.line(s)
	}
}

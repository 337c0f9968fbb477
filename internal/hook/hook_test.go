package hook

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOutputAndEnvironment(t *testing.T) {
	var seen []string
	res, err := Hook{Name: "pre-exec", Command: `echo "status $MAILVAULT_STATUS"; echo to stderr >&2; printf 'no newline'`,
		Env: []string{"MAILVAULT_STATUS=FULL"}, Timeout: time.Minute, Line: func(l string) { seen = append(seen, l) }}.Run()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"status FULL", "to stderr", "no newline"}
	if !reflect.DeepEqual(res.Output, want) || !reflect.DeepEqual(seen, want) || res.ExitCode != 0 {
		t.Errorf("output %q, lines seen %q, exit %d; want %q, exit 0", res.Output, seen, res.ExitCode, want)
	}
}

func TestExitStatus(t *testing.T) {
	res, err := Hook{Name: "pre-exec", Command: "echo cannot freeze; exit 3"}.Run()
	if err == nil || !strings.Contains(err.Error(), `pre-exec "echo cannot freeze; exit 3" exited with status 3`) || errors.Is(err, ErrTimeout) {
		t.Errorf("error %v, want one naming the hook and status 3", err)
	}
	if res.ExitCode != 3 || len(res.Output) != 1 || res.Output[0] != "cannot freeze" {
		t.Errorf("exit %d, output %q", res.ExitCode, res.Output)
	}
}

// TestTimeoutKillsTheGroup: at the timeout the shell and what it started
// are killed, and Run returns soon after, with ErrTimeout.
func TestTimeoutKillsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	res, err := Hook{Name: "post-exec", Command: "sleep 60 & echo $! > " + pidFile + "; echo waiting; wait", Timeout: 500 * time.Millisecond}.Run()
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "killed after 500ms") {
		t.Fatalf("error %v, want a timeout after 500ms", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Run returned after %s", took)
	}
	if res.ExitCode != -1 || len(res.Output) != 1 || res.Output[0] != "waiting" {
		t.Errorf("exit %d, output %q; want -1 and the line written before the kill", res.ExitCode, res.Output)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil { // gone, or a zombie of init's for a moment
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the hook's child %d survived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDaemonLeftRunning: a hook that exits 0 but leaves a process holding
// its output (a daemon it started) succeeds without waiting for it.
func TestDaemonLeftRunning(t *testing.T) {
	start := time.Now()
	res, err := Hook{Name: "pre-exec", Command: "sleep 5 & echo started", Timeout: time.Minute}.Run()
	if err != nil || res.ExitCode != 0 || len(res.Output) != 1 || res.Output[0] != "started" {
		t.Fatalf("error %v, exit %d, output %q", err, res.ExitCode, res.Output)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("waited %s for the hook's daemon", took)
	}
}

func TestLongLinesAreSplit(t *testing.T) {
	res, err := Hook{Name: "pre-exec", Command: "head -c 150000 /dev/zero | tr '\\0' x"}.Run()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 3 || len(res.Output[0]) != maxLine || len(res.Output[2]) != 150000-2*maxLine {
		t.Errorf("%d lines", len(res.Output))
	}
}

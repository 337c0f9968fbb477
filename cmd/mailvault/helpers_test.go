package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the mailvault command built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	// The machine's /etc/mailvault/mailvault.toml must not steer the tests.
	os.Setenv("MAILVAULT_CONFIG", "none")
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run()) // the fuzz targets need no binary
	}
	dir, err := os.MkdirTemp("", "mailvault-bin-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // tests run it as another user too
	binary = filepath.Join(dir, "mailvault")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic("cannot build mailvault: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what a run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// mv runs the mailvault binary and waits for it.
func mv(t *testing.T, args ...string) result {
	t.Helper()
	return runBinary(t, nil, args)
}

// mvAs runs the binary as another user.
func mvAs(t *testing.T, uid, gid uint32, args ...string) result {
	t.Helper()
	return runBinary(t, &syscall.Credential{Uid: uid, Gid: gid}, args)
}

func runBinary(t *testing.T, cred *syscall.Credential, args []string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("mailvault %s: %v", strings.Join(args, " "), err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustMV runs the binary and fails the test unless it exits 0.
func mustMV(t *testing.T, args ...string) result {
	t.Helper()
	r := mv(t, args...)
	if r.code != 0 {
		t.Fatalf("mailvault %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// mount is a running 'mailvault mount'.
type mount struct {
	dir    string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

// syncBuffer is a buffer that a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMount mounts repo at dir and waits until the mount answers. The
// mount is taken down when the test ends; a mount left behind fails it.
func startMount(t *testing.T, repoDir, dir string, flags ...string) *mount {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &mount{dir: dir, stderr: &syncBuffer{}, done: make(chan error, 1)}
	m.cmd = exec.Command(binary, append(append([]string{"mount", "--repo", repoDir}, flags...), dir)...)
	m.cmd.Stderr = m.stderr
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The mount says "mounted …" once it serves requests.
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := sc.Scan() && strings.HasPrefix(sc.Text(), "mounted ")
		ready <- ok
		io.Copy(io.Discard, stdout)
	}()
	go func() { m.done <- m.cmd.Wait() }()
	select {
	case ok := <-ready:
		if !ok {
			<-m.done
			t.Fatalf("mount did not come up:\n%s", m.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("mount at %s did not come up in time\n%s", dir, m.stderr)
	}
	t.Cleanup(func() {
		if m.cmd.ProcessState == nil {
			m.stop(t)
		}
		if isMountpoint(dir) {
			exec.Command("fusermount3", "-uz", dir).Run()
			t.Errorf("mount at %s was left behind", dir)
		}
	})
	return m
}

// stop sends SIGTERM and expects a clean exit and a clean unmount.
func (m *mount) stop(t *testing.T) {
	t.Helper()
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("mount exited with %v\n%s", err, m.stderr)
		}
	case <-time.After(30 * time.Second):
		m.cmd.Process.Kill()
		t.Fatalf("mount did not exit on SIGTERM\n%s", m.stderr)
	}
	if isMountpoint(m.dir) {
		t.Errorf("%s still mounted after SIGTERM", m.dir)
	}
}

// isMountpoint reports whether dir is on another device than its parent.
func isMountpoint(dir string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(dir, &a) != nil || syscall.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

func requireFUSE(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("fusermount3")
	if _, serr := os.Stat("/dev/fuse"); err != nil || serr != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("FUSE is needed: install fuse3 (apt-get install -y fuse3)")
		}
		t.Skip("FUSE not available: install fuse3")
	}
}

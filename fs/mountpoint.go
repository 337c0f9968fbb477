package fs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// PrepareMountpoint checks a mount point before mounting. A stale FUSE
// mount left by a crashed process ("transport endpoint is not connected")
// is unmounted, and the returned note says so; a live mount is refused.
func PrepareMountpoint(dir string) (string, error) {
	_, err := os.Stat(dir)
	stale := errors.Is(err, syscall.ENOTCONN)
	if err != nil && !stale {
		return "", fmt.Errorf("mount point: %w", err)
	}
	if !stale && mounted(dir) {
		// stat may be answered from the kernel's cache; statfs always asks
		// the server, and fails on a mount whose server is gone.
		var st syscall.Statfs_t
		stale = errors.Is(syscall.Statfs(dir, &st), syscall.ENOTCONN)
		if !stale {
			return "", fmt.Errorf("%s is already a mount point; unmount it first ('fusermount3 -u %s')", dir, dir)
		}
	}
	if !stale {
		return "", nil
	}
	if err := fusermount(dir); err != nil {
		return "", fmt.Errorf("%s is a stale mount of a crashed process and cannot be cleared: %w (try 'fusermount3 -uz %s')", dir, err, dir)
	}
	return fmt.Sprintf("cleared a stale mount at %s left by a crashed process", dir), nil
}

// Unmount unmounts a running server, retrying while the mount point is
// busy and detaching it lazily as a last resort.
func Unmount(srv *fuse.Server, dir string) (string, error) {
	var err error
	for range 5 {
		if err = srv.Unmount(); err == nil {
			return "", nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lerr := exec.Command("fusermount3", "-uz", dir).Run(); lerr != nil {
		return "", fmt.Errorf("cannot unmount %s: %v; lazy unmount failed too: %v", dir, err, lerr)
	}
	return fmt.Sprintf("%s was busy (%v); detached it lazily: it goes away when the last user leaves", dir, err), nil
}

func fusermount(dir string) error {
	if err := exec.Command("fusermount3", "-u", dir).Run(); err == nil {
		return nil
	}
	out, err := exec.Command("fusermount3", "-uz", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// mounted reports whether dir is a mount point, from /proc/self/mountinfo.
func mounted(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == abs {
			return true
		}
	}
	return false
}

// unescapeMount undoes the octal escapes of mountinfo (\040 for space).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mailvault/mailvault/backup"
)

// backupMetrics is what a run tells node_exporter's textfile collector,
// so alerting needs no glue: alert when last_success is too old or status
// is not 0.
type backupMetrics struct {
	server, scope string
	status        string // FULL, PARTIAL or FAILED
	start, end    time.Time
	res           *backup.Result // nil when the run failed before reading
}

// statusCode is the status as a number: 0 FULL, 1 PARTIAL, 2 FAILED.
func statusCode(s string) int {
	switch s {
	case "FULL":
		return 0
	case "PARTIAL":
		return 1
	}
	return 2
}

// writeMetrics replaces the file at path with the run's metrics in the
// Prometheus text format. The time of the last successful run is carried
// over from the file a failed run replaces.
func writeMetrics(path string, m backupMetrics) error {
	labels := fmt.Sprintf(`{server=%q,scope=%q}`, m.server, m.scope)
	lastSuccess := lastSuccessIn(path, labels)
	if m.status == "FULL" {
		lastSuccess = float64(m.end.UnixNano()) / 1e9
	}
	var b strings.Builder
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(&b, "# HELP mailvault_backup_%s %s\n# TYPE mailvault_backup_%s gauge\nmailvault_backup_%s%s %s\n",
			name, help, name, name, labels, strconv.FormatFloat(v, 'f', -1, 64))
	}
	gauge("last_run_timestamp_seconds", "When the last backup run ended.", float64(m.end.UnixNano())/1e9)
	gauge("last_success_timestamp_seconds", "When the last FULL successful backup run ended (0: never).", lastSuccess)
	gauge("status", "Outcome of the last run: 0 FULL success, 1 PARTIAL, 2 FAILED.", float64(statusCode(m.status)))
	gauge("duration_seconds", "Wall time of the last run.", m.end.Sub(m.start).Seconds())
	if r := m.res; r != nil {
		gauge("users", "Users in the last run's snapshot.", float64(r.Users))
		gauge("folders", "Folders in the last run's snapshot.", float64(r.Folders))
		gauge("messages", "Messages in the last run's snapshot.", float64(r.Messages))
		gauge("problems", "Objects the last run could not back up.", float64(len(r.Problems)))
		gauge("left_out_messages", "Messages the last run listed without their bytes (--max-size); the next run stores them.", float64(r.LeftOut))
		gauge("left_out_bytes", "Size of the messages the last run left out by --max-size.", float64(r.BytesLeftOut))
		gauge("bytes_total", "Message bytes the last snapshot lists.", float64(r.BytesTotal))
		gauge("bytes_read", "Message bytes the last run read from the store.", float64(r.BytesRead))
		gauge("bytes_new", "Bytes of messages new to the repository in the last run.", float64(r.BytesNew))
		gauge("bytes_stored", "Archive bytes the last run wrote, after compression.", float64(r.BytesStored))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mailvault-metrics-*")
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("metrics file: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil { // node_exporter runs as its own user
		tmp.Close()
		return fmt.Errorf("metrics file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	// A rename: the collector never reads half a file.
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

// lastSuccessIn reads the last success time of labels from an earlier
// metrics file, 0 when there is none.
func lastSuccessIn(path, labels string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	prefix := "mailvault_backup_last_success_timestamp_seconds" + labels + " "
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			if x, err := strconv.ParseFloat(v, 64); err == nil {
				return x
			}
		}
	}
	return 0
}

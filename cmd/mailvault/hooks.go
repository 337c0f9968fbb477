package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/mailvault/mailvault/backup"
	"github.com/mailvault/mailvault/internal/hook"
)

// backupHooks runs a backup's --pre-exec and --post-exec, shows their
// output on stderr and keeps it in the run's block of the backup log.
type backupHooks struct {
	pre, post string
	// onFailure and onPartial are the alarms: run after a FAILED or a
	// PARTIAL run, with the verdict in the environment.
	onFailure, onPartial string
	timeout              time.Duration
	env                  []string // what every hook is told about the run
	e                    *env
	// event logs a line of the run ("HOOK", "pre-exec| …"); nil without a
	// repository.
	event func(word, text string)
}

func newBackupHooks(e *env, bf *backupFlags, opt backup.Options, repoDir string) *backupHooks {
	return &backupHooks{
		pre: bf.preExec, post: bf.postExec, timeout: bf.hookTimeout, e: e,
		onFailure: bf.onFailure, onPartial: bf.onPartial,
		env: []string{
			"MAILVAULT_REPO=" + repoDir, "MAILVAULT_SERVER=" + opt.Server,
			"MAILVAULT_SOURCE=" + opt.Source.String(), "MAILVAULT_SCOPE=" + opt.Scope.String(),
			"MAILVAULT_KIND=" + kind(opt),
		},
	}
}

func (h *backupHooks) any() bool { return h.pre != "" || h.post != "" }

// runPre runs --pre-exec; an error means the backup must not run.
func (h *backupHooks) runPre() error { return h.run("pre-exec", h.pre) }

// runPost runs --post-exec, telling it how the backup went: status FULL,
// PARTIAL or FAILED, the archives written and the error that failed it.
func (h *backupHooks) runPost(res *backup.Result, runErr error) error {
	status := "FULL"
	switch {
	case runErr != nil:
		status = "FAILED"
	case res != nil && res.Partial():
		status = "PARTIAL"
	}
	env := []string{"MAILVAULT_STATUS=" + status}
	if res != nil {
		env = append(env, "MAILVAULT_ARCHIVES="+strings.Join(res.Archives, " "))
	}
	if runErr != nil {
		env = append(env, "MAILVAULT_ERROR="+oneLine(runErr.Error()))
	}
	return h.run("post-exec", h.post, env...)
}

// runAlarm runs --on-failure or --on-partial for a run that ended with
// status, telling it the verdict line of the log, the number of objects
// left out and the log's run id.
func (h *backupHooks) runAlarm(status, verdict string, problems int, runID string) error {
	command, name := h.onFailure, "on-failure"
	switch status {
	case "FULL":
		return nil
	case "PARTIAL":
		command, name = h.onPartial, "on-partial"
	}
	return h.run(name, command, "MAILVAULT_STATUS="+status, "MAILVAULT_SUMMARY="+verdict,
		fmt.Sprintf("MAILVAULT_PROBLEMS=%d", problems), "MAILVAULT_RUN="+runID)
}

func (h *backupHooks) run(name, command string, extra ...string) error {
	if command == "" {
		return nil
	}
	show := func(line string) { fmt.Fprintf(h.e.stderr, "mailvault: %s: %s\n", name, line) }
	if h.e.quiet {
		show = nil // logged; shown only if the hook fails
	}
	hk := hook.Hook{Name: name, Command: command, Timeout: h.timeout, Line: show,
		Env: append(append([]string{"MAILVAULT_HOOK=" + name}, h.env...), extra...)}
	res, err := hk.Run()
	event := h.event
	if event == nil {
		event = func(string, string) {}
	}
	event("HOOK", fmt.Sprintf("%s: running %s", name, command))
	for _, l := range res.Output {
		event("HOOK", fmt.Sprintf("%s| %s", name, l))
		if err != nil && show == nil {
			fmt.Fprintf(h.e.stderr, "mailvault: %s: %s\n", name, l)
		}
	}
	took := res.Took.Round(time.Millisecond)
	if err != nil {
		event("ERROR", fmt.Sprintf("%v (after %s)", err, took))
	} else {
		event("HOOK", fmt.Sprintf("%s: exit 0 after %s", name, took))
	}
	return err
}

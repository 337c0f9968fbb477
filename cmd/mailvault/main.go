// Command mailvault backs up Dovecot Maildir stores into a repository of
// deduplicated, compressed archives and serves the backups as a read-only
// file system of Maildirs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
	"github.com/mailvault/mailvault/repo"
)

// Exit codes, documented in the README; alarms watch them.
const (
	exitOK      = 0
	exitFailed  = 1 // the command failed
	exitUsage   = 2 // bad command line or configuration
	exitPartial = 3 // done, but some objects were left out (PARTIAL)
	exitLocked  = 4 // the repository or group is in use by another run
	exitCorrupt = 5 // a damaged archive or repository
)

// command is one verb of the command line.
type command struct {
	name    string
	args    string // the arguments after the flags, for usage lines
	summary string
	help    string // more text for --help
	run     func(env *env, args []string) error
	flags   func(fs *flag.FlagSet, env *env)
	// configArgs are keys of the configuration file that stand for
	// arguments ([backup] source); run finds them in env.configArgs.
	configArgs []string
}

var commands []*command

func register(c *command) { commands = append(commands, c) }

// env is what every command shares: the global flags and the output.
type env struct {
	repoDir string
	json    bool
	quiet   bool
	stdout  io.Writer
	stderr  io.Writer
	// configArgs holds the values of the command's configArgs keys.
	configArgs map[string]string
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// partialError says a run finished but left something out.
type partialError struct{ msg string }

func (e partialError) Error() string { return e.msg }

func main() {
	// The repository holds every user's mail: what mailvault creates is
	// its user's alone, the index's files too (badger asks for 0666).
	// Restores set the modes of the target store explicitly.
	syscall.Umask(0o077)
	limitMemory(os.Args[1:])
	stop := startProfile()
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return run([]string{args[1], "--help"}, stdout, stderr)
		}
		mainUsage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "mailvault", version)
		return exitOK
	}
	name, rest := args[0], args[1:]
	if name == "index" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = "index "+rest[0], rest[1:]
	}
	var cmd *command
	for _, c := range commands {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "mailvault: unknown command %q\nhint: run 'mailvault help' for the list of commands\n", name)
		return exitUsage
	}
	e := &env{stdout: stdout, stderr: stderr, repoDir: os.Getenv("MAILVAULT_REPO")}
	fs := flag.NewFlagSet("mailvault "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The file is checked against every command's flags before this
	// command's are bound: checking binds them to a scratch set.
	cfg, err := loadConfig(configPath(rest))
	if err == nil {
		err = cfg.check()
	}
	fs.StringVar(&e.repoDir, "repo", e.repoDir, "repository `directory` (default $MAILVAULT_REPO)")
	fs.String("config", defaultConfig, "configuration `file` of flag defaults ($MAILVAULT_CONFIG; 'none' for no file)")
	if cmd.flags != nil {
		cmd.flags(fs, e)
	}
	if err == nil {
		e.configArgs, err = cfg.apply(fs, cmd)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mailvault: %v\nhint: see README, \"The configuration file\"\n", err)
		return exitUsage
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: mailvault %s [flags] %s\n\n%s\n", cmd.name, cmd.args, cmd.summary)
		if cmd.help != "" {
			fmt.Fprintf(fs.Output(), "\n%s\n", strings.TrimSpace(cmd.help))
		}
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	if helpAsked(rest) { // to stdout, once; a bad flag's usage goes to stderr
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK
	}
	positional, err := parseInterspersed(fs, rest)
	if err != nil {
		return exitUsage
	}
	err = cmd.run(e, positional)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	fmt.Fprintf(stderr, "mailvault: %v\n", err)
	if h := hint(err, cmd); h != "" {
		fmt.Fprintf(stderr, "hint: %s\n", h)
	}
	return code
}

// helpAsked reports whether the flags ask for help (before any "--").
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// parseInterspersed parses flags that may stand before, between or after
// the arguments ("restore /mail1/staff --to maildir:…"); after "--"
// everything is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(positional, tail...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// exitCode is the one place that maps errors to exit codes.
func exitCode(err error) int {
	var ue usageError
	var pe partialError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &pe):
		return exitPartial
	case errors.Is(err, index.ErrLocked), errors.Is(err, repo.ErrBusy):
		return exitLocked
	case errors.Is(err, archive.ErrCorrupt), errors.Is(err, archive.ErrTruncated), errors.Is(err, archive.ErrNotArchive),
		errors.Is(err, repo.ErrDamaged):
		return exitCorrupt
	}
	return exitFailed
}

func hint(err error, cmd *command) string {
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return fmt.Sprintf("run 'mailvault %s --help'", cmd.name)
	case errors.Is(err, index.ErrLocked):
		return "a 'mailvault mount' or another command holds the index; stop it or wait for it to finish"
	case errors.Is(err, repo.ErrNotRepository):
		return "pass --repo DIR (or set MAILVAULT_REPO) to a repository made by 'mailvault init' or a first backup"
	}
	return ""
}

func mainUsage(w io.Writer) {
	fmt.Fprint(w, `mailvault backs up Dovecot Maildir stores into a repository of compressed,
deduplicated archives, and mounts the backups as read-only Maildirs.

usage: mailvault COMMAND [flags] [arguments]

commands:
`)
	sorted := append([]*command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every command takes --repo DIR (or $MAILVAULT_REPO) and --help.
Run 'mailvault COMMAND --help' for its flags.

exit codes: 0 ok, 1 failed, 2 usage error, 3 partial (something left out),
            4 repository or group in use, 5 damaged archive or repository
`)
}

const version = "0.1.0"

// needRepo returns the repository directory or a usage error.
func (e *env) needRepo() (string, error) {
	if e.repoDir == "" {
		return "", usagef("no repository: pass --repo DIR or set MAILVAULT_REPO")
	}
	return e.repoDir, nil
}

// openRepo opens the repository and reports archives it could not read.
// Commands that only read pass private, so that they work while a mount
// holds the index, and the index is kept compacted for their reads.
func (e *env) openRepo(private bool) (*repo.Repo, error) {
	dir, err := e.needRepo()
	if err != nil {
		return nil, err
	}
	r, problems, err := repo.Open(dir, repo.Options{Private: private})
	if err != nil {
		return nil, err
	}
	if r.Note != "" && !e.quiet {
		fmt.Fprintf(e.stderr, "mailvault: note: %s\n", r.Note)
	}
	if r.Repaired != "" {
		fmt.Fprintf(e.stderr, "mailvault: warning: the index was damaged (%s); rebuilt it from the archives\n", r.Repaired)
	}
	for _, p := range problems {
		fmt.Fprintf(e.stderr, "mailvault: warning: %v (left out of the index until it can be read)\n", p)
	}
	return r, nil
}

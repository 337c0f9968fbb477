package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// defaultConfig is read when it exists and neither --config nor
// $MAILVAULT_CONFIG names another file.
const defaultConfig = "/etc/mailvault/mailvault.toml"

// config is the configuration file: top-level keys apply to every command
// that has a flag of that name (repo), a table per command sets its flags
// ([backup] server = "mail1"), and [backup] source is the store backed up
// when the command line names none. Keys are flag names; the command line
// wins over the file.
type config struct {
	path     string
	global   map[string]any
	commands map[string]map[string]any
}

// configPath returns the configuration file a run uses: --config on the
// command line, $MAILVAULT_CONFIG, or the default when it exists ("" for
// none). --config none (or MAILVAULT_CONFIG=none) reads no file.
func configPath(args []string) (path string, explicit bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, p := range []string{"--config", "-config"} {
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v, true
			}
			if a == p && i+1 < len(args) {
				return args[i+1], true
			}
		}
	}
	if v := os.Getenv("MAILVAULT_CONFIG"); v != "" {
		return v, true
	}
	return defaultConfig, false
}

// loadConfig reads the file at path. A missing default file is no
// configuration; a missing named one is an error.
func loadConfig(path string, explicit bool) (*config, error) {
	if path == "none" || path == "" {
		return nil, nil
	}
	var raw map[string]any
	_, err := toml.DecodeFile(path, &raw)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, usagef("configuration file %s: %v", path, err)
	}
	c := &config{path: path, global: map[string]any{}, commands: map[string]map[string]any{}}
	for k, v := range raw {
		if t, ok := v.(map[string]any); ok {
			c.commands[k] = t
			continue
		}
		c.global[k] = v
	}
	for name, t := range c.commands {
		if name == "index" { // [index.rebuild] is the command "index rebuild"
			for sub, v := range t {
				if st, ok := v.(map[string]any); ok {
					c.commands["index "+sub] = st
				}
			}
			delete(c.commands, "index")
		}
	}
	return c, nil
}

// check refuses what no command understands, so a typo in the file is
// found at once and not on the night it matters.
func (c *config) check() error {
	if c == nil {
		return nil
	}
	flagsOf := map[string]map[string]bool{}
	for _, cmd := range commands {
		fset := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		fset.String("repo", "", "")
		if cmd.flags != nil {
			cmd.flags(fset, &env{})
		}
		names := map[string]bool{}
		fset.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
		for _, k := range cmd.configArgs {
			names[k] = true
		}
		flagsOf[cmd.name] = names
	}
	var bad []string
	for k := range c.global {
		if k == "config" {
			bad = append(bad, k+" (a file cannot name another)")
			continue
		}
		known := false
		for _, names := range flagsOf {
			known = known || names[k]
		}
		if !known {
			bad = append(bad, k)
		}
	}
	for name, t := range c.commands {
		names, ok := flagsOf[name]
		if !ok {
			bad = append(bad, "["+name+"] (no such command)")
			continue
		}
		for k := range t {
			if !names[k] {
				bad = append(bad, "["+name+"] "+k)
			}
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return usagef("configuration file %s: unknown keys: %s (keys are the flag names of 'mailvault COMMAND --help')", c.path, strings.Join(bad, ", "))
	}
	return nil
}

// apply sets the flags of cmd the file names, before the command line is
// parsed, and returns the values of its configArgs keys.
func (c *config) apply(fset *flag.FlagSet, cmd *command) (map[string]string, error) {
	if c == nil {
		return nil, nil
	}
	args := map[string]string{}
	set := func(k string, v any) error {
		for _, a := range cmd.configArgs {
			if a == k {
				args[k] = fmt.Sprint(v)
				return nil
			}
		}
		if fset.Lookup(k) == nil {
			return nil // a global key for other commands
		}
		if k == "repo" && os.Getenv("MAILVAULT_REPO") != "" {
			return nil // the environment wins over the file
		}
		if err := fset.Set(k, fmt.Sprint(v)); err != nil {
			return usagef("configuration file %s: %s: %v", c.path, k, err)
		}
		return nil
	}
	for k, v := range c.global {
		if err := set(k, v); err != nil {
			return nil, err
		}
	}
	for k, v := range c.commands[cmd.name] {
		if err := set(k, v); err != nil {
			return nil, err
		}
	}
	return args, nil
}

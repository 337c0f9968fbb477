package main

import (
	"flag"
	"fmt"
)

func init() {
	var forget bool
	register(&command{
		name:    "index rebuild",
		summary: "rebuild the index from the archives alone",
		help: `
The index is a cache of what the archives hold. Rebuild it when it was lost
or damaged; a missing index is also rebuilt by any command that opens the
repository.

The index remembers archives that left archives/ (and the messages whose
bytes went with them) so that 'mailvault verify' reports them; after
removing an archive on purpose, --forget-gone drops that memory.`,
		flags: func(f *flag.FlagSet, e *env) {
			f.BoolVar(&forget, "forget-gone", false, "forget the archives that are gone from archives/")
		},
		run: func(e *env, args []string) error {
			if len(args) > 0 {
				return usagef("index rebuild takes no arguments")
			}
			r, err := e.openRepo(false)
			if err != nil {
				return err
			}
			defer r.Close()
			if forget {
				if err := r.ForgetGone(); err != nil {
					return err
				}
			}
			problems, err := r.Rebuild()
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintf(e.stderr, "mailvault: cannot read %v\n", p)
			}
			fmt.Fprintf(e.stdout, "index rebuilt from %d archives\n", len(r.Archives()))
			if len(problems) > 0 {
				return partialError{fmt.Sprintf("%d archives could not be read and are not in the index", len(problems))}
			}
			return nil
		},
	})
}

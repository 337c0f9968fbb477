package main

import (
	"fmt"

	"github.com/mailvault/mailvault/repo"
)

func init() {
	register(&command{
		name:    "init",
		summary: "create an empty repository (a first backup does this too)",
		run: func(e *env, args []string) error {
			if len(args) > 0 {
				return usagef("init takes no arguments")
			}
			dir, err := e.needRepo()
			if err != nil {
				return err
			}
			if err := repo.Init(dir); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "repository %s is ready\n", dir)
			return nil
		},
	})
}

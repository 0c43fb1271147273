// Command gendoc rewrites the generated table of docs/configuration.md
// from package config's declarations, leaving the prose around it as it
// is. go generate ./config runs it:
//
//	go run ./config/internal/gendoc docs/configuration.md
package main

import (
	"fmt"
	"os"

	"github.com/punctualhq/punctual/config"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendoc PATH_TO_configuration.md")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	page, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	updated, err := config.UpdatePage(string(page))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(updated), 0o644)
}

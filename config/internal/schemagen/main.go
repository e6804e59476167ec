// Command schemagen writes the JSON Schema of fence's config format, generated
// from the Go types in package config, to docs/schema/fence.schema.json.
//
// Run it from the module root: go run ./config/internal/schemagen
// (make schema). TestSchemaInSync in package config fails when the shipped
// file differs from what this writes.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nsfence/fence/config"
)

func main() {
	out := flag.String("o", filepath.Join("docs", "schema", "fence.schema.json"), "output file")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintf(os.Stderr, "schemagen: %v\n", err)
		os.Exit(1)
	}
}

func run(out string) error {
	b, err := config.Schema()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(out), err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("write schema: %w", err)
	}
	return nil
}

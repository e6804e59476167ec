package main

import (
	"fmt"

	"github.com/nsfence/fence/config"
	"github.com/spf13/cobra"
)

// subcommands returns the subcommands of root (config, import, completion).
func subcommands(root *cobra.Command) []*cobra.Command {
	return []*cobra.Command{newConfigCmd(), newImportCmd(), newCompletionCmd(root)}
}

// listTemplates prints the embedded templates as upstream does.
func listTemplates() error {
	fmt.Println("Available templates:")
	for _, t := range config.Templates() {
		fmt.Printf("  %-20s %s\n", t.Name, t.Description)
	}
	fmt.Println()
	fmt.Println("Usage: fence -t <template> <command>")
	fmt.Println("Example: fence -t code -- code")
	return nil
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// subcommands returns the subcommands of root (config, import, completion).
func subcommands(root *cobra.Command) []*cobra.Command {
	return nil
}

func listTemplates() error {
	return fmt.Errorf("templates are not available yet")
}

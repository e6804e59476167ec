package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newCompletionCmd returns `fence completion SHELL`, which prints a shell
// completion script for root. Registering a command named "completion" also
// stops cobra from adding its default one.
func newCompletionCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a completion script for the given shell on stdout.

  bash:       source <(fence completion bash)
  zsh:        fence completion zsh > "${fpath[1]}/_fence"
  fish:       fence completion fish > ~/.config/fish/completions/fence.fish
  powershell: fence completion powershell | Out-String | Invoke-Expression`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("give one shell: bash, zsh, fish or powershell (got %d arguments)", len(args))
			}
			return nil
		},
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(w)
			}
			return fmt.Errorf("unsupported shell %q (expected bash, zsh, fish or powershell)", args[0])
		},
	}
}

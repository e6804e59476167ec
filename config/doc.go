// Package config owns fence's policy model: the Fence-compatible schema, the
// strict JSONC loader, `extends` chains and the embedded templates, the
// resolution of which files apply (template, -s file, user file, per-project
// fence.json), the command and SSH preflight policy, the `import --claude`
// converter and the JSON Schema.
//
// It is pure Go and must not import Linux- or macOS-specific code: the runtime
// packages (nsexec, proxy, seatbelt) receive options built from a resolved
// Config by the orchestration layer, never a Config itself.
//
// The binary re-executes itself for every sandboxed command, so every package
// init() runs twice per command. This package therefore does no work at
// package initialisation: templates are embedded with //go:embed and parsed
// on first use, and nothing here reads the filesystem or the environment
// until a function is called.
//
// Nothing in this package prints. Problems that should not stop a run (for
// example "*" in allowedDomains) are returned as warnings on the Source that
// produced them; the caller decides how to show them.
package config

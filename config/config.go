package config

import (
	"net/netip"
	"slices"
	"strings"
)

// Config is the top-level Fence configuration, field for field compatible with
// upstream Fence's JSON schema (reference §2).
//
// The `desc` tag of every field is its user-facing description; the JSON
// Schema (see Schema) is generated from these tags, so a new field without one
// fails TestSchemaShape.
type Config struct {
	// Schema is the editor hint "$schema"; fence ignores its value.
	Schema string `json:"$schema,omitempty" desc:"URI of the JSON Schema for editor completion and validation. Ignored by fence."`
	// Extends names a template or a file this config builds on.
	Extends string `json:"extends,omitempty" desc:"Template name (e.g. \"code\") or path of a config file to build on. A value containing / or \\ or starting with . is a path, relative to the directory of the file that contains it; anything else is an embedded template. Lists are concatenated, booleans OR'd, and optional booleans and ports of this file override the base."`
	// AllowPty lets the sandboxed program use pseudo-terminals.
	AllowPty bool `json:"allowPty,omitempty" desc:"Allow the sandboxed program to allocate pseudo-terminals (needed by interactive TUIs)."`
	// Network is the "network" section.
	Network NetworkConfig `json:"network" desc:"Network policy: egress goes only through fence's filtering proxies, to the allowed domains."`
	// Filesystem is the "filesystem" section.
	Filesystem FilesystemConfig `json:"filesystem" desc:"Filesystem policy: reads are allowed by default except denied paths, writes are denied except allowed paths."`
	// Command is the "command" section.
	Command CommandConfig `json:"command" desc:"Command policy, checked before the command runs (preflight) and, for single-program entries, when a program is executed inside the sandbox."`
	// SSH is the "ssh" section.
	SSH SSHConfig `json:"ssh" desc:"SSH policy for ssh commands: which hosts may be reached and which remote commands may run. Off while both host lists are empty."`
}

// NetworkConfig is the "network" section (reference §2.2).
type NetworkConfig struct {
	// AllowedDomains is the proxy allowlist.
	AllowedDomains []string `json:"allowedDomains,omitempty" desc:"Domains the sandbox may connect to through the proxies. \"example.com\" matches exactly (case-insensitive); \"*.example.com\" matches every subdomain but not example.com itself; \"*\" allows every domain and turns network isolation off. Ports (fence extension): without one, 80 and 443; \"example.com:8443\" that port, \"example.com:*\" every port."`
	// DeniedDomains is checked before AllowedDomains.
	DeniedDomains []string `json:"deniedDomains,omitempty" desc:"Domains that are always refused, checked before allowedDomains. Same patterns as allowedDomains."`
	// AllowUnixSockets lists host unix sockets the sandbox may connect to.
	AllowUnixSockets []string `json:"allowUnixSockets,omitempty" desc:"Paths of host unix sockets (or directories containing them) the sandbox may connect to."`
	// AllowAllUnixSockets allows every host unix socket.
	AllowAllUnixSockets bool `json:"allowAllUnixSockets,omitempty" desc:"Allow connecting to every host unix socket. Sockets such as docker.sock are a full sandbox escape."`
	// AllowLocalBinding lets the sandbox listen on localhost.
	AllowLocalBinding bool `json:"allowLocalBinding,omitempty" desc:"Allow binding and accepting connections on localhost inside the sandbox."`
	// AllowLocalOutbound lets the sandbox connect to the host's localhost.
	// Nil means the value of AllowLocalBinding (see LocalOutbound).
	AllowLocalOutbound *bool `json:"allowLocalOutbound,omitempty" desc:"Allow connecting to services on the host's localhost. Unset means the value of allowLocalBinding."`
	// AllowLocalOutboundPorts lists the host loopback ports reachable from
	// the sandbox (each one listed, whatever AllowLocalOutbound says).
	AllowLocalOutboundPorts []int `json:"allowLocalOutboundPorts,omitempty" desc:"Host loopback TCP ports (1-65535) the sandbox may connect to: 127.0.0.1:PORT inside reaches the host's. Each listed port is allowed whatever allowLocalOutbound says."`
	// HTTPProxyPort is the HTTP proxy's port inside the sandbox.
	HTTPProxyPort int `json:"httpProxyPort,omitempty" desc:"Port of the HTTP proxy on 127.0.0.1 inside the sandbox (default 3128). The sandbox has its own network namespace, so it cannot clash with the host. Ignored with allowedDomains \"*\", where the proxies listen on random host ports."`
	// SOCKSProxyPort is the SOCKS5 proxy's port inside the sandbox.
	SOCKSProxyPort int `json:"socksProxyPort,omitempty" desc:"Port of the SOCKS5 proxy on 127.0.0.1 inside the sandbox (default 1080). Ignored with allowedDomains \"*\"."`
	// Hosts are hosts-file lines the proxies consult before DNS.
	Hosts []string `json:"hosts,omitempty" desc:"Name overrides for the proxies, in hosts-file form: \"ADDRESS NAME [NAME...]\". A listed name is never looked up in DNS, and may reach its address even if that is a loopback or link-local address (which the proxies otherwise refuse). fence extension; the names must still be allowed by allowedDomains."`
}

// FilesystemConfig is the "filesystem" section (reference §2.3).
type FilesystemConfig struct {
	// DefaultDenyRead denies reads outside system paths and allowRead.
	DefaultDenyRead bool `json:"defaultDenyRead,omitempty" desc:"Deny reads everywhere except system paths, allowRead and allowExecute."`
	// WSLInterop is upstream's switch for WSL interop (on WSL, /init stays
	// available in defaultDenyRead mode). fence accepts it for
	// compatibility and ignores it: nothing reads it but Merge, Clone and
	// Loosening.
	WSLInterop *bool `json:"wslInterop,omitempty" desc:"Accepted for compatibility with upstream Fence, and ignored: fence does nothing WSL-specific. (Upstream, on WSL, keeps /init, which runs Windows programs, available in defaultDenyRead mode; unset means detect WSL.)"`
	// AllowRead lists extra readable paths.
	AllowRead []string `json:"allowRead,omitempty" desc:"Paths (globs allowed) that stay readable, chiefly with defaultDenyRead."`
	// AllowExecute lists extra paths that may be read and executed.
	AllowExecute []string `json:"allowExecute,omitempty" desc:"Paths (globs allowed) whose files may be read and executed, without directory listing."`
	// DenyRead lists unreadable paths.
	DenyRead []string `json:"denyRead,omitempty" desc:"Paths (globs allowed) that cannot be read."`
	// AllowWrite lists writable paths.
	AllowWrite []string `json:"allowWrite,omitempty" desc:"Paths (globs allowed) that may be written. Everything else is read-only. \".\" is the working directory, \"~\" the home directory."`
	// DenyWrite lists paths that stay read-only inside allowWrite.
	DenyWrite []string `json:"denyWrite,omitempty" desc:"Paths (globs allowed) that stay read-only even inside allowWrite."`
	// AllowGitConfig lets the sandbox write .git/config.
	AllowGitConfig bool `json:"allowGitConfig,omitempty" desc:"Allow writing .git/config, which is otherwise protected."`
}

// CommandConfig is the "command" section (reference §2.4).
type CommandConfig struct {
	// Deny lists command prefixes that are blocked.
	Deny []string `json:"deny,omitempty" desc:"Command prefixes to block, e.g. \"git push\". A rule matches a command with the same program name (any directory) followed by the same arguments, on word boundaries. Single-program entries such as \"python3\" are also enforced when a program is executed inside the sandbox."`
	// Allow lists command prefixes that override Deny in preflight.
	Allow []string `json:"allow,omitempty" desc:"Command prefixes that are allowed even when a deny rule matches (preflight only)."`
	// UseDefaults adds DefaultDeniedCommands; nil means true.
	UseDefaults *bool `json:"useDefaults,omitempty" default:"true" desc:"Also block the built-in list of dangerous system commands (shutdown, reboot, mkfs, insmod, chroot, ...). Unset means true."`
}

// SSHConfig is the "ssh" section (reference §2.5). It applies to commands whose
// program is ssh, in preflight only.
type SSHConfig struct {
	// AllowedHosts lists host globs that may be reached.
	AllowedHosts []string `json:"allowedHosts,omitempty" desc:"Host patterns ssh may connect to; * matches any run of characters (\"*.example.com\", \"prod-*\", \"*\"). Case-insensitive."`
	// DeniedHosts lists host globs that are refused, checked first.
	DeniedHosts []string `json:"deniedHosts,omitempty" desc:"Host patterns ssh may not connect to, checked before allowedHosts."`
	// AllowedCommands lists remote command prefixes allowed in allowlist mode.
	AllowedCommands []string `json:"allowedCommands,omitempty" desc:"Remote command prefixes that may run over ssh (allowlist mode). Interactive sessions need no entry."`
	// DeniedCommands lists remote command prefixes that are refused.
	DeniedCommands []string `json:"deniedCommands,omitempty" desc:"Remote command prefixes that may not run over ssh, checked before everything else."`
	// AllowAllCommands switches to denylist mode.
	AllowAllCommands bool `json:"allowAllCommands,omitempty" desc:"Denylist mode: allow every remote command not matched by deniedCommands."`
	// InheritDeny applies command.deny (and the defaults) to remote commands.
	InheritDeny bool `json:"inheritDeny,omitempty" desc:"Also apply command.deny, and the default list when useDefaults is on, to remote commands."`
}

// Default returns the configuration used when no file applies: no network,
// no writes outside what the runtime always provides, default command denies
// on. It is empty: every default is expressed by a zero value.
func Default() *Config {
	return &Config{}
}

// defaultDeniedCommands is reference §2.4's exact list. It is unexported so
// no caller can modify it; DefaultDeniedCommands returns a copy.
var defaultDeniedCommands = [...]string{
	// Power state.
	"shutdown", "reboot", "halt", "poweroff", "init 0", "init 6",
	"systemctl poweroff", "systemctl reboot", "systemctl halt",
	// Kernel modules and kexec.
	"insmod", "rmmod", "modprobe", "kexec",
	// Disks and file systems.
	"mkfs", "mkfs.ext2", "mkfs.ext3", "mkfs.ext4", "mkfs.xfs", "mkfs.btrfs",
	"mkfs.vfat", "mkfs.ntfs", "fdisk", "parted", "dd if=",
	// Container and namespace escapes.
	"docker run -v /:/", "docker run --privileged", "chroot", "unshare", "nsenter",
}

// DefaultDeniedCommands returns the commands blocked when command.useDefaults
// is unset or true. The list is upstream's: note that "rm -rf" is not in it.
func DefaultDeniedCommands() []string {
	return slices.Clone(defaultDeniedCommands[:])
}

// DefaultsEnabled reports whether DefaultDeniedCommands apply (useDefaults is
// unset or true).
func (c *CommandConfig) DefaultsEnabled() bool {
	return c.UseDefaults == nil || *c.UseDefaults
}

// LocalOutbound reports whether connections to the host's localhost are
// allowed: allowLocalOutbound when set, otherwise allowLocalBinding.
func (n *NetworkConfig) LocalOutbound() bool {
	if n.AllowLocalOutbound != nil {
		return *n.AllowLocalOutbound
	}
	return n.AllowLocalBinding
}

// HostsMap parses Hosts ("ADDRESS NAME [NAME...]" lines) into a map from
// lower-case name to addresses. Validate has checked the syntax.
func (n *NetworkConfig) HostsMap() map[string][]netip.Addr {
	if len(n.Hosts) == 0 {
		return nil
	}
	m := map[string][]netip.Addr{}
	for _, line := range n.Hosts {
		f := hostsFields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			name = strings.TrimSuffix(strings.ToLower(name), ".")
			m[name] = append(m[name], a)
		}
	}
	return m
}

// AllowsAllDomains reports whether allowedDomains contains "*", which turns
// network isolation off (reference §2.2 "relaxed mode").
func (n *NetworkConfig) AllowsAllDomains() bool {
	return slices.Contains(n.AllowedDomains, "*")
}

// Clone returns a deep copy of c. It returns nil for nil.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	d := *c
	d.Network.AllowedDomains = slices.Clone(c.Network.AllowedDomains)
	d.Network.DeniedDomains = slices.Clone(c.Network.DeniedDomains)
	d.Network.AllowUnixSockets = slices.Clone(c.Network.AllowUnixSockets)
	d.Network.AllowLocalOutbound = cloneBool(c.Network.AllowLocalOutbound)
	d.Network.AllowLocalOutboundPorts = slices.Clone(c.Network.AllowLocalOutboundPorts)
	d.Network.Hosts = slices.Clone(c.Network.Hosts)
	d.Filesystem.WSLInterop = cloneBool(c.Filesystem.WSLInterop)
	d.Filesystem.AllowRead = slices.Clone(c.Filesystem.AllowRead)
	d.Filesystem.AllowExecute = slices.Clone(c.Filesystem.AllowExecute)
	d.Filesystem.DenyRead = slices.Clone(c.Filesystem.DenyRead)
	d.Filesystem.AllowWrite = slices.Clone(c.Filesystem.AllowWrite)
	d.Filesystem.DenyWrite = slices.Clone(c.Filesystem.DenyWrite)
	d.Command.Deny = slices.Clone(c.Command.Deny)
	d.Command.Allow = slices.Clone(c.Command.Allow)
	d.Command.UseDefaults = cloneBool(c.Command.UseDefaults)
	d.SSH.AllowedHosts = slices.Clone(c.SSH.AllowedHosts)
	d.SSH.DeniedHosts = slices.Clone(c.SSH.DeniedHosts)
	d.SSH.AllowedCommands = slices.Clone(c.SSH.AllowedCommands)
	d.SSH.DeniedCommands = slices.Clone(c.SSH.DeniedCommands)
	return &d
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

// Bool returns a pointer to b, for the optional boolean fields.
func Bool(b bool) *bool { return &b }

package config

// Merge returns base with override applied, by upstream's rules (reference
// §2.7):
//   - every list is base then override, de-duplicated, first occurrence kept;
//   - plain booleans are OR'd: an override cannot turn a base's true off;
//   - optional booleans (allowLocalOutbound, wslInterop, useDefaults) take the
//     override's value when it is set;
//   - httpProxyPort and socksProxyPort take the override's value when non-zero;
//   - extends and $schema are cleared, since inheritance has been resolved.
//
// Neither argument is modified; a nil argument counts as an empty config.
func Merge(base, override *Config) *Config {
	if base == nil {
		base = &Config{}
	}
	if override == nil {
		override = &Config{}
	}
	b, o := base, override
	return &Config{
		AllowPty: b.AllowPty || o.AllowPty,
		Network: NetworkConfig{
			AllowedDomains:          mergeList(b.Network.AllowedDomains, o.Network.AllowedDomains),
			DeniedDomains:           mergeList(b.Network.DeniedDomains, o.Network.DeniedDomains),
			AllowUnixSockets:        mergeList(b.Network.AllowUnixSockets, o.Network.AllowUnixSockets),
			AllowAllUnixSockets:     b.Network.AllowAllUnixSockets || o.Network.AllowAllUnixSockets,
			AllowLocalBinding:       b.Network.AllowLocalBinding || o.Network.AllowLocalBinding,
			AllowLocalOutbound:      mergeOptional(b.Network.AllowLocalOutbound, o.Network.AllowLocalOutbound),
			AllowLocalOutboundPorts: mergeList(b.Network.AllowLocalOutboundPorts, o.Network.AllowLocalOutboundPorts),
			HTTPProxyPort:           mergePort(b.Network.HTTPProxyPort, o.Network.HTTPProxyPort),
			SOCKSProxyPort:          mergePort(b.Network.SOCKSProxyPort, o.Network.SOCKSProxyPort),
			Hosts:                   mergeList(b.Network.Hosts, o.Network.Hosts),
		},
		Filesystem: FilesystemConfig{
			DefaultDenyRead: b.Filesystem.DefaultDenyRead || o.Filesystem.DefaultDenyRead,
			WSLInterop:      mergeOptional(b.Filesystem.WSLInterop, o.Filesystem.WSLInterop),
			AllowRead:       mergeList(b.Filesystem.AllowRead, o.Filesystem.AllowRead),
			AllowExecute:    mergeList(b.Filesystem.AllowExecute, o.Filesystem.AllowExecute),
			DenyRead:        mergeList(b.Filesystem.DenyRead, o.Filesystem.DenyRead),
			AllowWrite:      mergeList(b.Filesystem.AllowWrite, o.Filesystem.AllowWrite),
			DenyWrite:       mergeList(b.Filesystem.DenyWrite, o.Filesystem.DenyWrite),
			AllowGitConfig:  b.Filesystem.AllowGitConfig || o.Filesystem.AllowGitConfig,
		},
		Command: CommandConfig{
			Deny:        mergeList(b.Command.Deny, o.Command.Deny),
			Allow:       mergeList(b.Command.Allow, o.Command.Allow),
			UseDefaults: mergeOptional(b.Command.UseDefaults, o.Command.UseDefaults),
		},
		SSH: SSHConfig{
			AllowedHosts:     mergeList(b.SSH.AllowedHosts, o.SSH.AllowedHosts),
			DeniedHosts:      mergeList(b.SSH.DeniedHosts, o.SSH.DeniedHosts),
			AllowedCommands:  mergeList(b.SSH.AllowedCommands, o.SSH.AllowedCommands),
			DeniedCommands:   mergeList(b.SSH.DeniedCommands, o.SSH.DeniedCommands),
			AllowAllCommands: b.SSH.AllowAllCommands || o.SSH.AllowAllCommands,
			InheritDeny:      b.SSH.InheritDeny || o.SSH.InheritDeny,
		},
	}
}

// mergeList concatenates a and b into a new slice without duplicates, keeping
// the first occurrence. Unlike upstream it also de-duplicates within a single
// list, so the result never depends on which side was empty.
func mergeList[T comparable](a, b []T) []T {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make([]T, 0, len(a)+len(b))
	if len(a)+len(b) > 64 {
		seen := make(map[T]struct{}, len(a)+len(b))
		for _, l := range [2][]T{a, b} {
			for _, v := range l {
				if _, dup := seen[v]; !dup {
					seen[v] = struct{}{}
					out = append(out, v)
				}
			}
		}
		return out
	}
	// Short lists (the usual case): a linear scan beats building a map.
	for _, l := range [2][]T{a, b} {
	next:
		for _, v := range l {
			for _, w := range out {
				if v == w {
					continue next
				}
			}
			out = append(out, v)
		}
	}
	return out
}

func mergeOptional(base, override *bool) *bool {
	if override != nil {
		return cloneBool(override)
	}
	return cloneBool(base)
}

func mergePort(base, override int) int {
	if override != 0 {
		return override
	}
	return base
}

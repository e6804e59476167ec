package config

import (
	"reflect"
	"testing"
)

func TestMergeNil(t *testing.T) {
	if got := Merge(nil, nil); !reflect.DeepEqual(got, &Config{}) {
		t.Errorf("Merge(nil, nil) = %+v", got)
	}
	c := &Config{Extends: "code", Schema: "x", AllowPty: true, Command: CommandConfig{Deny: []string{"a", "a"}}}
	for _, got := range []*Config{Merge(nil, c), Merge(c, nil)} {
		want := &Config{AllowPty: true, Command: CommandConfig{Deny: []string{"a"}}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Merge with nil = %+v, want %+v", got, want)
		}
	}
	if c.Extends != "code" || len(c.Command.Deny) != 2 {
		t.Error("Merge modified its argument")
	}
}

func TestMergeLists(t *testing.T) {
	base := &Config{
		Network:    NetworkConfig{AllowedDomains: []string{"a.com", "b.com"}, AllowLocalOutboundPorts: []int{80, 443}},
		Filesystem: FilesystemConfig{AllowWrite: []string{".", "/tmp"}, AllowRead: []string{"x"}, AllowExecute: []string{"e"}},
		Command:    CommandConfig{Deny: []string{"git push"}},
		SSH:        SSHConfig{AllowedHosts: []string{"h1"}, DeniedCommands: []string{"rm"}},
	}
	over := &Config{
		Network:    NetworkConfig{AllowedDomains: []string{"b.com", "c.com"}, DeniedDomains: []string{"d.com"}, AllowLocalOutboundPorts: []int{443, 5432}},
		Filesystem: FilesystemConfig{AllowWrite: []string{"/tmp", "~/.cache"}, DenyRead: []string{"~/.ssh"}, AllowRead: []string{"y", "x"}},
		Command:    CommandConfig{Deny: []string{"npm publish", "git push"}, Allow: []string{"git push origin docs"}},
		SSH:        SSHConfig{AllowedHosts: []string{"h2", "h1"}, AllowedCommands: []string{"ls"}},
	}
	got := Merge(base, over)
	want := &Config{
		Network:    NetworkConfig{AllowedDomains: []string{"a.com", "b.com", "c.com"}, DeniedDomains: []string{"d.com"}, AllowLocalOutboundPorts: []int{80, 443, 5432}},
		Filesystem: FilesystemConfig{AllowWrite: []string{".", "/tmp", "~/.cache"}, DenyRead: []string{"~/.ssh"}, AllowRead: []string{"x", "y"}, AllowExecute: []string{"e"}},
		Command:    CommandConfig{Deny: []string{"git push", "npm publish"}, Allow: []string{"git push origin docs"}},
		SSH:        SSHConfig{AllowedHosts: []string{"h1", "h2"}, AllowedCommands: []string{"ls"}, DeniedCommands: []string{"rm"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge =\n%+v\nwant\n%+v", got, want)
	}
	// Results do not alias the inputs.
	got.Network.AllowedDomains[0] = "changed"
	if base.Network.AllowedDomains[0] != "a.com" {
		t.Error("Merge result aliases base")
	}
}

func TestMergeLongListsDeduplicated(t *testing.T) {
	var a, b []string
	for i := range 100 {
		a = append(a, string(rune('a'+i%26))+"x")
		b = append(b, string(rune('a'+i%30))+"x")
	}
	got := mergeList(a, b)
	if len(got) != 30 || got[0] != "ax" || got[26] != "{x" {
		t.Errorf("mergeList long = %d entries %q", len(got), got)
	}
}

func TestMergeBooleansOR(t *testing.T) {
	on := &Config{
		AllowPty:   true,
		Network:    NetworkConfig{AllowAllUnixSockets: true, AllowLocalBinding: true},
		Filesystem: FilesystemConfig{DefaultDenyRead: true, AllowGitConfig: true},
		SSH:        SSHConfig{AllowAllCommands: true, InheritDeny: true},
	}
	off := &Config{}
	for _, got := range []*Config{Merge(on, off), Merge(off, on)} {
		if !got.AllowPty || !got.Network.AllowAllUnixSockets || !got.Network.AllowLocalBinding ||
			!got.Filesystem.DefaultDenyRead || !got.Filesystem.AllowGitConfig ||
			!got.SSH.AllowAllCommands || !got.SSH.InheritDeny {
			t.Errorf("OR'd booleans lost: %+v", got)
		}
	}
}

func TestMergeOptionalBools(t *testing.T) {
	tests := []struct {
		base, over, want *bool
	}{
		{nil, nil, nil},
		{Bool(true), nil, Bool(true)},
		{nil, Bool(false), Bool(false)},
		{Bool(true), Bool(false), Bool(false)},
		{Bool(false), Bool(true), Bool(true)},
	}
	for _, tt := range tests {
		b := &Config{Network: NetworkConfig{AllowLocalOutbound: tt.base}, Filesystem: FilesystemConfig{WSLInterop: tt.base}, Command: CommandConfig{UseDefaults: tt.base}}
		o := &Config{Network: NetworkConfig{AllowLocalOutbound: tt.over}, Filesystem: FilesystemConfig{WSLInterop: tt.over}, Command: CommandConfig{UseDefaults: tt.over}}
		got := Merge(b, o)
		for name, p := range map[string]*bool{"allowLocalOutbound": got.Network.AllowLocalOutbound, "wslInterop": got.Filesystem.WSLInterop, "useDefaults": got.Command.UseDefaults} {
			if !reflect.DeepEqual(p, tt.want) {
				t.Errorf("%s: Merge(%v, %v) = %v, want %v", name, deref(tt.base), deref(tt.over), deref(p), deref(tt.want))
			}
		}
		if tt.over != nil && got.Command.UseDefaults == tt.over {
			t.Error("Merge returned the override's pointer")
		}
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func TestMergePorts(t *testing.T) {
	got := Merge(&Config{Network: NetworkConfig{HTTPProxyPort: 3128, SOCKSProxyPort: 1080}}, &Config{Network: NetworkConfig{HTTPProxyPort: 8080}})
	if got.Network.HTTPProxyPort != 8080 || got.Network.SOCKSProxyPort != 1080 {
		t.Errorf("ports = %d, %d", got.Network.HTTPProxyPort, got.Network.SOCKSProxyPort)
	}
}

func TestLocalOutboundDefault(t *testing.T) {
	n := NetworkConfig{AllowLocalBinding: true}
	if !n.LocalOutbound() {
		t.Error("unset allowLocalOutbound should follow allowLocalBinding")
	}
	n.AllowLocalOutbound = Bool(false)
	if n.LocalOutbound() {
		t.Error("explicit false ignored")
	}
}

func TestClone(t *testing.T) {
	c, err := Template("code")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Clone()
	if !reflect.DeepEqual(c, d) {
		t.Fatal("Clone differs")
	}
	d.Command.Deny[0] = "x"
	*d.Command.UseDefaults = false
	if c.Command.Deny[0] == "x" || !*c.Command.UseDefaults {
		t.Error("Clone shares memory")
	}
	if (*Config)(nil).Clone() != nil {
		t.Error("Clone(nil) != nil")
	}
}

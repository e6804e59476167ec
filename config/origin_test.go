package config

import (
	"path/filepath"
	"slices"
	"testing"
)

// SetBy names the sources a resolved value came from: every source of a
// list entry or a true boolean, the last source of an overriding value.
func TestSetBy(t *testing.T) {
	e := newEnv(t)
	base := filepath.Join(e.cwd, "base.json")
	top := filepath.Join(e.cwd, "top.json")
	write(t, base, `{"extends": "code-strict", "network": {"httpProxyPort": 8080, "socksProxyPort": 9000, "allowLocalOutboundPorts": [5000]}}`)
	write(t, top, `{"extends": "./base.json", "network": {"httpProxyPort": 8081, "allowLocalOutboundPorts": [5000, 6000]}, "filesystem": {"defaultDenyRead": true}}`)
	o := e.opts()
	o.SettingsPath = top
	_, sources, err := Resolve(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		field string
		value any
		want  []string
	}{
		{"network.httpProxyPort", 8081, []string{top}},
		{"network.httpProxyPort", nil, []string{top}},
		{"network.httpProxyPort", 8080, nil}, // overridden
		{"network.socksProxyPort", 9000, []string{base}},
		{"network.allowLocalOutboundPorts", 5000, []string{base, top}},
		{"network.allowLocalOutboundPorts", 6000, []string{top}},
		{"network.allowLocalOutboundPorts", 7000, nil},
		{"filesystem.defaultDenyRead", nil, []string{`template "code-strict"`, top}},
		{"network.allowLocalOutbound", true, []string{`template "code"`}},
		{"command.useDefaults", nil, []string{`template "code"`}},
		{"network.allowedDomains", "github.com", []string{`template "code"`}},
		{"network.hosts", nil, nil},
		{"network.noSuchField", nil, nil},
	} {
		if got := SetBy(sources, c.field, c.value); !slices.Equal(got, c.want) {
			t.Errorf("SetBy(%s, %v) = %q, want %q", c.field, c.value, got, c.want)
		}
	}
	if got := SetBy([]Source{{Kind: SourceDefault}}, "network.httpProxyPort", nil); got != nil {
		t.Errorf("SetBy without sources from Resolve = %q, want nil", got)
	}
}

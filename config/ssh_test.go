package config

import (
	"errors"
	"strings"
	"testing"
)

// §7.3 SSH parsing.
func TestParseSSH(t *testing.T) {
	tests := []struct {
		cmd          string
		host, remote string
		isSSH        bool
	}{
		{"ssh server", "server", "", true},
		{"ssh user@server", "server", "", true},
		{"ssh -p 2222 server", "server", "", true},
		{"ssh -p2222 server ls", "server", "ls", true},
		{"ssh -i ~/.ssh/key user@server ls -la", "server", "ls -la", true},
		{"ssh -v -t server", "server", "", true},
		{"ssh -vt server top", "server", "top", true},
		{"ssh -o StrictHostKeyChecking=no server uptime", "server", "uptime", true},
		{"ssh -l admin -J bastion server", "server", "", true},
		{"/usr/bin/ssh server ls", "server", "ls", true},
		{`ssh server "ls -la /tmp"`, "server", "ls -la /tmp", true},
		{"ssh ssh://alice@server:2222 ls", "server", "ls", true},
		{"ssh -- server ls", "server", "ls", true},
		{"ssh -V", "", "", false},
		{"sshpass -p x ssh server", "", "", false},
		{"echo ssh server", "", "", false},
	}
	for _, tt := range tests {
		ex := extractCommands(tt.cmd)
		argv := normalizeArgv(ex.out[0].argvs[0])
		host, remote, ok := "", "", false
		if argv[0] == "ssh" {
			host, remote, ok = parseSSH(argv)
		}
		if host != tt.host || remote != tt.remote || ok != tt.isSSH {
			t.Errorf("parseSSH(%q) = %q, %q, %v; want %q, %q, %v", tt.cmd, host, remote, ok, tt.host, tt.remote, tt.isSSH)
		}
	}
}

func sshConfig(s SSHConfig) *Config {
	return &Config{SSH: s, Command: CommandConfig{UseDefaults: Bool(false)}}
}

func assertSSHBlocked(t *testing.T, c *Config, cmd string) *SSHBlockedError {
	t.Helper()
	err := CheckCommand(cmd, c)
	var se *SSHBlockedError
	if !errors.As(err, &se) {
		t.Errorf("CheckCommand(%q) = %v, want *SSHBlockedError", cmd, err)
		return nil
	}
	return se
}

// §7.3 SSH host policy.
func TestSSHHostPolicy(t *testing.T) {
	c := sshConfig(SSHConfig{
		AllowedHosts:     []string{"*.example.com", "prod-*"},
		DeniedHosts:      []string{"prod-db.example.com"},
		AllowAllCommands: true,
	})
	for _, cmd := range []string{"ssh server.example.com", "ssh prod-web", "ssh deploy@api.example.com uptime", "ssh SERVER.Example.COM"} {
		assertAllowed(t, c, cmd)
	}
	for _, cmd := range []string{"ssh other.domain.com", "ssh dev-server", "ssh prod-db.example.com", "ssh example.com"} {
		assertSSHBlocked(t, c, cmd)
	}
	se := assertSSHBlocked(t, c, "ssh prod-db.example.com")
	if se != nil && se.Error() != `SSH blocked: host matches denied pattern "prod-db.example.com" (host: prod-db.example.com)` {
		t.Errorf("message = %q", se.Error())
	}
	se = assertSSHBlocked(t, c, "ssh other.domain.com ls")
	if se != nil && se.Error() != "SSH command blocked: host not in allowedHosts (host: other.domain.com, command: ls)" {
		t.Errorf("message = %q", se.Error())
	}
}

// §7.3 SSH allowlist mode.
func TestSSHAllowlist(t *testing.T) {
	c := sshConfig(SSHConfig{
		AllowedHosts:    []string{"*"},
		AllowedCommands: []string{"ls", "cat", "grep", "tail -f"},
	})
	for _, cmd := range []string{"ssh server", "ssh server ls", "ssh server ls -la /var/log", "ssh server cat /etc/hosts", "ssh server tail -f /var/log/syslog", `ssh server "grep error /var/log/app.log"`} {
		assertAllowed(t, c, cmd)
	}
	for _, cmd := range []string{"ssh server tail /var/log/syslog", "ssh server rm -rf /", "ssh server env ls"} {
		assertSSHBlocked(t, c, cmd)
	}
	se := assertSSHBlocked(t, c, "ssh server rm -rf /tmp/x")
	if se != nil && se.Error() != `SSH command blocked: command "rm -rf /tmp/x" not in ssh.allowedCommands (host: server, command: rm -rf /tmp/x)` {
		t.Errorf("message = %q", se.Error())
	}
	// No allowedCommands and not denylist mode: every remote command is denied.
	c = sshConfig(SSHConfig{AllowedHosts: []string{"*"}})
	se = assertSSHBlocked(t, c, "ssh server ls")
	if se != nil && !strings.Contains(se.Reason, "no ssh.allowedCommands configured") {
		t.Errorf("reason = %q", se.Reason)
	}
	assertAllowed(t, c, "ssh server")
}

// §7.3 SSH denylist mode.
func TestSSHDenylistMode(t *testing.T) {
	c := sshConfig(SSHConfig{
		AllowedHosts:     []string{"*"},
		AllowAllCommands: true,
		DeniedCommands:   []string{"rm -rf", "shutdown", "chmod"},
	})
	for _, cmd := range []string{"ssh server ls", "ssh server cat file", "ssh server rm file", "ssh server git pull"} {
		assertAllowed(t, c, cmd)
	}
	for _, cmd := range []string{"ssh server rm -rf /", "ssh server shutdown -h now", "ssh server chmod 777 /etc/passwd", "ssh server nohup shutdown"} {
		assertSSHBlocked(t, c, cmd)
	}
	// sudo is not a wrapper preflight looks through (a known limit).
	assertAllowed(t, c, "ssh server sudo shutdown")
	se := assertSSHBlocked(t, c, "ssh server chmod 777 x")
	if se != nil && se.Reason != `command "chmod 777 x" matches ssh.deniedCommands "chmod"` {
		t.Errorf("reason = %q", se.Reason)
	}
}

// §7.3 SSH inheritDeny.
func TestSSHInheritDeny(t *testing.T) {
	c := &Config{
		Command: CommandConfig{Deny: []string{"git push", "npm publish"}},
		SSH:     SSHConfig{AllowedHosts: []string{"*"}, AllowAllCommands: true, InheritDeny: true},
	}
	for _, cmd := range []string{"ssh server git push", "ssh server npm publish", "ssh server shutdown", "ssh server 'ls && reboot'"} {
		assertSSHBlocked(t, c, cmd)
	}
	se := assertSSHBlocked(t, c, "ssh server git push origin")
	if se != nil && se.Reason != `command "git push origin" matches inherited global deny "git push"` {
		t.Errorf("reason = %q", se.Reason)
	}
	se = assertSSHBlocked(t, c, "ssh server reboot")
	if se != nil && se.Reason != `command "reboot" matches inherited default deny "reboot"` {
		t.Errorf("reason = %q", se.Reason)
	}
	assertAllowed(t, c, "ssh server git pull")
	// Without inheritDeny the local rules do not reach the remote side.
	c.SSH.InheritDeny = false
	assertAllowed(t, c, "ssh server git push")
	// With defaults off, inherit brings only the user rules.
	c.SSH.InheritDeny = true
	c.Command.UseDefaults = Bool(false)
	assertAllowed(t, c, "ssh server reboot")
}

// §7.3 No SSH config: everything is allowed.
func TestSSHNoPolicy(t *testing.T) {
	c := sshConfig(SSHConfig{AllowedCommands: []string{"ls"}})
	for _, cmd := range []string{"ssh anywhere", "ssh anywhere rm -rf /", "ssh -p 22 root@host shutdown"} {
		assertAllowed(t, c, cmd)
	}
}

// §7.3 CheckCommand integrates SSH, including behind wrappers and chains.
func TestSSHThroughCheckCommand(t *testing.T) {
	c := sshConfig(SSHConfig{AllowedHosts: []string{"*.example.com"}, AllowAllCommands: true})
	for _, cmd := range []string{"ls && ssh evil.com", "env ssh evil.com", `bash -c "ssh evil.com"`, "echo $(ssh evil.com cat /etc/passwd)"} {
		assertSSHBlocked(t, c, cmd)
	}
	assertAllowed(t, c, "ls && ssh a.example.com uptime")
	// command.allow does not lift the SSH policy.
	c.Command.Allow = []string{"ssh"}
	assertSSHBlocked(t, c, "ssh evil.com")
}

// §7.3 SSH chaining: the remote command is split like a local one.
func TestSSHChaining(t *testing.T) {
	c := sshConfig(SSHConfig{AllowedHosts: []string{"*"}, AllowedCommands: []string{"ls", "cat"}})
	for _, cmd := range []string{`ssh server "ls && rm -rf /"`, `ssh server "cat file; shutdown"`, `ssh server "ls | xargs rm"`, `ssh server "ls || rm -rf /"`, `ssh server 'ls $(rm -rf /)'`, `ssh server "bash -c 'rm x'"`} {
		assertSSHBlocked(t, c, cmd)
	}
	assertAllowed(t, c, `ssh server "ls && cat x | cat"`)
}

func TestMatchHost(t *testing.T) {
	tests := []struct {
		host, pattern string
		want          bool
	}{
		{"prod-web", "prod-*", true},
		{"prod-", "prod-*", true},
		{"dev-web", "prod-*", false},
		{"a.example.com", "*.example.com", true},
		{"a.b.example.com", "*.example.com", true},
		{"example.com", "*.example.com", false},
		{"web-1.prod.example.com", "web-*.prod.*.com", true},
		{"web-1.dev.example.org", "web-*.prod.*.com", false},
		{"192.168.1.20", "192.168.1.*", true},
		{"192.168.2.20", "192.168.1.*", false},
		{"anything", "*", true},
		{"HOST", "host", true},
		{"host", "h*s*t", true},
		{"hst", "h*s*t*x", false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a*a*a*a*a*a*a*a*b", false},
	}
	for _, tt := range tests {
		if got := MatchHost(tt.host, tt.pattern); got != tt.want {
			t.Errorf("MatchHost(%q, %q) = %v, want %v", tt.host, tt.pattern, got, tt.want)
		}
	}
}

func TestMatchDomain(t *testing.T) {
	tests := []struct {
		host, pattern string
		want          bool
	}{
		{"example.com", "example.com", true},
		{"EXAMPLE.com", "example.COM", true},
		{"api.example.com", "example.com", false},
		{"api.example.com", "*.example.com", true},
		{"a.b.example.com", "*.example.com", true},
		{"example.com", "*.example.com", false},
		{"badexample.com", "*.example.com", false},
		{"example.com.", "example.com", true},
		{"anything.org", "*", true},
		{"localhost", "localhost", true},
	}
	for _, tt := range tests {
		if got := MatchDomain(tt.host, tt.pattern); got != tt.want {
			t.Errorf("MatchDomain(%q, %q) = %v, want %v", tt.host, tt.pattern, got, tt.want)
		}
	}
}

package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// hangBound bounds one check of an input built to make the checker's work
// blow up. It detects a hang (a regression to exponential work), it does
// not measure speed: the 1-2 s bounds these tests had failed under -race
// and on a loaded machine. The checker's speed on such inputs is
// BenchmarkCheckCommandHostile's (bench_test.go).
const hangBound = 30 * time.Second

// policy builds a config with the given deny and allow rules and no
// default rules, like upstream's preflight tests.
func policy(deny, allow []string) *Config {
	return &Config{Command: CommandConfig{Deny: deny, Allow: allow, UseDefaults: Bool(false)}}
}

func assertBlocked(t *testing.T, c *Config, cmd string) *CommandBlockedError {
	t.Helper()
	err := CheckCommand(cmd, c)
	var be *CommandBlockedError
	if !errors.As(err, &be) {
		t.Errorf("CheckCommand(%q) = %v, want *CommandBlockedError", cmd, err)
		return nil
	}
	return be
}

func assertAllowed(t *testing.T, c *Config, cmd string) {
	t.Helper()
	if err := CheckCommand(cmd, c); err != nil {
		t.Errorf("CheckCommand(%q) = %v, want nil", cmd, err)
	}
}

// §7.3 BasicDeny.
func TestCheckCommandBasicDeny(t *testing.T) {
	c := policy([]string{"git push", "rm -rf"}, nil)
	for _, cmd := range []string{"git push", "rm -rf", "git push origin main", "rm -rf /", "rm -rf ."} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{"git status", "git pull", "rm file.txt", "rm -r dir", "echo git push"} {
		assertAllowed(t, c, cmd)
	}
}

// §7.3 Allow: command.allow overrides deny.
func TestCheckCommandAllowOverridesDeny(t *testing.T) {
	c := policy([]string{"git push"}, []string{"git push origin docs"})
	assertAllowed(t, c, "git push origin docs")
	assertAllowed(t, c, "git push origin docs --force")
	assertBlocked(t, c, "git push origin main")
	assertBlocked(t, c, "git push")
	// The allow rule applies to the wrapped command too.
	assertAllowed(t, c, "env git push origin docs")
	assertBlocked(t, c, "env git push origin main")
}

// §7.3 Defaults.
func TestCheckCommandDefaults(t *testing.T) {
	c := &Config{}
	for _, cmd := range []string{"shutdown", "shutdown -h now", "reboot", "halt", "insmod malicious.ko", "rmmod module", "mkfs.ext4 /dev/sda1"} {
		if be := assertBlocked(t, c, cmd); be != nil && !be.IsDefault {
			t.Errorf("CheckCommand(%q): IsDefault = false, want true", cmd)
		}
	}
	for _, cmd := range []string{"ls", "git status", "npm install"} {
		assertAllowed(t, c, cmd)
	}
	assertAllowed(t, &Config{Command: CommandConfig{UseDefaults: Bool(false)}}, "shutdown")
	// A nil config means Default(), whose defaults are on.
	if err := CheckCommand("reboot", nil); err == nil {
		t.Error("CheckCommand(reboot, nil) = nil, want blocked by default policy")
	}
}

// command -v and -V only look a name up: `command -v sudo` in a script's
// check for sudo runs nothing, while command without them runs the name.
func TestCheckCommandLookupOnly(t *testing.T) {
	c := policy([]string{"sudo", "git push"}, nil)
	for _, cmd := range []string{
		"command -v sudo",
		"command -V sudo",
		"command -pv sudo",
		"command -p -V sudo",
		"command -v sudo >/dev/null && echo has sudo",
		"command -v git push",
		"builtin command -v sudo",
	} {
		assertAllowed(t, c, cmd)
	}
	assertAllowed(t, &Config{}, "command -v reboot || echo none")
	for _, cmd := range []string{
		"command sudo ls",
		"command -p sudo ls",
		"command -- sudo ls",
		"command -v sudo && sudo ls",
		"command -p -- git push",
	} {
		assertBlocked(t, c, cmd)
	}
	assertBlocked(t, &Config{}, "command reboot")
}

func TestCheckCommandDefaultMessage(t *testing.T) {
	err := CheckCommand("ls; shutdown -h now", &Config{})
	want := `command blocked by default sandbox command policy: "shutdown -h now" matches "shutdown"`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	err = CheckCommand("ls && git push origin main", policy([]string{"git push"}, nil))
	want = `command blocked by sandbox command policy: "git push origin main" matches "git push"`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}

// dd if= never matched upstream (its prefix test needs "dd if= "); a rule
// token ending in = is a presence check here.
func TestCheckCommandAssignmentToken(t *testing.T) {
	c := &Config{}
	assertBlocked(t, c, "dd if=/dev/zero of=/dev/sda bs=1M")
	assertBlocked(t, c, "dd of=/dev/sda if=/dev/zero")
	assertAllowed(t, c, "dd --version")
}

// §7.3 Chains.
func TestCheckCommandChains(t *testing.T) {
	c := policy([]string{"git push", "rm -rf"}, nil)
	blocked := []string{
		"ls && git push", "git push && ls", "ls && pwd && git push",
		"ls || git push", "git push || ls",
		"ls; git push", "git push; ls", "ls;git push",
		"ls | git push", "git push | cat",
		"echo hi && rm -rf /tmp/x",
		"ls & git push", "git push & ls",
		"ls\ngit push",
	}
	for _, cmd := range blocked {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{"git status | grep modified", "ls && pwd", "echo 'a && git push'"} {
		assertAllowed(t, c, cmd)
	}
}

// §7.3 Nested shells.
func TestCheckCommandNestedShells(t *testing.T) {
	c := policy([]string{"git push", "rm -rf"}, nil)
	blocked := []string{
		`bash -c "git push"`, `sh -c 'git push'`, `zsh -c "git push origin main"`,
		`bash -c 'ls && git push'`, `bash -c "ls; rm -rf /"`,
		`bash -lc "git push"`, `/bin/bash -c "git push"`, `/usr/bin/zsh -c 'git push'`,
		`bash -c "bash -c 'git push'"`,
		`bash -o pipefail -c 'git push'`, `bash -e -c 'git push'`, `dash -c 'git push'`,
		`fish -c 'git push'`, `fish --command='git push'`, `ksh -c 'git push'`,
		`"$SHELL" -c 'git push'`,
	}
	for _, cmd := range blocked {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{`bash -c "git status"`, `sh -c 'ls -la'`, `bash -lc 'echo git push'`, `bash script.sh`} {
		assertAllowed(t, c, cmd)
	}
}

// §7.3 Path normalization.
func TestCheckCommandPathNormalization(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{"/usr/bin/git push", "/usr/local/bin/git push origin main", "./git push", "../bin/git push"} {
		assertBlocked(t, c, cmd)
	}
}

// §7.3 Quotes.
func TestCheckCommandQuotes(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	assertBlocked(t, c, `git push "origin" "main"`)
	assertBlocked(t, c, `"git" 'push'`)
	assertBlocked(t, c, `g"i"t p\ush`)
	assertBlocked(t, c, `$'git' $'\x70ush'`)
	assertAllowed(t, c, `echo "git push"`)
	assertAllowed(t, c, `grep "git push" log.txt`)
	assertAllowed(t, c, `"git push"`) // one word: a program named "git push"
}

// A NUL in $'...' (or a value of ${X@E}) ends the string there, as bash
// has it, and is no word break: preflight took the NUL for its own
// separator of array elements, and `git pu$'\0'sh` (git push) was
// checked as git pu sh.
func TestCheckCommandANSICNul(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`git pu$'\0'sh`,
		`git pu$'\x00x'sh`,
		`git pu$'\c@'sh`,
		`git pu$'\u0000'sh`,
		`X=pu$'\0'sh; git $X`,
		`git "pu"$'s\0x'h`,
		`read -r -d $'\0' x < <(printf 'push\0'); git $x`,
		`X='push\0x'; git ${X@E}`,
	} {
		assertBlocked(t, c, cmd)
	}
	assertAllowed(t, c, `git $'status\0push'`)
}

// §7.3 Edge cases.
func TestCheckCommandEdgeCases(t *testing.T) {
	c := policy([]string{"rm -rf"}, nil)
	for _, cmd := range []string{"", "   ", "\t\n", "rm", "rm -r", "rm -f", "rmdir foo"} {
		assertAllowed(t, c, cmd)
	}
	for _, cmd := range []string{"rm -rf", "rm -rf /"} {
		assertBlocked(t, c, cmd)
	}
}

// Bypasses upstream misses (reference §2.4 and §8 item 22).
func TestCheckCommandWrappersAndBypasses(t *testing.T) {
	c := policy([]string{"git push", "python3"}, nil)
	blocked := []string{
		// Positional parameters of sh -c, set -- and function calls,
		// and ${!name} indirection.
		`bash -c 'git "$@"' _ push`,
		`bash -c 'git $0' push`,
		`sh -c 'git "$1"' sh push`,
		`sh -c 'exec "$@"' sh git push`,
		`set -- push; git "$1"`,
		`set -- git push; "$@"`,
		`f(){ git "$@"; }; f push`,
		`f(){ "$@"; }; f git push`,
		`y=x; x=push; git ${!y}`,
		// The same script with other positional parameters, and a word
		// with several values, give every value.
		`sh -c 'git "$1"' _ status; sh -c 'git "$1"' _ push`,
		`for a in status push; do sh -c 'git "$1"' _ "$a"; done`,
		`bash -c 'git "$@"' _ log; bash -c 'git "$@"' _ push`,
		`x=status; x=push; f(){ git "$1"; }; f "$x"`,
		`x=status; x=push; set -- "$x" a; git "$@"`,
		`script -qc 'git push' /dev/null`,
		`script -q -c "git push"`,
		`script --command='git push' /dev/null`,
		"setpriv --reuid 1000 git push",
		"setpriv --reuid=1000 --clear-groups git push",
		"prlimit --nofile=1024 git push",
		"prlimit -n1024 -- git push",
		"dbus-run-session -- git push",
		"npx git push",
		"npx -y git@2 push",
		"npx --prefix /tmp git push",
		"bunx git push",
		"pnpm dlx git push",
		"pnpm exec git push",
		"yarn dlx -p git git push",
		"yarn exec git push",
		"npx --registry http://127.0.0.1:9/ git push",
		"npm exec -- git push",
		`npm x -c 'git push'`,
		`npx -c 'git push'`,
		"cat <<< 'git push' | bash",
		"cat <<EOF | sh\ngit push\nEOF",
		`cleanup(){ git "$@"; }; trap 'cleanup push' EXIT`,
		`f(){ git "$@"; }; eval "f push"`,
		"git -c alias.p=push p",
		"git -c alias.p=push -C /src p origin",
		"git -c alias.P=push p",
		"git -c ALIAS.p=push P",
		"npm exec -p git push",
		"npm x -p git push",
		"npm exec -pc 'git push'",
		`git -c 'alias.p=!git push' p`,
		`trap 'git push' EXIT`,
		`trap -- 'git push' INT TERM; sleep 9`,
		`bash -c "trap 'git push' EXIT"`,
		"command git push",
		"command -p git push",
		"env git push",
		"env -i PATH=/usr/bin HOME=/x git push",
		"env -u HOME git push",
		"env -- git push",
		`env -S "git push"`,
		"exec git push",
		"exec -a name git push",
		"nohup git push",
		"nohup git push &",
		"time git push",
		"command time -p git push",
		"nice git push",
		"nice -n 10 git push",
		"nice -5 git push",
		"timeout 10 git push",
		"timeout -s KILL 5s git push",
		"setsid git push",
		"stdbuf -oL git push",
		"ls | xargs git push",
		"ls | xargs -n 1 -I{} git push",
		"busybox git push",
		"watch git push",
		"watch -n 5 git push",
		"watch -n5 -d 'ls; git push'",
		"watch -x git push",
		"watch -tx git push",
		"watch -n 5 -x git push",
		"watch -x sh -c 'git push'",
		"watch -dpermanent git push",
		"watch -n5 -- git push",
		"watch --interval=2 git push",
		"flock /tmp/l git push",
		"flock -w 3 /tmp/l git push",
		"flock /tmp/l -c 'git push'",
		"taskset 0x1 git push",
		"taskset -c 0 git push",
		"chrt 0 git push",
		"chrt -o 0 git push",
		"env nice command git push",
		"builtin git push",
		"find . -exec git push \\;",
		// Clusters of short options whose last one takes a value.
		"env -iu HOME git push",
		"env -iC / git push",
		"env -iS 'git push'",
		"env -vS'git push'",
		"exec -ca name git push",
		"timeout -vs KILL 5 git push",
		"timeout -vk 1 5 git push",
		"ls | xargs -tn 1 git push",
		"ls | xargs -iI git push",
		"ls | xargs -lL git push",
		"ls | xargs -i git push",
		"flock -nw 5 /tmp/l git push",
		"ionice -tc 3 git push",
		"git -C . push",
		"git --no-pager push",
		"git -c core.sshCommand=x push",
		"X=git; $X push",
		"X=git Y=push; $X $Y",
		`export X=git; "$X" push`,
		"for g in git; do $g push; done",
		"${X:-git} push",
		"x=(git push); \"${x[@]}\"",
		"x=(git push); ${x[*]}",
		"x=(push git); ${x[1]} ${x[0]}",
		"x=(git); x+=(push); \"${x[@]}\"",
		"x=gi; x+=t; $x push",
		"x=(gi push); x+=t; ${x[@]}",
		"declare -a x=(pu y); x+=sh; git $x",
		// The case attributes change each value assigned.
		"declare -l x=PUSH; git $x",
		"typeset -l x; x=PUSH; git $x",
		"x=PUSH; declare -l x; x=$x; git $x",
		"f(){ local -u x=$1; git ${x,,}; }; f push",
		`declare "-l" x; x=PuSh; git $x`,
		"IFS=,; x=git,push; $x",
		// A prefix assignment leaves IFS as it was: $X is push there,
		// which splitting on u too (p sh) alone would miss.
		"IFS=u true; X=push; git $X",
		"IFS=u read a b <<< x; X=push; git $X",
		"IFS=p; IFS=' '; X=push; git $X",
		"X=git sh -c '$X push'",
		"x='git push'; $x",
		"{git,push}",
		"echo $(git push)",
		"echo `git push`",
		"(git push)",
		"{ git push; }",
		"cat <(git push)",
		"if true; then git push; fi",
		"while false; do git push; done",
		"f() { git push; }; f",
		"eval git push",
		`eval "ls; git push"`,
		"bash <<EOF\ngit push\nEOF",
		"bash <<< 'git push'",
		`echo "git push" | sh`,
		`printf 'git push' | bash -s`,
		"! git push",
		"python3 -c 'print(1)'",
		"/usr/bin/env python3 x.py",
	}
	for _, cmd := range blocked {
		assertBlocked(t, c, cmd)
	}
	allowed := []string{
		"git status",
		"env FOO=bar make",
		"command -v git",
		"timeout 10 make test",
		"echo git push",
		"cat git push", // arguments named like a rule
		"X=status; git $X",
		"x='git push'; \"$x\"", // one word: a program named "git push"
		"x=(echo git push); \"${x[@]}\"",
		"git pushall",
		"git -C /src status",
		`bash -c 'git "$@"' _ status`,
		`set -- status; git "$1"`,
		`f(){ git "$@"; }; f log`,
		`trap 'echo git push' EXIT`,
		"git -c alias.p=push status",
		"git -c alias.st=status st",
		"script -q /tmp/typescript",
		"prlimit -p 123",
		"npx eslint .",
		"pnpm install",
		"yarn add git",
		"pnpm exec eslint .",
		"npx eslint -c 'git push' .", // eslint's -c
		"npm exec -- eslint .",
		`trap - INT; trap -p`,
	}
	for _, cmd := range allowed {
		assertAllowed(t, c, cmd)
	}
	// Known false positive, accepted: an option value equal to the
	// subcommand looked for is taken for the subcommand.
	assertBlocked(t, c, "git -C push status")
}

// npm runs a command given by a unique prefix of its name or by an alias:
// a rule names the command, and its spellings match too.
func TestCheckCommandNpmSpellings(t *testing.T) {
	c := policy([]string{"npm publish", "npm run-script"}, nil)
	for _, cmd := range []string{"npm publish", "npm pu --dry-run", "npm publ", "npm --dry-run publi",
		"npm -g pu", "npm -p pu", "npm --parseable pu", "npm run build", "npm rum build", "npm run-s build", "npx npm pu"} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{"npm install", "npm i pu", "npm p", "npm pack", "npm test", "npm install publish",
		"npm unpublish", "npm exec -- eslint", "npm -w pu test", "npm --workspace pub run-script-x"} {
		assertAllowed(t, c, cmd)
	}
	// npm reads camelCase as dashes.
	assertBlocked(t, c, "npm runScript build")
	assertAllowed(t, c, "npm Publish")
	// A rule naming a command by its alias matches its other spellings.
	c = policy([]string{"npm run", "npm i", "npm x"}, nil)
	for _, cmd := range []string{"npm run build", "npm run-script build", "npm rum build", "npm run-s build",
		"npm i x", "npm install x", "npm add x", "npm x foo", "npm exec foo"} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{"npm test", "npm ci", "npm start", "npm uninstall x", "npm init"} {
		assertAllowed(t, c, cmd)
	}
}

// Unparseable input is checked by a conservative split, never waved through.
func TestCheckCommandUnparseable(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	blocked := []string{
		`git push "unterminated`,
		`echo "x; git push`,
		`ls && (git push`,
		`bash -c "git push`,
		"if then git push",
	}
	for _, cmd := range blocked {
		assertBlocked(t, c, cmd)
	}
	assertAllowed(t, c, `echo "unterminated`)
}

func TestCheckCommandDeepNesting(t *testing.T) {
	// Heredocs nest with linear growth, unlike quoting.
	nest := func(inner string, levels int) string {
		cmd := inner
		for i := range levels {
			tag := fmt.Sprintf("L%d", i)
			cmd = "bash <<" + tag + "\n" + cmd + "\n" + tag
		}
		return cmd
	}
	c := policy([]string{"git push"}, nil)
	be := assertBlocked(t, c, nest("true", maxShellDepth+1))
	if be != nil && !strings.Contains(be.Error(), "levels deep") {
		t.Errorf("error = %v, want a nesting reason", be)
	}
	// Within the limit, nesting is followed.
	assertAllowed(t, c, nest("true", maxShellDepth))
	assertBlocked(t, c, nest("git push", maxShellDepth))
	cmd := "git push"
	for range 4 {
		cmd = "bash -c " + shellQuote(cmd)
	}
	assertBlocked(t, c, cmd)

	// Variants of one command share their nested script: it is parsed
	// once, so eight values of X and deep nesting stay cheap.
	vars := "X=1; X=2; X=3; X=4; X=5; X=6; X=7; X=8; "
	start := time.Now()
	assertAllowed(t, c, vars+nest("bash $X -x", maxShellDepth))
	if d := time.Since(start); d > hangBound {
		t.Errorf("nested variants took %v", d)
	}
}

// Input that would need more parsing than the budget allows is marked, and
// CheckCommand then blocks it (as for too deep nesting, tested above).
func TestExtractParseBudget(t *testing.T) {
	ex := &extractor{vars: map[string][]string{}, budget: 100}
	ex.script(`bash -c "`+strings.Repeat("x", 80)+`"`, 0)
	if ex.tooDeep == "" {
		t.Error("budget exceeded but not reported")
	}
	ex = &extractor{vars: map[string][]string{}, budget: 1000}
	ex.script(`bash -c "`+strings.Repeat("x", 80)+`"`, 0)
	if ex.tooDeep != "" {
		t.Error("within budget but reported")
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// §7.3 normalizeCommand.
func TestNormalizeCommand(t *testing.T) {
	tests := map[string]string{
		"/usr/local/bin/git push origin main": "git push origin main",
		"  git   push  ":                      "git push",
		"":                                    "",
		"./git push":                          "git push",
	}
	for in, want := range tests {
		if got := normalizeCommand(in); got != want {
			t.Errorf("normalizeCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

// §7.3 matchesPrefix.
func TestMatchesPrefix(t *testing.T) {
	tests := []struct {
		cmd, prefix string
		want        bool
	}{
		{"git push", "git push", true},
		{"git push origin main", "git push", true},
		{"git pushall", "git push", false},
		{"gitpush", "git push", false},
		{"git", "git push", false},
		{"rm -rf /", "rm -rf", true},
		{"rm -r -f /", "rm -rf", false},
		{"/usr/bin/git push", "git push", true},
		{"git push", "/usr/bin/git push", true},
		{"docker --debug run --privileged x", "docker run --privileged", true},
		{"", "git", false},
		// After the subcommand, a rule's option may follow other options.
		{"docker run --rm --privileged x", "docker run --privileged", true},
		{"git push -u origin --force", "git push --force", true},
		{"git push origin --force", "git push --force", false},
		{"rm -v -rf /", "rm -rf", false},
		// A HOST:PATH mapping ending in "/" is a prefix; other tokens are not.
		{"docker run -v /:/host x", "docker run -v /:/", true},
		{"docker run -v /etc:/host x", "docker run -v /:/", false},
		{"rm -rf /tmp", "rm -rf /", false},
		{"ls /etc/passwd", "ls /etc/", false},
	}
	for _, tt := range tests {
		if got := matchesPrefix(tt.cmd, tt.prefix); got != tt.want {
			t.Errorf("matchesPrefix(%q, %q) = %v, want %v", tt.cmd, tt.prefix, got, tt.want)
		}
	}
}

// The code template's rules work end to end.
func TestCheckCommandCodeTemplate(t *testing.T) {
	c, err := Template("code")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"git push", "sudo rm x", "gh pr create --fill", "npm publish", "git checkout -- .", "reboot"} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{"git checkout main", "gh pr view 3", "npm install", "go test ./..."} {
		assertAllowed(t, c, cmd)
	}
}

func TestRuntimeDenyTokens(t *testing.T) {
	c := &Config{Command: CommandConfig{Deny: []string{"python3", " /usr/bin/python3 ", "git push", "dd if=", "python*", "", "a|b", "python3", ".", ".."}}}
	got := RuntimeDenyTokens(c)
	want := append([]string{"python3", "/usr/bin/python3"},
		"shutdown", "reboot", "halt", "poweroff", "insmod", "rmmod", "modprobe", "kexec",
		"mkfs", "mkfs.ext2", "mkfs.ext3", "mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "mkfs.vfat", "mkfs.ntfs",
		"fdisk", "parted", "chroot", "unshare", "nsenter")
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("RuntimeDenyTokens =\n%q\nwant\n%q", got, want)
	}
	c.Command.UseDefaults = Bool(false)
	if got := RuntimeDenyTokens(c); strings.Join(got, ",") != "python3,/usr/bin/python3" {
		t.Errorf("without defaults: %q", got)
	}
	if got := RuntimeDenyTokens(nil); len(got) != 21 {
		t.Errorf("RuntimeDenyTokens(nil) has %d entries, want the 21 single-token defaults", len(got))
	}
}

func TestDefaultDeniedCommands(t *testing.T) {
	d := DefaultDeniedCommands()
	if len(d) != 29 {
		t.Fatalf("len = %d, want 29", len(d))
	}
	for _, s := range d {
		if s == "rm -rf" {
			t.Error(`"rm -rf" is not an upstream default`)
		}
	}
	d[0] = "changed"
	if DefaultDeniedCommands()[0] != "shutdown" {
		t.Error("DefaultDeniedCommands returned the shared array")
	}
}

// A command substitution that is a plain echo or printf of words known
// before the command runs is evaluated: its output is the word (split into
// fields when unquoted), as bash would produce it.
func TestCheckCommandStaticSubstitution(t *testing.T) {
	c := policy([]string{"git push", "rm -rf"}, nil)
	blocked := []string{
		"git $(echo push)",
		"git `echo push`",
		`git "$(echo push)"`,
		"git $(echo push origin main)",
		"$(echo git) push",
		"$(echo git push)",
		"$(echo git push) origin",
		"$(echo) git push",
		"git $(echo -n push)",
		"git $(echo -e 'pu\\x73h')",
		"git $(echo -ne 'push\\n')",
		"git $(echo 'pu\\0163h')", // sh's echo decodes escapes without -e
		"git $(printf push)",
		"git $(printf %s push)",
		"git $(printf '%s\\n' push)",
		"git $(printf '%s %s' push origin)",
		"git $(printf 'p%sh' us)",
		"git $(printf -- push)",
		"git $(printf '\\x70ush')",
		"git $(printf %b 'pu\\x73h')",
		"git $(printf %05s push)", // " push", split
		"printf %05s push | xargs git",
		"bash <(printf 'git%05s' push)",
		"git $(echo $(echo push))",
		"X=push; git $(echo $X)",
		"X=$(echo push); git $X",
		"git $(echo '  push  ')",
		"rm $(echo -rf) /",
		"rm `printf -- '-rf'` /",
		"git \"`echo push`\"",
	}
	for _, cmd := range blocked {
		assertBlocked(t, c, cmd)
	}
	allowed := []string{
		"git $(echo status)",
		"git `echo status`",
		"git $(echo pu; echo sh)", // git with "pu" and "sh"
		`git "$(echo pu sh)"`,     // one word "pu sh"
		"git $(echo pushall)",
		"git $(printf '%s' pull)",
		"git $(echo -n)",
		"echo $(echo git push)", // output is an argument of echo
		"git $(cat push)",       // not echo: dynamic, as before
		"git $(echo $UNKNOWN)",
		"git $(printf %d 1)",
		"$(echo) true",
	}
	for _, cmd := range allowed {
		assertAllowed(t, c, cmd)
	}
}

// A script that a shell or source reads from a process substitution or
// from its standard input is checked when its text is known.
func TestCheckCommandScriptFromSubstitution(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	blocked := []string{
		"source <(echo git push)",
		". <(printf 'git push')",
		". <(printf '%s %s\\n' git push)",
		"bash <(echo git push)",
		"sh <(echo 'ls; git push')",
		"bash -e <(echo git push)",
		"bash <(echo 'bash <(echo git push)')",
		"env bash <(echo git push)",
		"source <(echo 'X=git; $X push')",
		"bash < <(echo git push)",
		"bash /dev/stdin <<< 'git push'",
		"bash /dev/fd/0 <<< 'git push'",
		"bash - <<< 'git push'",
		"sh -s <<< 'git push'",
		"sh -s arg <<< 'git push'",
		"bash --rcfile x <<< 'git push'",
		"source /dev/stdin <<< 'git push'",
		". /dev/stdin <<EOF\ngit push\nEOF",
		"echo git push | bash /dev/stdin",
		"echo git push | source /dev/stdin",
		"printf '%s %s\\n' git push | sh",
	}
	for _, cmd := range blocked {
		assertBlocked(t, c, cmd)
	}
	allowed := []string{
		"source <(echo git status)",
		"source <(fence completion bash)",
		"bash <(echo echo git push)",
		"cat <(echo git push)",
		"diff <(echo git push) <(echo git pull)",
		"bash script.sh <<< 'git push'", // the script is a file, stdin is data
		"source env.sh <<< 'git push'",
		"bash - script.sh <<< 'git push'",
	}
	for _, cmd := range allowed {
		assertAllowed(t, c, cmd)
	}
}

// xargs appends the words it reads to the command it runs. When what it
// reads is known (an echo or printf of literal words, a here-string or
// heredoc), those words are appended before matching; otherwise the
// command is matched as written, so `find . | xargs rm` does not match a
// rule "rm -rf".
func TestCheckCommandXargsInput(t *testing.T) {
	c := policy([]string{"git push", "rm -rf"}, nil)
	blocked := []string{
		"echo push | xargs git",
		"echo push origin | xargs git",
		"printf 'push\\n' | xargs git",
		"printf '%s\\n' push | xargs -n1 git",
		"echo -rf / | xargs rm",
		"echo push | xargs -I{} git {}",
		"echo push | xargs -I {} git {} origin",
		"echo push | xargs --replace git {}",
		"printf 'push\\0' | xargs -0 git",
		"printf 'push,x' | xargs -d, git",
		"echo push | xargs -t git",
		"echo push | env xargs git",
		"echo push | xargs env git",
		"echo 'git push' | xargs -I{} sh -c {}",
		"xargs git <<< push",
		"xargs git <<EOF\npush\nEOF",
		"ls && echo push | xargs git",
		"echo push | xargs timeout 5 git",
		"echo pull push | xargs -n1 git",
		"printf 'a\npush\n' | xargs -L1 git",
		"echo push | xargs -E pull git",
		"xargs git < <(echo push)",
		"echo \"'push'\" | xargs git",
	}
	for _, cmd := range blocked {
		assertBlocked(t, c, cmd)
	}
	allowed := []string{
		"find . -name '*.o' | xargs rm",
		"find . -print0 | xargs -0 rm -f",
		"ls | xargs git add",
		"cat list | xargs git",
		"echo $FILES | xargs rm",
		"echo status | xargs git",
		"echo pushall | xargs git",
		"echo push | xargs -a list git", // reads list, not stdin
		"echo push | xargs -I{} git log {}",
		"echo -f x | xargs rm",
		"echo 'git push' | xargs echo",
		"echo push | xargs -n1 echo git",
		"echo push | xargs -0 git", // one item, "push\n"
		"echo push | xargs -d, git",
		"echo push pull | xargs -E push git",
	}
	for _, cmd := range allowed {
		assertAllowed(t, c, cmd)
	}
}

// The default "docker run -v /:/" (upstream's text) denies binding the
// host's root into a container, however the volume is spelled, and only
// the root.
func TestCheckCommandDockerRootVolume(t *testing.T) {
	c := &Config{}
	blocked := []string{
		"docker run -v /:/host alpine",
		"docker run -v /:/ alpine",
		"docker run --rm -v /:/mnt alpine",
		"docker run -it --rm -v /:/mnt alpine sh",
		"docker run -e A=b -v /data:/data -v /:/host alpine",
		"docker run --volume /:/host alpine",
		"docker run --volume=/:/host alpine",
		"docker run -v=/:/host alpine",
		"docker run -v/:/host alpine",
		"docker run -itv /:/host alpine",
		"docker run -v /:/host:ro alpine",
		"docker run -v //:/host alpine",
		"docker run -v /.:/host alpine",
		"docker run --mount type=bind,source=/,target=/host alpine",
		"docker run --mount=type=bind,src=/,dst=/host,readonly alpine",
		"docker run --mount source=/,target=/host,type=bind alpine",
		"docker --context x run -v /:/host alpine",
		"docker container run -v /:/host alpine",
		"/usr/bin/docker run -v /:/host alpine",
		"docker run --rm --privileged alpine",
		"docker run --name x --privileged alpine",
		"docker run --privileged=true alpine",
	}
	for _, cmd := range blocked {
		if be := assertBlocked(t, c, cmd); be != nil && !be.IsDefault {
			t.Errorf("CheckCommand(%q): IsDefault = false, want true", cmd)
		}
	}
	allowed := []string{
		"docker run -v /etc:/x alpine",
		"docker run -v /home/u/src:/src alpine",
		"docker run -v /data:/ alpine",
		"docker run --volume /etc:/host alpine",
		"docker run --mount type=bind,source=/etc,target=/host alpine",
		"docker run --mount type=volume,source=data,target=/ alpine",
		"docker run -v data:/data alpine",
		"docker run --rm alpine echo -v /:/x",
		// What follows the image is the container's command, also
		// after docker's own valueless options.
		"docker run --rm ubuntu --privileged",
		"docker run -d --init alpine --privileged",
		"docker ps",
		"docker build -t x .",
		"docker run -w / alpine ls",
		"docker volume create x",
		"docker run --privileged=false alpine",
	}
	for _, cmd := range allowed {
		assertAllowed(t, c, cmd)
	}
}

func TestEchoPrintfOutput(t *testing.T) {
	echo := []struct {
		args []string
		want []string
	}{
		{[]string{"a", "b"}, []string{"a b\n"}},
		{[]string{"-n", "a"}, []string{"a"}},
		{[]string{"-ne", `a\tb`}, []string{"a\tb"}},
		{[]string{"-e", `a\cb`}, []string{"a"}},
		{[]string{"-eE", `a\n`}, []string{`a\n` + "\n", "a\n\n"}},
		{[]string{`a\x41`}, []string{`a\x41` + "\n", "aA\n"}},
		{[]string{"-e", `\0101\0`}, []string{"A\x00\n"}},
		{[]string{"--", "-n"}, []string{"-- -n\n"}},
		{[]string{"-x"}, []string{"-x\n"}},
		{nil, []string{"\n"}},
	}
	for _, tt := range echo {
		if got := echoOutputs(tt.args); !slices.Equal(got, tt.want) {
			t.Errorf("echo %q = %q, want %q", tt.args, got, tt.want)
		}
	}
	printf := []struct {
		args []string
		want string
		ok   bool
	}{
		{[]string{"push"}, "push", true},
		{[]string{"%s %s\n", "a", "b", "c"}, "a b\nc \n", true},
		{[]string{"%s"}, "", true},
		{[]string{"x", "unused"}, "x", true},
		{[]string{`\x70\165\163h\n`}, "push\n", true},
		{[]string{"%b", `a\nb\cc`, "d"}, "a\nb", true},
		{[]string{"%5s|%-3s|%.2s", "a", "b", "xyz"}, "    a|b  |xy", true},
		{[]string{"%d-%i%%", "12", "-3"}, "12--3%", true},
		{[]string{"%c", "push"}, "p", true},
		{[]string{"--", "-rf"}, "-rf", true},
		{[]string{"%d", "x"}, "", false},
		{[]string{"%x", "1"}, "", false},
		{[]string{"%q", "a"}, "", false},
		{[]string{"%*s", "3", "a"}, "", false},
		{[]string{"%99999s", "a"}, "", false},
		{[]string{"-v", "x", "push"}, "", false},
		{nil, "", false},
		{[]string{"50%"}, "50%", true},
		// bash pads strings with blanks, "0" flag or not.
		{[]string{"%05s|%-05s|%05b|%03c|%05d", "ab", "ab", "ab", "ab", "7"}, "   ab|ab   |   ab|  a|00007", true},
	}
	for _, tt := range printf {
		got, ok := printfOutput(tt.args)
		if got != tt.want || ok != tt.ok {
			t.Errorf("printf %q = %q, %v, want %q, %v", tt.args, got, ok, tt.want, tt.ok)
		}
	}
}

// Nested and repeated substitutions are evaluated once each.
func TestCheckCommandStaticSubstitutionCost(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	deep := "git " + strings.Repeat("$(echo ", 2000) + "push" + strings.Repeat(")", 2000)
	wide := "git" + strings.Repeat(" $(echo $(echo a b) $(printf '%s ' c d))", 2000)
	for _, cmd := range []string{deep, wide} {
		start := time.Now()
		_ = CheckCommand(cmd, c)
		if d := time.Since(start); d > hangBound {
			t.Errorf("%d bytes took %v", len(cmd), d)
		}
	}
	assertBlocked(t, c, deep)
}

func TestXargsRuns(t *testing.T) {
	tests := []struct {
		argv  string
		input string
		want  string // runs joined by " | ", words by " "
	}{
		{"xargs git", "push origin\nmain\n", "git push origin main"},
		{"xargs", "a b", "echo a b"},
		{"xargs -n 1 git", "a b", "git a | git b"},
		{"xargs -n1 -t git", "a b", "git a | git b"},
		{"xargs --max-args=2 git", "a b c", "git a b | git c"},
		{"xargs -L 1 git", "a b\nc\n", "git a b | git c"},
		{"xargs -I {} git {} x{}", "a b\nc\n", "git a b xa b | git c xc"},
		{"xargs -I{} git {}", "  'a b'\n", "git a b"},
		{"xargs -i git {}", "a\n", "git a"},
		{"xargs --replace=% git %", "a\n", "git a"},
		{"xargs -0 git", "a b\x00c\x00", "git a b c"},
		{"xargs -0n1 git", "a b\x00c\x00", "git a b | git c"},
		{`xargs -d \n git`, "a b\nc\n", "git a b c"},
		{"xargs -d, -n1 git", "a,b", "git a | git b"},
		{"xargs -E stop git", "a stop b", "git a"},
		{"xargs git", `"a b" 'c' d\ e`, "git a b c d e"},
		{"xargs -a file git", "a", ""},
		{"xargs --arg-file=f git", "a", ""},
		{"xargs -d ab git", "a", ""}, // invalid delimiter: xargs fails
		{"xargs -- -x git", "a", "-x git a"},
		{"xargs git", "", ""},
	}
	for _, tt := range tests {
		runs, ok := xargsRuns(strings.Fields(tt.argv), tt.input)
		var got []string
		for _, r := range runs {
			got = append(got, strings.Join(r, " "))
		}
		if !ok || strings.Join(got, " | ") != tt.want {
			t.Errorf("xargsRuns(%q, %q) = %q, %v, want %q", tt.argv, tt.input, got, ok, tt.want)
		}
	}
	if _, ok := xargsRuns([]string{"xargs", "-n1", "git", "x"}, strings.Repeat("a ", maxXargsWords)); ok {
		t.Error("xargsRuns: no limit on the words produced")
	}
	// CheckCommand blocks what it cannot check.
	c := policy([]string{"git push"}, nil)
	be := assertBlocked(t, c, "printf '%s\\n' "+strings.Repeat("a ", maxXargsWords/2)+"| xargs -n1 git x")
	if be != nil && !strings.Contains(be.Error(), "xargs") {
		t.Errorf("error = %v, want an xargs reason", be)
	}
}

func TestDockerCanonical(t *testing.T) {
	tests := map[string]string{
		"docker run -v /:/host x":                        "",
		"docker run --volume /:/host x":                  "docker run -v /:/host x",
		"docker run --volume=/a:/b -v=/c:/d x":           "docker run -v /a:/b -v /c:/d x",
		"docker run -itv/x/:/y x":                        "docker run -it -v /x:/y x",
		"docker run -e A=b -v //:/h x":                   "docker run -e A=b -v /:/h x",
		"docker run --mount type=bind,src=/,dst=/h x":    "docker run -v /:/h x",
		"docker run --mount type=tmpfs,dst=/h x":         "",
		"docker -H tcp://h:1 container run -v /:/h x":    "docker -H tcp://h:1 run -v /:/h x",
		"podman run --volume /:/h x":                     "podman run -v /:/h x",
		"docker run x -- --volume /:/h":                  "",
		"docker ps --volume /:/h":                        "",
		"docker build --volume /:/h .":                   "",
		"nerdctl run --volume /:/h x":                    "",
		"docker run --volume":                            "",
		"docker run -itv":                                "",
		"docker run -v data:/data --volume data:/data x": "docker run -v data:/data -v data:/data x",
	}
	for in, want := range tests {
		got := strings.Join(dockerCanonical(strings.Fields(in)), " ")
		if got != want {
			t.Errorf("dockerCanonical(%q) = %q, want %q", in, got, want)
		}
	}
}

// A rule matches every spelling of a docker volume; an allow rule written
// for one spelling lifts the deny for the others.
func TestCheckCommandDockerSpellings(t *testing.T) {
	c := policy([]string{"docker run"}, []string{"docker run --volume /data:/data"})
	assertAllowed(t, c, "docker run --volume /data:/data alpine")
	assertAllowed(t, c, "docker run -v /data:/data alpine")
	assertBlocked(t, c, "docker run -v /etc:/data alpine")
	c = &Config{Command: CommandConfig{Allow: []string{"docker run -v /:/host"}}}
	assertAllowed(t, c, "docker run --volume /:/host alpine")
	assertBlocked(t, c, "docker run --volume /:/other alpine")
	c = policy([]string{"docker run -v /var/run/docker.sock:"}, nil)
	assertAllowed(t, c, "docker run --volume /var/run/docker.sock:/s alpine") // a token not ending in "/" is whole
}

// Values that double at each assignment are refused once one grows past
// the static-output limit, instead of growing (with every command that
// uses them) exponentially: 24 levels took 0.7 s, each level doubling it.
func TestCheckCommandDoublingVariables(t *testing.T) {
	var b strings.Builder
	b.WriteString("A0=ab;")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, " A%d=$A%d$A%d;", i, i-1, i-1)
	}
	b.WriteString(" echo $A40 $A39")
	err := CheckCommand(b.String(), Default())
	var blocked *CommandBlockedError
	if !errors.As(err, &blocked) || !strings.Contains(blocked.Reason, "longer than 64 KiB") {
		t.Fatalf("doubling variables: %v; want a refusal for the value's length", err)
	}
	// Short doubling chains are still evaluated: git $P with P=push.
	if err := CheckCommand("P=pu; Q=sh; R=$P$Q; git $R", &Config{Command: CommandConfig{Deny: []string{"git push"}}}); err == nil {
		t.Error("R=$P$Q; git $R passed a git push rule")
	}
}

// A value under the 64 KiB limit used many times made one short command
// line cost seconds (300 uses of a 61 KiB variable in 1.7 KB: 24 s and
// gigabytes, each word copying the command built so far). What variables
// and static output put into words is bounded now: past the budget the
// command is refused as too large to check, and refused fast.
func TestCheckCommandExpansionBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("A0='a a a a a a a a'")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "; A%d=$A%d$A%d", i, i-1, i-1)
	}
	def := b.String() // A12 is 61440 bytes, 30720 words
	c := policy([]string{"git push"}, nil)
	var many strings.Builder
	for i := range maxVariants {
		fmt.Fprintf(&many, " w%d", i)
	}
	for _, cmd := range []string{
		def + "; :" + strings.Repeat(" $A12", 300),
		def + "; :" + strings.Repeat(` "$A12"`, 300),
		def + "; : \"" + strings.Repeat("$A12", 300) + "\"{a,b}",
		def + "; sh <<EOF\n" + strings.Repeat("$A12 ", 300) + "\nEOF",
		def + "; xargs git <<EOF\n" + strings.Repeat("$A12 ", 300) + "\nEOF",
		def + "; :" + strings.Repeat(` $(printf '%s\n' $A12 $A12)`, 50),
		"F='" + strings.Repeat("%4096s", 1500) + "'; :" + strings.Repeat(` $(printf "$F")`, 100),
		// A variable of many values used all over a script fed to a
		// shell: every line's uses multiply (1.3 s before the
		// extraction stopped at the first refusal).
		"for x in" + many.String() + "; do :; done\nsh <<EOF\n" + strings.Repeat("git $x $x\n", 3000) + "EOF\n",
	} {
		start := time.Now()
		err := CheckCommand(cmd, c)
		d := time.Since(start)
		var blocked *CommandBlockedError
		if !errors.As(err, &blocked) || blocked.Reason == "" {
			t.Errorf("%.60q...: %v; want a refusal as too large to check", cmd, err)
		}
		if d > hangBound {
			t.Errorf("%.60q... took %v", cmd, d)
		}
	}
	// Ordinary uses of variables are not near the budget: a heredoc
	// template with hundreds of expansions, a loop variable, a long list.
	var tmpl strings.Builder
	tmpl.WriteString("X=bar; cat > cfg.yaml <<EOF\n")
	for i := range 300 {
		fmt.Fprintf(&tmpl, "key%d: $HOME/$USER/${X:-foo} $(echo v%d)\n", i, i)
	}
	tmpl.WriteString("EOF")
	files := "F='" + strings.Repeat("src/some/file.go ", 500) + "'"
	for _, cmd := range []string{
		tmpl.String(),
		"for f in a b c; do cp $f $f.bak && gofmt -l $f $f.bak; done",
		files + "; gofmt -l $F; go vet $F; wc -l $F $F $F $F $F $F $F $F",
	} {
		if err := CheckCommand(cmd, c); err != nil {
			t.Errorf("%.60q...: %v", cmd, err)
		}
	}
}

// A variable, word or static output keeps at most maxVariants values.
// Past that, values used to be dropped unchecked (`for x in a ... i push;
// do git "$x"; done` with eight kept passed a git push rule); the command
// line is refused now, and a loop over dozens of words is still checked
// value by value.
func TestCheckCommandTooManyValues(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	words := func(n int, last string) string {
		w := make([]string, 0, n+1)
		for i := range n {
			w = append(w, fmt.Sprintf("w%d", i))
		}
		return strings.Join(append(w, last), " ")
	}
	assign := func(n int, last string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X=w%d; ", i)
		}
		fmt.Fprintf(&b, "X=%s; ", last)
		return b.String()
	}
	// Within the limit: every value is checked, so the one that
	// matters is found wherever it comes.
	for _, cmd := range []string{
		"for x in " + words(40, "push") + `; do git "$x"; done`,
		assign(40, "push") + "git $X",
		"git {" + strings.Repeat("-p,", 40) + "push}",
		"X=status; X=push; a=(log $X); git ${a[1]}",
		"X=status; X=push; a=($X); git \"${a[@]}\"",
		"X=status; X=push; sh <<EOF\ngit $X\nEOF",
		"X=status; X=push; sh <<< \"git $X\"",
	} {
		be := assertBlocked(t, c, cmd)
		if be != nil && be.BlockedPrefix != "git push" {
			t.Errorf("%.50q...: %v, want the git push rule", cmd, be)
		}
	}
	// Two nested loops whose words combine past the limit.
	nest := 1
	for nest*nest <= maxVariants {
		nest++
	}
	// Past the limit: refused as beyond what preflight checks, the
	// value that matters being first or last.
	for _, cmd := range []string{
		"for x in " + words(maxVariants, "push") + `; do git "$x"; done`,
		"for x in push " + words(maxVariants, "x") + `; do git "$x"; done`,
		assign(maxVariants, "push") + "git $X",
		assign(maxVariants, "push") + "y=X; git ${!y}",
		"git {" + strings.Repeat("-p,", maxBraceFields) + "push}",
		"for x in " + words(nest, "pu") + "; do for y in " + words(nest, "sh") + `; do git "$x$y"; done; done`,
		"for x in " + words(nest, "git") + "; do for y in " + words(nest, "push") + `; do "$x" "$y"; done; done`,
		"for x in " + words(nest, "a") + "; do for y in " + words(nest, "push") + `; do f(){ git "$@"; }; f "$x" "$y"; done; done`,
		"for x in " + words(nest, "a") + "; do for y in " + words(nest, "push") + `; do a=("$x" "$y"); git "${a[@]}"; done; done`,
	} {
		be := assertBlocked(t, c, cmd)
		if be != nil && !strings.Contains(be.Reason, fmt.Sprintf("more than %d possible values", maxVariants)) && !strings.Contains(be.Reason, fmt.Sprintf("braces to more than %d words", maxBraceFields)) {
			t.Errorf("%.50q...: %v, want a refusal for too many values", cmd, be)
		}
	}
	// A variable with too many values that is never used, and loops
	// within the limit, are checked as usual.
	for _, cmd := range []string{
		"for x in " + words(maxVariants, "x") + "; do :; done; git status",
		"for f in " + words(40, "z.go") + `; do gofmt -l "$f"; done`,
		"for t in " + words(70, "TestZ") + `; do go test -run "$t" ./...; done`,
		`for a in 1 2 3 4 5; do for b in 1 2 3 4 5; do for c in 1 2 3; do echo "$a$b$c"; done; done; done`,
		"for x in " + words(7, "a") + "; do for y in " + words(7, "b") + `; do echo "$x$y"; done; done`,
	} {
		assertAllowed(t, c, cmd)
	}
}

// A refusal as beyond what preflight checks names the part of a long
// command line that is (the word, the loop's variable), not only "a
// word", and says what to do instead.
func TestCheckCommandTooManyNamesThePart(t *testing.T) {
	seq := strings.TrimSpace(strings.Repeat("1 2 3 4 5 6 7 8 9 ", 2)) // 9 values, 729 words of three
	cmd := "cd /src && make\nfor a in " + seq + "; do for b in " + seq + "; do for c in " + seq + "; do for d in 1 2 3 4 5 6; do echo \"$a$b$c$d\"; done; done; done; done"
	be := assertBlocked(t, nil, cmd)
	if be == nil {
		return
	}
	if msg := be.Error(); !strings.Contains(msg, `(at "$a$b$c$d")`) || !strings.Contains(msg, "split the loop or the command line") {
		t.Errorf("refusal names no part or no fix: %s", msg)
	}
	be = assertBlocked(t, nil, `git commit -m "$(printf '%5000s' x)"`)
	if be != nil && !strings.Contains(be.Error(), `(at "printf '%5000s' x")`) {
		t.Errorf("refusal names no part: %v", be)
	}
}

// A wrapper chain longer than maxUnwrap used to be cut there silently,
// so that `nice` seventeen times before `git push` passed a git push
// rule; it is refused now, in the parsed and the fallback path alike.
func TestCheckCommandTooManyWrappers(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		strings.Repeat("nice ", maxUnwrap+1) + "git push",
		strings.Repeat("env ", maxUnwrap+4) + "git push",
		strings.Repeat("command ", maxUnwrap) + "git push",
		"echo push | " + strings.Repeat("nice ", maxUnwrap) + "xargs git",
		strings.Repeat("nice ", maxUnwrap+1) + "git push '", // fallback
	} {
		assertBlocked(t, c, cmd)
	}
	assertAllowed(t, c, strings.Repeat("nice ", maxUnwrap-2)+"git status")
	assertBlocked(t, c, strings.Repeat("nice ", maxUnwrap-2)+"git push")
}

// A nested script already read was skipped when it came again, even
// when a variable had gained a value in between (by eval, sh -c, a
// trap...): `eval 'git $X'; eval X=push; eval 'git $X'` runs git push
// the second time, and passed a git push rule.
func TestCheckCommandNestedScriptReadAgain(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`eval 'git $X'; eval X=push; eval 'git $X'`,
		`trap 'git $X' EXIT; eval X=push; trap 'git $X' EXIT`,
		`eval 'git $X'; source <(echo X=push); eval 'git $X'`,
	} {
		assertBlocked(t, c, cmd)
	}
	assertAllowed(t, c, `eval 'git $X'; eval X=status; eval 'git $X'`)
}

// A function defined twice kept only its last body for calls in nested
// scripts: `f(){ git "$1"; }; eval 'f push'; f(){ :; }` runs git push, and
// passed a git push rule. Every body is read again with the arguments.
func TestCheckCommandFunctionRedefined(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`f(){ git "$1"; }; eval 'f push'; f(){ :; }`,
		`f(){ git "$1"; }; f(){ :; }; trap 'f push' EXIT`,
	} {
		assertBlocked(t, c, cmd)
	}
	assertAllowed(t, c, `f(){ git "$1"; }; eval 'f status'; f(){ :; }`)
}

// A function called by a name that is not a plain literal ("f", \f, $F,
// "${a[@]}") gave no positional parameters, and set without "--" (set
// push, set -eo pipefail push) none either: each ran git push with
// f(){ git "$1"; } and passed a git push rule.
func TestCheckCommandPositionalCallSpelling(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`f(){ git "$1"; }; "f" push`,
		`f(){ git "$1"; }; \f push`,
		`f(){ git "$1"; }; F=f; $F push`,
		`f(){ git "$1"; }; a=(f push); "${a[@]}"`,
		`f(){ git "$1"; }; f$(echo) push`,
		`f(){ git "$1"; }; eval '"f" push'`,
		`set push; git "$1"`,
		`set -eo pipefail push; git "$@"`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`f(){ git "$1"; }; "f" status`,
		`set -eo pipefail; git "$1" status`,
		`set -x; git status`,
	} {
		assertAllowed(t, c, cmd)
	}
}

// Static output too long to evaluate (a printf field wider than
// maxPrintfWidth, output past maxStaticOutput) was taken for a runtime
// value, so that git $(printf 'push%5000s') (git push and blanks) passed a
// git push rule. It is refused now.
func TestCheckCommandStaticOutputTooLong(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`git $(printf 'push%5000s')`,
		`git $(printf '%.5000s' push)`,
		`printf 'git push\n%5000s' | sh`,
		"git $(echo push; printf '" + strings.Repeat("%4000s", 17) + "')",
		"cat <<EOF | sh\n" + strings.Repeat(" ", 70000) + "git push\nEOF",
	} {
		be := assertBlocked(t, c, cmd)
		if be != nil && be.BlockedPrefix == "" && !strings.Contains(be.Reason, "KiB") {
			t.Errorf("%.50q...: %v, want a refusal as too long", cmd, be)
		}
	}
	assertAllowed(t, c, `git $(printf '%-20s' status)`)
}

// declare, export, local, readonly and typeset with a quoted argument
// ("X=push") or one built by an expansion gave no value to X: the parser
// sees no NAME=value there, so `declare "X=push"; git $X` passed a git
// push rule.
func TestCheckCommandQuotedDeclare(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`declare "X=push"; git $X`,
		`export "X=push"; git $X`,
		`f(){ local "X=push"; git $X; }; f`,
		`readonly X"=push"; git $X`,
		`typeset -x "X=pu"; typeset "X+=sh"; git $X`,
		`V="X=push"; export $V; git $X`,
		`declare "a=(status push)"; git "${a[1]}"`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`declare "X=status"; git $X`,
		`export "-n" "X=status"; git $X`,
		`declare "=push" "1X=push"; git $X`,
	} {
		assertAllowed(t, c, cmd)
	}
}

// ${X:+word} and ${X+word} were kept as their source text: `X=1; git
// ${X:+push}` runs git push and passed a git push rule. The word counts
// when X is known with a value (a non-empty one for :+), and both the
// word and "" when X is unknown. Likewise ${X:-word} and ${X:=word} were
// only the values of a known X, even an empty one (X=""; git ${X:-push}).
func TestCheckCommandAlternateValue(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`X=1; git ${X:+push}`,
		`X=; git ${X+push}`,
		`git ${X:+push}`,
		`X=1; ${X:+git push}`,
		`${X+git push}`,
		`X=1; Y=push; git "${X:+$Y}"`,
		`X=""; git ${X:-push}`,
		`X=; git ${X:=push}`,
		`X=status; X=; git ${X:-push}`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`X=; git ${X:+push} status`,
		`X=1; git ${X:+status}`,
		`git ${X:+-C dir} status`,
	} {
		assertAllowed(t, c, cmd)
	}
}

// A command with several redirections of standard input had no known
// output: `cat <<< x <<< 'git push' | sh` runs git push (bash reads the
// last one) and passed a git push rule.
func TestCheckCommandLastStdinRedirection(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`cat <<< x <<< 'git push' | sh`,
		"cat <<< x <<EOF | sh\ngit push\nEOF",
		`sh -c "$(cat <<< x <<< 'git push')"`,
		`cat <<< x < <(echo git push) | sh`,
		`git $(cat 2>/dev/null <<< x <<< push)`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`cat <<< 'git push' <<< 'git status' | sh`,
		`cat <<< 'git push' < file | sh`,
	} {
		assertAllowed(t, c, cmd)
	}
}

// A { } group or ( ) subshell piped into a shell was not read: its
// output was unknown, and only a simple echo or printf was read loosely,
// so `{ echo git push; } | sh` passed a git push rule. A group prints its
// statements' outputs one after the other; when one is not known, those
// that are, and the words of each echo or printf, are read as scripts.
func TestCheckCommandGroupPipedToShell(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`{ echo git push; } | sh`,
		`( echo git push ) | sh`,
		`{ printf 'git '; echo push; } | sh`,
		`( { echo push; } ) | xargs git`,
		`git $( { echo push; } )`,
		`{ echo git push; ls; } | sh`,
		`( ls && echo "git push $X" ) | bash`,
		`{ echo git push; } 2>/dev/null | sh`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`{ echo git status; echo git log; } | sh`,
		`{ echo git status; ls; } | sh`,
	} {
		assertAllowed(t, c, cmd)
	}
	// Groups nested in groups are evaluated once each.
	n := 20000
	deep := strings.Repeat("{ ", n) + "echo git push; ls;" + strings.Repeat(" }", n) + " | sh"
	start := time.Now()
	assertBlocked(t, c, deep)
	if d := time.Since(start); d > hangBound {
		t.Errorf("%d nested groups took %v", n, d)
	}
}

// A pipeline's output was only its last command's, and cat passed no
// input on: `echo git push | cat | sh` runs git push and passed a git push
// rule. cat with no file operand (and tee) reading a pipe prints what
// the commands before it print.
func TestCheckCommandPipeThroughCat(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`echo git push | cat | sh`,
		`echo git push | cat - | cat | bash`,
		`printf 'git push' | tee log | sh`,
		`echo push | cat | xargs git`,
		`git $(echo push | cat)`,
		`echo git push | { cat; } | sh`,
		`echo "git push $X" | cat | sh`,
		`{ echo git push; } | cat | sh`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`echo git push | cat file | sh`,
		`echo git push | grep -v push | cat | sh`,
		`echo git status | cat | sh`,
	} {
		assertAllowed(t, c, cmd)
	}
	// A long pipeline is evaluated once, however many commands read it.
	long := "echo push" + strings.Repeat(" | cat", 20000)
	for _, cmd := range []string{
		long + " | xargs {git,git,git,git,git,git,git,git} status",
		long + " | sh" + strings.Repeat(" | cat | sh", 2000),
	} {
		start := time.Now()
		CheckCommand(cmd, c)
		if d := time.Since(start); d > hangBound {
			t.Errorf("%.40q...: took %v", cmd, d)
		}
	}
}

// ${!y} with y naming an array element (y='a[1]') was kept as its source
// text: `a=(status push); y='a[1]'; git ${!y}` runs git push and passed a
// git push rule.
func TestCheckCommandIndirectArrayElement(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`a=(status push); y='a[1]'; git ${!y}`,
		`a=(git push); y=a[@]; "${!y}"`,
		`a=(git push); y='a[*]'; ${!y}`,
		`a=(status push); y='a[-1]'; git ${!y}`,
		`a=(status push); y='a[i+1]'; git ${!y}`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`a=(status push); y='a[0]'; git ${!y}`,
		`a=(status push); y=a; git ${!y}`,
		`a=(status push); y='a[5]'; git ${!y} log`,
	} {
		assertAllowed(t, c, cmd)
	}
}

// A nameref (declare -n r=X) was read as a plain variable: `declare -n
// r=X; X=push; git $r` runs git push and passed a git push rule. $r of
// a nameref is ${!r}, and an assignment to r assigns the variable it
// names.
func TestCheckCommandNameref(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`declare -n r=X; X=push; git $r`,
		`X=push; f(){ local -n r=X; git "$r"; }; f`,
		`typeset -gn r=X; X=push; git ${r}`,
		`declare "-n" "r=X"; X=push; git $r`,
		`a=(status push); declare -n r='a[1]'; git $r`,
		`a=(status push); declare -n r=a; git "${r[1]}"`,
		`declare -n r=X; r=push; git $X`,
		`declare -n r=push; git ${!r}`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`declare -n r=X; X=status; git $r`,
		`declare r=X; X=push; git $r`,
	} {
		assertAllowed(t, c, cmd)
	}
}

// Brace sequences ({a..c}, {1..3}) were kept whole: `git pu{s..s}h` runs
// git push and passed a git push rule. They are split into words as bash
// splits them, and refused past maxBraceFields words.
func TestCheckCommandBraceSequence(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`git pu{s..s}h`,
		`git {p..p}ush`,
		`git pu{s..s..3}h`,
		`{g..g}it push`,
		`git push{,}`,
		`git p{u..a..20}sh`,
		`echo git pu{s..s}h | sh`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`git pu{t..z}h`,
		`git {1..3} push`,
		`git pu{s..s..}h`,
		`git {o..p}ush`, // git oush push
	} {
		assertAllowed(t, c, cmd)
	}
	for _, cmd := range []string{
		"git {a..z}{a..z}{a..z}",
		"git {a,b}{a..z}{a..z}{a..z}",
		"git {a..z}{1..9223372036854775807}{a..z}{a..z}",
		"git " + strings.Repeat("{x,y}", 13),
	} {
		start := time.Now()
		be := assertBlocked(t, c, cmd)
		if be != nil && !strings.Contains(be.Reason, "braces to more than") {
			t.Errorf("%q: %v, want a refusal for too many words", cmd, be)
		}
		if d := time.Since(start); d > hangBound {
			t.Errorf("%q took %v", cmd, d)
		}
	}
	// Sequences of a hundred or so words, as agents write them, are
	// checked (they were refused at 64 words), and still split.
	for _, cmd := range []string{
		`printf '=%.0s' {1..80}; echo`,
		`touch test_{001..100}.txt`,
		`mkdir -p out/{1..100}`,
		`echo {a..y}{a..j}`,
		`mkdir -p d/{a..z}/{1..20}`,
		// A loop's integer sequences past the limit are left as
		// written (numericKept), the largest first.
		`for i in {1..10000}; do curl -s "127.0.0.1:8080/$i"; done`,
		"for i in {1.." + fmt.Sprint(maxBraceFields+1) + "}; do git $i; done",
		"for i in {1..9223372036854775807}{0..9223372036854775807}; do git $i; done",
		"for i in {0..9223372036854775807..2}x; do git $i; done",
	} {
		start := time.Now()
		assertAllowed(t, c, cmd)
		if d := time.Since(start); d > hangBound {
			t.Errorf("%q took %v", cmd, d)
		}
	}
	// Elsewhere, one word kept for thousands would move the words
	// after it, which set, functions, printf and xargs -n read by
	// position: such a word is refused like any other past the limit.
	for _, cmd := range []string{
		"echo {1..5000} push | xargs -n 2 git",
		`printf '%s%.0s\n' {1..5000} 'git push' | sh`,
		"set -- {1..5000} push; git ${5001}",
		"f() { shift 5000; git $1; }; f {1..5000} push",
		"git {1.." + fmt.Sprint(maxBraceFields+1) + "}",
		"git {1..9223372036854775807}{-9223372036854775808..9223372036854775807}",
		// Negative integers read as options (git -7 push): not kept
		// in a loop either.
		"for i in {-5000..-1}; do git $i push; done",
	} {
		start := time.Now()
		be := assertBlocked(t, c, cmd)
		if be != nil && !strings.Contains(be.Reason, "braces to more than") {
			t.Errorf("%q: %v, want a refusal for too many words", cmd, be)
		}
		if d := time.Since(start); d > hangBound {
			t.Errorf("%q took %v", cmd, d)
		}
	}
	assertBlocked(t, c, "git pu{s..s}h {1..200}")
	assertBlocked(t, c, "for i in {1..1000}; do git push; done")
	// Crafted words stay fast: each was seconds to minutes (a word of
	// 12,000 sequences, 12,000 {1..1} parts, 5,000 words of
	// {1..256}$X, 12,000 words of {1..256}).
	for _, cmd := range []string{
		"echo " + strings.Repeat("{1..256}", 12000),
		"echo " + strings.Repeat("x{1..1}", 12000),
		"X=a; X=b; echo " + strings.Repeat("{1..256}$X ", 5000),
		"echo " + strings.Repeat("{1..256} ", 12000),
	} {
		start := time.Now()
		CheckCommand(cmd, c)
		if d := time.Since(start); d > hangBound {
			t.Errorf("%.40q...: took %v", cmd, d)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"{a..e..2}", "a c e"},
		{"{5..1}", "5 4 3 2 1"},
		{"{-2..2..2}", "-2 0 2"},
		{"{01..10..3}", "01 04 07 10"},
		{"{Z..a}", "Z [ \\ ] ^ _ ` a"},
		{"{-05..-3}", "-05 -04 -03"},
		{"{1..3..-1}", "1 2 3"},
		{"x{1..2}{a..b}y", "x1ay x1by x2ay x2by"},
		{"{a..3}", "{a..3}"},
	} {
		argvs := extractCommands("echo " + tc.in).out[0].heads
		var got []string
		for _, argv := range argvs {
			got = append(got, strings.Join(argv[1:], " "))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s: %q, want %q", tc.in, g, tc.want)
		}
	}
}

// A loop's words and a function's arguments are the words bash makes of
// them: brace expansion and the splitting of unquoted expansions apply.
func TestCheckCommandLoopAndArgumentFields(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`for x in {push,a}; do git $x; done`,
		`L="a push"; for x in $L; do git "$x"; done`,
		`f(){ git "$1"; }; f {push,a}`,
		`f(){ git "$2"; }; L="a push"; f $L`,
		`set -- {a,push}; git "$2"`,
		`sh -c 'git "$1"' _ {push,a}`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`for x in {status,log}; do git $x; done`,
		`L="status log"; for x in $L; do git "$x"; done`,
		`f(){ git "$1" "$2"; }; f {status,--short}`,
	} {
		assertAllowed(t, c, cmd)
	}
}

// A loop's words and a function body's assignments are expanded with
// the positional parameters and the variables the script gives them,
// wherever in it: the walk meets them before a call of the function
// and before a later assignment.
func TestCheckCommandFunctionBodyReadAfterCalls(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`f(){ local y=$1; git $y; }; f push`,
		`f(){ y="$1"; git "$y"; }; f push`,
		`f(){ Y=$1; }; f push; git $Y`,
		`f(){ for x in "$@"; do git "$x"; done; }; f status push`,
		`f(){ for x; do git $x; done; }; f push`,
		`set -- push; for x in "$@"; do git $x; done`,
		`set -- push; for x; do git $x; done`,
		`sh -c 'for x; do git $x; done' _ push`,
		`f(){ for x in $L; do git $x; done; }; L=push; f`,
		`g(){ for y in $1; do git $y; done; }; g push`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`add(){ for f in "$@"; do git add "$f"; done; }; add a.go b.go; git commit -m x`,
		`main(){ local dir=$1; cd "$dir" && make; }; main "$@"`,
		`f(){ local y=$1; git $y; }; f status; f log`,
	} {
		assertAllowed(t, c, cmd)
	}
	// Each body is read once more, not once per call, and nested
	// definitions stay cheap.
	var calls, nested strings.Builder
	calls.WriteString(`f(){ local y=$1; for x in "$@"; do echo "$y$x"; done; }; `)
	for range 20000 {
		calls.WriteString("f a; ")
	}
	nested.WriteString("git $1")
	for i := range 15 {
		s := nested.String()
		nested.Reset()
		fmt.Fprintf(&nested, "f%d(){ x%d=$1; %s; }; f%d a%d", i, i, s, i, i)
	}
	for _, cmd := range []string{calls.String(), nested.String()} {
		start := time.Now()
		assertAllowed(t, c, cmd)
		if d := time.Since(start); d > hangBound {
			t.Errorf("%.40q...: took %v", cmd, d)
		}
	}
}

// An array's elements are the words bash makes of them, as a command's.
func TestCheckCommandArrayElementFields(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`a=({push,x}); git ${a[0]}`,
		`a=(x pu{s..s}h); git ${a[1]}`,
		`declare -a a=({push,x}); git ${a[0]}`,
		`L='a push'; a=($L); git ${a[1]}`,
		`a=(x {push,y}); git "${a[@]:1}" || git ${a[1]}`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`a=({status,log}); git ${a[0]}`,
		`a=(); git status "${a[@]}"`,
		`L='a push'; a=("$L"); git ${a[1]}`,
	} {
		assertAllowed(t, c, cmd)
	}
}

// A variable used more than once in one word has one value in all its
// uses, as bash expands the word at once: a heredoc using a two-valued
// variable a dozen times has two values, not 2^12 (it was refused as too
// many), and each value is still checked, in the substitutions of the
// word too.
func TestCheckCommandRepeatedVariableBound(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	body := strings.Repeat("echo $E $E\n", 12)
	for _, cmd := range []string{
		"E=dev; E=prod; bash <<EOF\n" + body + "EOF",
		"E=dev; E=prod; bash <<EOF\n" + body + "git $E\nEOF",
	} {
		assertAllowed(t, c, cmd)
	}
	for _, cmd := range []string{
		"X=status; X=push; bash <<EOF\n" + strings.Repeat("echo $X\n", 20) + "git $X\nEOF",
		"X=status; X=push; bash <<EOF\n$X $X\n$(echo git $X)\nEOF",
		"X=status; X=push; bash <<EOF\necho $X $X\n$(echo git $X) $(echo $X)\nEOF",
		`X=status; X=push; f(){ git "$X$Y"; }; Y=; f "$X" "$X"`,
	} {
		assertBlocked(t, c, cmd)
	}
	// A substitution evaluated before a variable gains a value is
	// evaluated again after: f's loop word reads $1, known once f's
	// call is read.
	assertBlocked(t, c, `f(){ for x in $(echo $1); do git $x; done; }; f push`)
}

// printf -v NAME assigns what printf would print, and preflight did not
// follow it: `printf -v x push; git "$x"` passed a git push rule. The
// value is evaluated as printf's output is; a format or words it does not
// evaluate give the variable a value it does not know, kept as the
// source text of each use (x=echo; printf -v x %x 1; $x -c '...' may run
// a shell), as an unknown variable's.
func TestCheckCommandPrintfAssign(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`printf -v x push; git "$x"`,
		`printf -v x '%s' push; git $x`,
		`printf -v x 'pu%s' sh; git $x`,
		`printf -v x '%b' 'pu\x73h'; git $x`,
		`printf -vx push; git $x`,
		`printf -v x -- push; git $x`,
		`builtin printf -v x push; git $x`,
		`command printf -v x push; git $x`,
		`"printf" -v x push; git $x`,
		`P=printf; $P -v x push; git $x`,
		`y=sh; printf -v x "pu$y"; git $x`,
		`printf -v x push; y=$x; git $y`,
		`f(){ printf -v x '%s' "$1"; git $x; }; f push`,
		`printf -v x 'git push'; eval "$x"`,
		`declare -n r=x; printf -v r push; git $x`,
		// A value not evaluated is unknown, not the values known.
		`x=echo; printf -v x '%x' 1; $x -c 'git push'`,
		`x=echo; printf -v x "$(cat f)"; "$x" -c 'git push'`,
		`x=echo; printf -v x "$(cat f)"; ${x:-echo} -c 'git push'`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`printf -v x status; git $x`,
		`printf -v x '%x' 255; git $x`,
		`printf -v x "$(cat f)"; git $x`,
		`printf -v 'a[1]' push; git status`,
		`printf -v x -n push; git $x`,
	} {
		assertAllowed(t, c, cmd)
	}
	// Known, but too long to evaluate: refused, as printf's output is.
	be := assertBlocked(t, c, `printf -v x '%5000s' push; git $x`)
	if be != nil && !strings.Contains(be.Reason, "field wider than") {
		t.Errorf("printf -v of a wide field: %v, want a refusal as too long", be)
	}
}

// read gave its names no value: `read -r x <<< push; git $x` passed a git
// push rule. A read of input the command line spells out (a heredoc, a
// here-string, <(...) or a command piped in, on the read or on a loop or
// group around it) splits it as bash does; any other input gives the
// names a value preflight does not know.
func TestCheckCommandReadAssign(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`read -r x <<< push; git $x`,
		`read x <<< push; git "$x"`,
		`y=push; read x <<< "$y"; git $x`,
		`read a b <<< "p push"; git $b`,
		`read a b <<< "p push x"; git $b`,
		`read a b <<< "  p   push  "; git "$b"`,
		`IFS=, read -r a b <<< "x,push"; git "$b"`,
		`IFS=, read -r a b <<< "x,push,"; git "$b"`,
		"read x <<EOF\npush\nEOF\ngit $x",
		"read x <<'EOF'\npush\nEOF\ngit $x",
		`read <<< push; git $REPLY`,
		`read -a a <<< "x push"; git "${a[1]}"`,
		`read -ra a <<< "x push"; git "${a[@]:1:1}" || git "${a[1]}"`,
		`read x <<< 'pu\sh'; git $x`,
		"read x <<< 'pu\\\nsh'; git $x",
		`read a b <<< 'x\ y push'; git $b`,
		`read -d , x <<< "push,x"; git $x`,
		`read -d '' x <<< push; git $x`,
		`read -n 4 x <<< pushy; git $x`,
		`read -N 4 x <<< push; git $x`,
		`read -u 3 x 3<<< push; git $x`,
		`read x < <(echo push); git $x`,
		`echo push | { read x; git $x; }`,
		`echo push | read x; git $x`,
		"while read -r x; do git $x; done <<< $'status\\npush'",
		`printf '%s\n' status push | while read x; do git "$x"; done`,
		`while read a b; do git $b; done < <(echo x push)`,
		`if read x; then git $x; fi <<< push`,
		`{ read a; read b; git $b; } <<< $'status\npush'`,
		// Another command of the group may read part of a line first:
		// what read gets is not known, besides the lines.
		`x=echo; { head -c 1 >/dev/null; read x; $x -c 'git push'; } <<< echo`,
		`read x <<< push; y=$x; git $y`,
		`f(){ read x <<< "$1"; git $x; }; f push`,
		`builtin read x <<< push; git $x`,
		`"read" x <<< push; git $x`,
		// Input not known: the value is not known either.
		`x=echo; read x < f; $x -c 'git push'`,
		`x=echo; read x; "$x" -c 'git push'`,
		`x=echo; cat f | while read x; do $x -c 'git push'; done`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`read -r x <<< status; git $x`,
		`read a b <<< "push status"; git $b`,
		"read x <<< $'status\\npush'; git $x",
		`read -r x <<< 'pu\sh'; git $x`,
		`read x < f; git $x`,
		`read -n 2 x <<< push; git $x`,
		`read -N 3 a b <<< "p push"; git $b`,
		`read a b <<< "p push"; git $a`,
		`read -a a <<< "push x"; git "${a[1]}"`,
		"while read -r x; do git $x; done <<EOF\n" + strings.Repeat("status\n", 20000) + "EOF",
	} {
		start := time.Now()
		assertAllowed(t, c, cmd)
		if d := time.Since(start); d > hangBound {
			t.Errorf("%.40q...: took %v", cmd, d)
		}
	}
	// Reads of long input stay cheap: each line read is charged to the
	// expansion budget.
	long := "{ " + strings.Repeat("read x; ", 5000) + "} <<< '" + strings.Repeat("a ", 30000) + "'"
	start := time.Now()
	CheckCommand(long, c)
	if d := time.Since(start); d > hangBound {
		t.Errorf("%.40q...: took %v", long, d)
	}
}

// mapfile and readarray gave their array no value: `mapfile -t a <<< push;
// git "${a[@]}"` passed a git push rule, and the callback (-C) ran
// unchecked. The array holds the lines of input the command line spells
// out, as read's; other input gives it a value preflight does not know.
func TestCheckCommandMapfileAssign(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`mapfile -t a <<< push; git "${a[@]}"`,
		`readarray -t a <<< push; git "${a[0]}"`,
		`mapfile a <<< push; git ${a[0]}`,
		`mapfile -t <<< push; git "${MAPFILE[@]}"`,
		`mapfile -t a < <(printf '%s\n' status push); git "${a[1]}"`,
		`printf 'x\npush\n' | { mapfile -t a; git "${a[1]}"; }`,
		"mapfile -t -s 1 a <<< $'x\\npush'; git \"${a[0]}\"",
		`mapfile -d , -t a <<< "x,push"; git ${a[1]}`,
		`mapfile -td, a <<< "x,push"; git ${a[1]}`,
		`a=(x status); mapfile -t -O 1 a <<< push; git "${a[1]}"`,
		// -O of an array with no value known: the lines from there on.
		`mapfile -t -O 1 a <<< push; git "${a[1]}"`,
		`mapfile -t -O 5 a <<< push; git "${a[5]}"`,
		"mapfile -t a <<EOF\nstatus\npush\nEOF\nfor x in \"${a[@]}\"; do git $x; done",
		`mapfile -u 3 -t a 3<<< push; git "${a[@]}"`,
		`builtin mapfile -t a <<< push; git "${a[@]}"`,
		// Lines another command of the group read first.
		"{ read h; mapfile -t a; git \"${a[0]}\"; } <<< $'x\\npush'",
		// The callback runs with each line's index and the line.
		`mapfile -t -C 'git push #' -c 1 a <<< x`,
		`mapfile -t -C 'f(){ git "$2"; }; f' -c 1 a <<< push`,
		`mapfile -C 'git push #' a < f`,
		// Input not known: the value is not known either.
		`a=(echo); mapfile -t a < f; "${a[0]}" -c 'git push'`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`mapfile -t a <<< status; git "${a[@]}"`,
		"mapfile -t -n 1 a <<< $'status\\npush'; git \"${a[@]}\"",
		`mapfile -t a < f; git "${a[@]}"`,
		`mapfile -t -C 'echo' -c 1 a <<< push; git status`,
		"mapfile -t a <<< $'push\\nstatus'; git \"${a[1]}\"",
	} {
		assertAllowed(t, c, cmd)
	}
	// An origin past maxIndex is refused, as a[N]=x is: the array was
	// grown to it element by element (-O 200000000 held the supervisor
	// for over a minute and 13 GB).
	be := assertBlocked(t, c, `a=(x); mapfile -t -O 100000 a <<< push; git status`)
	if be != nil && !strings.Contains(be.Reason, "index above") {
		t.Errorf("mapfile -O 100000: %v, want a refusal for the index", be)
	}
}

// shift did not move the positional parameters: `set -- a push; shift;
// git $1` passed a git push rule. A shift by n gives $i the values of
// $(i+n), $(i+2n), ... and "$@" its words from n, 2n, ... on, as a shift
// in a loop, or in a function called again, may be run any number of
// times.
func TestCheckCommandShift(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`set -- a push; shift; git $1`,
		`set -- a b push; shift 2; git "$1"`,
		`set -- a push; shift; git "$@"`,
		`set -- x git push; shift; "$@"`,
		`f(){ shift; git "$1"; }; f a push`,
		`f(){ shift 2; git "$@"; }; f a b push`,
		`f(){ while [ $# -gt 0 ]; do git "$1"; shift; done; }; f a b push`,
		`f(){ shift; shift; git $1; }; f a b push`,
		`f(){ shift 2; shift 3; git $1; }; f a b c d e push`,
		`sh -c 'shift; git "$1"' _ a push`,
		`f(){ n=1; shift $n; git $1; }; f a push`,
		`f(){ shift "$N"; git $1; }; f a b push`,
		`f(){ builtin shift; git $1; }; f a push`,
		`f(){ shift -- 1; git $1; }; f a push`,
		`f(){ shift; g "$@"; }; g(){ git "$1"; }; f a push`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`set -- a status; shift; git $1`,
		`f(){ shift 2; git "$1"; }; f a push status`,
		`set -- a status; shift 0; git $1`,
		`f(){ shift 1 2; git $1; }; f status push`,
		`f(){ while [ $# -gt 0 ]; do echo "$1"; shift; done; }; f {1..100}`,
	} {
		assertAllowed(t, c, cmd)
	}
	// Shifting thousands of parameters stays cheap: the values moved are
	// charged to the expansion budget.
	for _, cmd := range []string{
		`f(){ while :; do shift; git "$1"; done; }; f {1..4000}`,
		"f(){ " + strings.Repeat("shift; ", 10000) + "git \"$@\"; }; f {1..2000}",
	} {
		start := time.Now()
		CheckCommand(cmd, c)
		if d := time.Since(start); d > hangBound {
			t.Errorf("%.40q...: took %v", cmd, d)
		}
	}
}

// Parameter expansions with an operator (${X#x}, ${X/a/b}, ${X:1:4},
// ${X,,}, ...) were kept as their source text: `X=xpush; git ${X#x}`
// passed a git push rule. They are evaluated over each value known, with
// bash's patterns; a pattern or offset not known leaves the values as
// they are (it may match nothing, or be 0) besides the source text.
func TestCheckCommandParamOperators(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`X=xpush; git ${X#x}`,
		`X=xxpush; git ${X##*x}`,
		`X=push.x; git ${X%.x}`,
		`X=push.x.y; git ${X%%.*}`,
		`X=pull; git ${X/ll/sh}`,
		`X=pxuxsxh; git ${X//x}`,
		`X=p.u.s.h; git ${X//./}`,
		`X='pu*sh'; git ${X/\*/}`,
		`X=pu; git ${X/%u/ush}`,
		`X=pu; Y=sh; git ${X/%/$Y}`,
		`X=pu; git ${X/u/&sh}`,
		`X=xpushx; git ${X:1:4}`,
		`X=xpush; git "${X: -4}"`,
		`X=hsup; git ${X: -1}${X:2:1}${X:1:1}${X:0:1}`,
		`X=xpush; n=1; git ${X:n}`,
		`set -- a push; git ${@: -1}`,
		`set -- a push; git "${@:2}"`,
		`a=(status push); git "${a[@]:1}"`,
		`a=(xpush ypush); git "${a[@]#?}"`,
		`X=PUSH; git ${X,,}`,
		`X=pUSH; git ${X,,[A-Z]}`,
		`X=Push; git ${X,}`,
		`X=PUSH; git ${X@L}`,
		`X=push; eval "git ${X@Q}"`,
		`X='pu\x73h'; git ${X@E}`,
		`X=xpush; p=x; git ${X#$p}`,
		`X=xpush; git ${X#[a-z]}`,
		`X=1push; git ${X#[[:digit:]]}`,
		`y=X; X=xpush; git ${!y#x}`,
		`X=push; git ${X:?}`,
		`for x in xpush ypush; do git ${x#?}; done`,
		`f(){ git "${1#x}"; }; f xpush`,
		// A pattern or offset not known may match nothing, or be 0.
		`X=push; git ${X#$UNSET}`,
		`X=push; git ${X/$UNSET/x}`,
		`X=push; git ${X:$UNSET}`,
		// A length not known may be any, the whole value's too: it
		// was taken for 0 alone, the empty string.
		`X=push; git ${X:0:$UNSET}`,
		`X=push; git ${X:0:n}`,
		// An arithmetic expansion is evaluated as its expression.
		`X=push; git ${X:0:$((4))}`,
		`X=xpush; git ${X:$((2-1))}`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`X=xpush; git ${X#y}`,
		`X=push; git ${X:1}`,
		`X=push; git ${#X}`,
		`X=push; git ${X/push/status}`,
		`X=push; git ${X@Q}`,
		`X=PUSH; git ${X}`,
		`X=a.b; git ${X%.*}`,
		`X=xpush; git ${X#$(cat f)}`,
		`X=xpush; git ${X#"*"}`,
		`X=pu; git ${X/u/\&sh}`,
		`a=(status push); git "${a[@]:0:1}"`,
	} {
		assertAllowed(t, c, cmd)
	}
	// Quadratic matching stays bounded: refused past maxPatternSteps.
	long := "X=" + strings.Repeat("a", 60000) + "; git ${X//*b/}"
	start := time.Now()
	be := assertBlocked(t, c, long)
	if be != nil && !strings.Contains(be.Reason, "matches patterns") {
		t.Errorf("%.40q...: %v, want a refusal for pattern matching", long, be)
	}
	if d := time.Since(start); d > hangBound {
		t.Errorf("%.40q...: took %v", long, d)
	}
	assertAllowed(t, c, "X="+strings.Repeat("a", 60000)+"; git ${X//a/b}")
	// Values as bash expands them.
	for _, tc := range []struct{ setup, expr, want string }{
		{"X=abcabc", "${X#*b} ${X##*b} ${X%b*} ${X%%b*} ${X#z}", "cabc c abca a abcabc"},
		{"X=abcabc", "${X/b/Z} ${X//b/Z} ${X/#a/Z} ${X/%c/Z} ${X/#b/Z}", "aZcabc aZcaZc Zbcabc abcabZ abcabc"},
		{"X=abcabc", "${X//[bc]/Z} ${X//[!b]/Z} ${X/b*/Z} ${X//b?/Z} ${X//b}", "aZZaZZ ZbZZbZ aZ aZaZ acac"},
		{"X=abcabc", "${X//#a/Z} ${X/[/Z} ${X/#/Z} ${X/%/Z} ${X//?/-}", "abcabc abcabc Zabcabc abcabcZ ------"},
		{"X=abcabc", "${X:1:2} ${X: -2:1} ${X:(-3)} ${X:1:-1} ${X:10}. ${#X}", "bc b abc bcab . 6"},
		{"X=abcabc", "${X^} ${X^^[ab]} ${X#\"a\"b} ${X#'a'?}", "Abcabc ABcABc cabc cabc"},
		{"Z='a*b'", "${Z/\\*/Q} ${Z/\"*\"/Q} ${Z#a\\*} ${Z#a*}", "aQb aQb b *b"},
		{"W=pu R='&sh'", "${W/pu/\\&sh} ${W/u/\"&\"} ${W/pu/\"$R\"}", "&sh p& &sh"},
		{"a=(xa ya za)", "${a[@]#?} ${a[@]: -1} ${#a[@]} ${#a[1]} ${a[1]:1} ${a:1}", "a a a za 3 2 a a"},
		{"set -- p q r", "${@:2} ${*:1:2} ${#@} ${@/q/Q} ${@#p}", "q r p q 3 p Q r q r"},
		{"E=", "${E/*/Z} ${E/#/Z} ${E//*/Z}", "Z Z Z"},
		{"C=a1B2", "${C//[[:digit:]]/} ${C//[[:upper:]]/} ${C//[a-z]/} ${C//[]a]/}", "aB a12 1B2 1B2"},
		{"V=push n=1", "${V:n} ${V:$n:2} ${V:n+1} ${V:n*2:1} ${V:(n-2)}", "ush us sh s h"},
	} {
		ex := extractCommands(tc.setup + "; echo " + tc.expr)
		var got []string
		for _, argv := range ex.out[len(ex.out)-1].heads {
			got = append(got, strings.Join(argv[1:], " "))
		}
		if g := strings.Join(got, " | "); g != tc.want {
			t.Errorf("%s; echo %s: %q, want %q", tc.setup, tc.expr, g, tc.want)
		}
	}
}

// set -- gave the positional parameters only after the walk, where the
// assignments had been read already: `set -- push; y=$1; git $y` passed a
// git push rule. set and shift are followed where they are met too.
func TestCheckCommandPositionalBeforeAssignment(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`set -- push; y=$1; git $y`,
		`set -- a push; y="$2"; git "$y"`,
		`set -- a push; shift; y=$1; git $y`,
		`set -- a push; shift; read x <<< "$1"; git $x`,
		`set -- x push; printf -v y %s "$2"; git $y`,
		`set -- a push; a=("$@"); git "${a[1]}"`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`set -- status; y=$1; git $y`,
		`set -- push status; shift; y=$1; git status`,
	} {
		assertAllowed(t, c, cmd)
	}
}

// An array element's assignment (a[1]=push, m[key]=push, [5]=push in an
// array literal) was not followed, and an element read by an index that
// is not a number (${m[key]}, ${a[i]}) was its source text: `a[1]=push;
// git "${a[1]}"` and `declare -A m=([k]=push); git "${m[k]}"` passed a git
// push rule.
func TestCheckCommandArrayElementAssign(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`a[1]=push; git "${a[1]}"`,
		`a[1]=push; git "${a[@]}"`,
		`a=(x y); a[1]=push; git "${a[1]}"`,
		`a[0]=push; git $a`,
		`a=(pu y); a[0]+=sh; git $a`,
		`a[010]=push; git "${a[8]}"`,
		`a=(x y); a[i]=push; git "${a[0]}"`,
		`m[k]=push; git "${m[k]}"`,
		`declare -A m=([k]=push); git "${m[k]}"`,
		`declare -A m; m[k]=push; git "${m[@]}"`,
		`a=([5]=push); git "${a[5]}"`,
		`a=([5]=push); git "${a[@]}"`,
		`a=([1]=x push); git "${a[2]}"`,
		`a=(status push); git "${a[i]}"`,
		`printf -v 'a[1]' push; git "${a[1]}"`,
		`read 'a[1]' <<< push; git "${a[1]}"`,
		// An index not read may be any element's, one past the end
		// too: a[i] with i=1 is ${a[1]} (it read as element 0 only).
		`a[i]=push; git "${a[1]}"`,
		`a[1+0]=push; git "${a[1]}"`,
		`a=(x); a[i]=push; git "${a[3]}"`,
		`a=([1+0]=push); git "${a[1]}"`,
		`declare -a a=([i]=push); git "${a[2]}"`,
		// Appended at an index: a+=([3]=push) is ${a[3]}, not after
		// the elements there were.
		`a=(x); a+=([3]=push); git "${a[3]}"`,
		// Appended to an empty array: the first element (a=() was
		// taken for one empty element, and push for the second).
		`a=(); a+=(push); git "${a[0]}"`,
		`a=(); a+=(push); git "${a[@]}"`,
	} {
		assertBlocked(t, c, cmd)
	}
	for _, cmd := range []string{
		`a=(x y); a[1]=status; git "${a[1]}"`,
		`a=([5]=status); git "${a[5]}"`,
	} {
		assertAllowed(t, c, cmd)
	}
	be := assertBlocked(t, c, `a[100000]=x; git "${a[100000]}"`)
	if be != nil && !strings.Contains(be.Reason, "index above") {
		t.Errorf("a[100000]=x: %v, want a refusal for the index", be)
	}
}

// read splits a line as bash's read does.
func TestReadSplit(t *testing.T) {
	for _, tc := range []struct {
		line, ifs string
		n         int
		all       bool
		want      []string
	}{
		{"x,y,", ",", 2, false, []string{"x", "y"}},
		{"x,y,,", ",", 2, false, []string{"x", "y,,"}},
		{" x , y , ", ", ", 2, false, []string{"x", "y"}},
		{"  p   push  it  ", " \t\n", 2, false, []string{"p", "push  it"}},
		{" p push ", "", 2, false, []string{" p push ", ""}},
		{" x , y", ",", 3, false, []string{" x ", " y", ""}},
		{"x, ,y", ", ", 1, true, []string{"x\x00\x00y"}},
		{"x,,y,", ",", 1, true, []string{"x\x00\x00y"}},
		{"p\nq\n", " \t\n", 1, false, []string{"p\nq"}},
	} {
		rec := []rune(tc.line)
		got := readSplit(rec, make([]bool, len(rec)), tc.ifs, tc.n, tc.all)
		if !slices.Equal(got, tc.want) {
			t.Errorf("readSplit(%q, IFS=%q, %d, %v) = %q, want %q", tc.line, tc.ifs, tc.n, tc.all, got, tc.want)
		}
	}
}

// Input the parser rejects is split loosely (fallback), which cannot
// evaluate an expansion: X=push; git ${X::}push (rejected by the parser,
// bash runs git push) passed a git push rule. Such input with a $ in it
// is refused now; without one it is still split and checked as before.
func TestCheckCommandUnparsedExpansion(t *testing.T) {
	c := policy([]string{"git push"}, nil)
	for _, cmd := range []string{
		`X=push; git ${X::}push`,
		`X=PUSH; git ${X~~}`,
		`echo "$(git status)" '`,
	} {
		err := CheckCommand(cmd, c)
		var be *CommandBlockedError
		if !errors.As(err, &be) || !strings.Contains(be.Reason, "cannot parse") {
			t.Errorf("%q: want it refused as unparsed, got %v", cmd, err)
		}
	}
	if err := CheckCommand(`echo 'unbalanced`, c); err != nil {
		t.Errorf("unparsable input without an expansion: %v", err)
	}
	if err := CheckCommand(`git push 'unbalanced`, c); err == nil {
		t.Error("unparsable git push: want it blocked")
	}
}

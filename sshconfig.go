package fence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/nsfence/fence/internal/cfgfile"
	"github.com/nsfence/fence/internal/pathglob"
)

// maxSSHIncludeDepth is how deep ssh follows Include (its own limit).
const maxSSHIncludeDepth = 16

// sshConfigFiles is what the user's ssh config names: the files it
// includes (see sshIncludes) and the private keys its IdentityFile lines
// name (see sshIdentities).
type sshConfigFiles struct {
	paths, patterns, identities []string
	err                         error
}

// sshConfig reads the user's ssh config once per plan.
func (s *Spec) sshConfig() *sshConfigFiles {
	if s.ssh == nil {
		c := &sshConfigFiles{}
		c.paths, c.patterns, c.identities, c.err = s.readSSHConfig()
		s.ssh = c
	}
	return s.ssh
}

// sshIncludes returns what the user's ssh config (~/.ssh/config) includes
// (Include, in a Match or Host block too), and what those include in turn:
// ssh reads them as part of the config (ProxyCommand, LocalCommand run
// code). Paths are literal files, missing ones too; an argument with a glob
// in its last component is returned as a pattern (new matches must not be
// created), and its existing matches as paths. A glob further up is
// returned as its existing matches only. "~" is $HOME; a relative path is
// in ~/.ssh, as ssh takes it. A file that exists but cannot be read safely
// is an error.
func (s *Spec) sshIncludes() (paths, patterns []string, err error) {
	c := s.sshConfig()
	return c.paths, c.patterns, c.err
}

// sshIdentities returns the files the IdentityFile lines of the user's ssh
// config (and of the files it includes) name, "~", "%d", "%u", "%i", "%l", "%L" and ${VAR}
// (from the command's environment) expanded as ssh expands them. An
// argument with another token (%h, %r), a variable that is not set or a
// relative path depends on the connection or the directory ssh runs in:
// left out.
func (s *Spec) sshIdentities() []string {
	return s.sshConfig().identities
}

func (s *Spec) readSSHConfig() (paths, patterns, identities []string, err error) {
	if s.Home == "" {
		return nil, nil, nil, nil
	}
	dir := filepath.Join(s.Home, ".ssh")
	type file struct {
		path  string
		depth int
	}
	queue := []file{{filepath.Join(dir, "config"), 0}}
	seen := map[string]bool{}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if seen[f.path] || f.depth > maxSSHIncludeDepth {
			continue
		}
		seen[f.path] = true
		if f.depth > 0 {
			paths = append(paths, f.path)
		}
		if st, err := os.Stat(f.path); err == nil && !st.Mode().IsRegular() {
			continue // ssh reads a directory as empty (config.d/old/)
		}
		b, err := cfgfile.Read(f.path)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOTDIR) {
			continue // ssh cannot read it either
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read ssh config %s to protect the files it includes: %w; fence will not run without it: fix the file", f.path, err)
		}
		identities = append(identities, s.identityArgs(b)...)
		for _, arg := range sshArgs(b, "include") {
			// ssh globs the whole path, the home it puts in front
			// included (a home "h[1]" reads h1/.ssh/...), but takes
			// the home's backslashes as they are (glob(3) reads the
			// escapes before it expands "~").
			home := strings.ReplaceAll(s.Home, `\`, `\\`)
			switch {
			case arg == "~" || strings.HasPrefix(arg, "~/"):
				arg = filepath.Join(home, arg[1:])
			case strings.HasPrefix(arg, "~"):
				// ~user/...: that user's home, as ssh expands it.
				name, rest, _ := strings.Cut(arg[1:], "/")
				u, err := user.Lookup(name)
				if err != nil {
					continue // ssh cannot read it either
				}
				arg = filepath.Join(strings.ReplaceAll(u.HomeDir, `\`, `\\`), rest)
			case !filepath.IsAbs(arg):
				arg = filepath.Join(home, ".ssh", arg)
			}
			pat, err := sshGlob(arg)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("ssh config %s: Include %s: %w; fence cannot tell which files it includes, to protect them", f.path, arg, err)
			}
			if !pathglob.HasMeta(pat) {
				queue = append(queue, file{pathglob.Unescape(pat), f.depth + 1})
				continue
			}
			patterns = append(patterns, pat)
			if d := filepath.Dir(pat); pathglob.HasMeta(d) {
				// Directories the glob matches now that are symlinks
				// (the user's): the guard sees where they lead. New ones
				// cannot be symlinks (the guard holds the pattern's
				// directories).
				ds, _ := filepath.Glob(d)
				for _, m := range ds {
					if r, err := filepath.EvalSymlinks(m); err == nil && r != m {
						patterns = append(patterns, filepath.Join(pathglob.Literal(r), filepath.Base(pat)))
					}
				}
			}
			matches, _ := filepath.Glob(pat)
			for _, m := range matches {
				queue = append(queue, file{m, f.depth + 1})
			}
		}
	}
	return paths, patterns, identities, nil
}

// identityArgs returns the paths the IdentityFile lines of the ssh config
// b name (see sshIdentities).
func (s *Spec) identityArgs(b []byte) []string {
	var out []string
	for _, arg := range sshArgs(b, "identityfile") {
		if strings.EqualFold(arg, "none") {
			continue
		}
		var sb strings.Builder
		known := true
		for i := 0; i < len(arg) && known; i++ {
			c := arg[i]
			switch {
			case c == '$' && i+1 < len(arg) && arg[i+1] == '{':
				// ${NAME}: from the environment ssh runs in, the
				// command's (ssh refuses a name that is not set).
				end := strings.IndexByte(arg[i+2:], '}')
				if end <= 0 || !hasEnv(s.Env, arg[i+2:i+2+end]) {
					known = false
					break
				}
				sb.WriteString(getenv(s.Env, arg[i+2:i+2+end]))
				i += 2 + end
			case c != '%':
				sb.WriteByte(c)
			case i+1 == len(arg):
				known = false
			default:
				i++
				switch arg[i] {
				case '%':
					sb.WriteByte('%')
				case 'd':
					sb.WriteString(s.Home)
				case 'i':
					sb.WriteString(strconv.Itoa(os.Getuid()))
				case 'l', 'L':
					// ssh's gethostname(), whole or up to the first
					// dot: the host's, fixed for every connection.
					h, err := os.Hostname()
					if err != nil || h == "" {
						known = false
						break
					}
					if arg[i] == 'L' {
						h, _, _ = strings.Cut(h, ".")
					}
					sb.WriteString(h)
				case 'u':
					u, err := user.Current()
					if err != nil {
						known = false
					} else {
						sb.WriteString(u.Username)
					}
				default:
					known = false
				}
			}
		}
		p := sb.String()
		switch {
		case !known:
			continue
		case p == "~" || strings.HasPrefix(p, "~/"):
			p = filepath.Join(s.Home, p[1:])
		case !filepath.IsAbs(p):
			continue
		}
		out = append(out, filepath.Clean(p))
	}
	return out
}

// sshArgs returns the arguments of the lines of the ssh config b whose
// keyword is kw (lower case), split as ssh splits them (readconf.c: strdelim for the
// keyword, in any case, double quotes allowed, then blanks or "="; then
// argv_split for the arguments: single or double quotes anywhere in a
// word, a backslash escaping a quote, a backslash or, outside quotes, a
// blank, an argument starting with "#" ending the line). A line ssh
// refuses (an unclosed quote) gives nothing.
func sshArgs(b []byte, kw string) []string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(strings.TrimLeft(line, " \t\r"), " \t\r\f")
		if line == "" || line[0] == '#' {
			continue
		}
		k, rest, ok := sshKeyword(line)
		if !ok || !strings.EqualFold(k, kw) {
			continue
		}
		args, ok := sshArgv(rest)
		if !ok || slices.Contains(args, "") {
			continue // ssh refuses the line (and the config)
		}
		out = append(out, args...)
	}
	return out
}

// sshKeyword splits the keyword off line as OpenSSH's strdelim does: up
// to a blank, a "=" or a double quote; a quote is dropped and the keyword
// goes on to the next one (In"clude"); then blanks, and one "=" with
// blanks after it, unless the keyword ended in a quote. ok is false for
// an unclosed quote.
func sshKeyword(line string) (kw, rest string, ok bool) {
	i := strings.IndexAny(line, " \t\r\n\"=")
	if i < 0 {
		return line, "", true
	}
	kw, rest = line[:i], line[i:]
	switch rest[0] {
	case '"':
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return "", "", false
		}
		return kw + rest[1:1+end], strings.TrimLeft(rest[2+end:], " \t\r\n"), true
	case '=':
		return kw, strings.TrimLeft(rest[1:], " \t\r\n"), true
	}
	rest = strings.TrimLeft(rest, " \t\r\n")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t\r\n")
	}
	return kw, rest, true
}

// sshArgv splits s as OpenSSH's argv_split does, comments ending it; ok is
// false for an unclosed quote.
func sshArgv(s string) (args []string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" || s[0] == '#' {
			return args, true
		}
		var arg []byte
		var quote byte
		i := 0
	word:
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '"' || s[i+1] == '\\' || quote == 0 && s[i+1] == ' '):
				i++
				arg = append(arg, s[i])
			case quote == 0 && (c == ' ' || c == '\t'):
				break word
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote != 0 && c == quote:
				quote = 0
			default:
				arg = append(arg, c)
			}
		}
		if quote != 0 {
			return nil, false
		}
		args = append(args, string(arg))
		s = s[i:]
	}
}

// sshGlob turns an ssh Include path, which ssh hands to glob(3) whole,
// into filepath.Match's syntax, which fence's globs use: in a class "!"
// first is negation and "^" an ordinary character, a "]" first is a
// member, "-" is a range only between two members, "[:alpha:]" and the
// like name sets; a "[" with no class after it is itself; a backslash
// makes the next character literal. A class name it does not know is an
// error. (glob(3)'s "?" and classes match one byte, Go's one character:
// a name with multi-byte characters may match one and not the other.)
func sshGlob(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			b.WriteString(pathglob.Literal(p[i+1 : i+2]))
			i++
		case c == '*' || c == '?':
			b.WriteByte(c)
		case c == '[':
			class, n, err := sshClass(p[i:])
			if err != nil {
				return "", err
			}
			if n == 0 {
				b.WriteString(`\[`) // no class: itself
				continue
			}
			b.WriteString(class)
			i += n - 1
		default:
			b.WriteString(pathglob.Literal(p[i : i+1]))
		}
	}
	return b.String(), nil
}

// sshClass translates the glob(3) class at the start of p, returning it
// in filepath.Match's syntax and the bytes it took, or 0 if there is no
// class there (no closing "]", or a "/" before it).
func sshClass(p string) (string, int, error) {
	var members []string // each in Go's syntax: a character, a range or a set
	single := false      // whether the last member is one character, which a "-" may follow
	i := 1
	neg := i < len(p) && p[i] == '!'
	if neg {
		i++
	}
	start := i
	for ; i < len(p); i++ {
		c := p[i]
		switch {
		case c == ']' && i > start:
			return "[" + map[bool]string{true: "^"}[neg] + strings.Join(members, "") + "]", i + 1, nil
		case c == '/':
			return "", 0, nil
		case strings.HasPrefix(p[i:], "[:"):
			end := strings.Index(p[i+2:], ":]")
			if end < 0 {
				members = append(members, `\[`)
				single = true
				continue
			}
			name := p[i+2 : i+2+end]
			set, ok := posixClasses[name]
			if !ok {
				return "", 0, fmt.Errorf("the class [:%s:], which fence does not know", name)
			}
			members = append(members, set)
			single = false
			i += 2 + end + 1
		case c == '-' && single && i+1 < len(p) && p[i+1] != ']':
			// A range: its high end next.
			hi := p[i+1]
			n := 1
			if hi == '\\' && i+2 < len(p) {
				hi, n = p[i+2], 2
			}
			members = append(members, "-"+classMember(hi))
			single = false
			i += n
		default:
			if c == '\\' && i+1 < len(p) {
				i++
				c = p[i]
			}
			members = append(members, classMember(c))
			single = true
		}
	}
	return "", 0, nil
}

// classMember is c as a member of a filepath.Match class.
func classMember(c byte) string {
	if strings.IndexByte(`\]-[^`, c) >= 0 {
		return `\` + string(c)
	}
	return string(c)
}

// posixClasses are glob(3)'s named classes of ASCII characters, as
// filepath.Match ranges.
var posixClasses = map[string]string{
	"alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "digit": "0-9", "lower": "a-z", "upper": "A-Z",
	"xdigit": "0-9a-fA-F", "blank": " \t", "space": " \t\n\r\f\v",
	"punct": "!-/:-@\\[-`{-~", "cntrl": "\x00-\x1f\x7f", "graph": "!-~", "print": " -~",
}

package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// Static evaluation of output known before a command runs.
//
// `git $(echo push)` runs `git push`, and `source <(printf 'git push')`
// runs it too. Preflight evaluates such output when it is certain: the
// producing commands are echo, printf, or cat of a heredoc or here-string,
// and every word they are given is known (literals, quotes, variables with
// literal values, and substitutions that are static in turn). Any other
// substitution (`$(cat f)`, `$(echo $HOME)`) is a runtime value and is
// kept as its source text, as before.

// Bounds on static evaluation, so that crafted input stays cheap.
const (
	// maxStaticOutput bounds the output of one evaluated command list.
	// Longer output is treated as unknown.
	maxStaticOutput = 64 << 10
	// maxPrintfWidth bounds a printf field width or precision.
	maxPrintfWidth = 4096
)

// substResult is the memoized evaluation of one command substitution,
// valid while ex.gen is gen.
type substResult struct {
	gen  int
	outs []string
	ok   bool
}

// substOutput returns the possible outputs of a command substitution
// whose commands are static, trailing newlines removed as bash removes
// them. ok is false when the output is a runtime value.
func (ex *extractor) substOutput(src string, cs *syntax.CmdSubst) ([]string, bool) {
	if cs.TempFile || cs.ReplyVar {
		return nil, false
	}
	// A word is expanded several times (fast path, slow path, variants):
	// without the memo, nested substitutions would cost exponential time.
	// It holds while no variable gains a value, and not while a word
	// binds its variables (see wordAlts): the output depends on them.
	memo := len(ex.bound) == 0
	if r, ok := ex.substMemo[cs]; ok && memo && r.gen == ex.gen {
		return r.outs, r.ok
	}
	gen := ex.gen
	outs, ok := ex.stmtsOutput(src, cs.Stmts)
	if ok {
		for i, o := range outs {
			outs[i] = strings.TrimRight(o, "\n")
		}
	}
	if !memo {
		return outs, ok
	}
	if ex.substMemo == nil {
		ex.substMemo = make(map[*syntax.CmdSubst]substResult)
	}
	ex.substMemo[cs] = substResult{gen, outs, ok}
	return outs, ok
}

// substUse returns substOutput's outputs for a use of them in a word,
// charged to the expansion budget (see spend): ok is false past it.
func (ex *extractor) substUse(src string, cs *syntax.CmdSubst) ([]string, bool) {
	outs, ok := ex.substOutput(src, cs)
	if !ok {
		return nil, false
	}
	n := 0
	for _, o := range outs {
		n += len(o)
	}
	if !ex.spend(n, nodeText(src, cs)) {
		return nil, false
	}
	return outs, true
}

// stmtsOutput returns the possible outputs of a command list whose every
// command is static (see stmtOutput), one after the other.
func (ex *extractor) stmtsOutput(src string, stmts []*syntax.Stmt) ([]string, bool) {
	return ex.stmtsOutputIn(src, stmts, nil)
}

// stmtsOutputIn is stmtsOutput for commands whose standard input is
// in's output (see stmtOutputIn). Each may read it: a superset, as only
// the first to read takes it.
func (ex *extractor) stmtsOutputIn(src string, stmts []*syntax.Stmt, in stdinFunc) ([]string, bool) {
	outs := []string{""}
	for _, st := range stmts {
		o, ok := ex.stmtOutputIn(src, st, in)
		if !ok {
			return nil, false
		}
		outs = ex.crossAll(nodeText(src, st), "a command's output", outs, o)
		for _, s := range outs {
			if len(s) > maxStaticOutput {
				ex.tooLong(nodeText(src, st))
				return nil, false
			}
		}
	}
	return outs, true
}

// tooLong marks the command line as beyond what preflight checks because
// a static output (text names where) is longer than maxStaticOutput: it
// is known, and what it runs could not be checked if it were taken for a
// runtime value (git $(printf 'push%5000s') runs git push).
func (ex *extractor) tooLong(text string) {
	if ex.tooDeep == "" {
		if text == "" {
			text = "…" // tooDeep must not be empty
		}
		ex.tooDeep = text
		ex.tooDeepReason = fmt.Sprintf("prints more than %d KiB or a field wider than %d, beyond what preflight checks; put the text in a file and have the command read it", maxStaticOutput>>10, maxPrintfWidth)
	}
}

// stmtOutput returns the possible outputs of one command: echo or printf
// with known arguments, or cat (no file operands) of a heredoc or
// here-string with a known body. Redirections other than of stderr make it
// unknown, and so does anything else (pipelines, other programs). A { }
// group or ( ) subshell prints its statements' outputs one after the
// other, when they are all known.
//
// Each result is kept until a variable gains a value: a group nested in
// groups is evaluated for each enclosing one, which would otherwise cost
// time quadratic in the nesting.
func (ex *extractor) stmtOutput(src string, st *syntax.Stmt) ([]string, bool) {
	return ex.stmtOutputIn(src, st, nil)
}

// stdinFunc returns the possible texts of a command's standard input,
// or ok false when they are not known. It is called only when a command
// reads its input, so that the commands piped into one that does not
// are not evaluated.
type stdinFunc func() (ins []string, ok bool)

// stmtOutputIn is stmtOutput for a command whose standard input is in's
// output (a pipe), or its own stdin when in is nil. A pipeline's output
// is its last command's, which cat (no file operand) or tee reading the
// pipe passes through: echo git push | cat | sh runs git push.
func (ex *extractor) stmtOutputIn(src string, st *syntax.Stmt, in stdinFunc) ([]string, bool) {
	if in != nil {
		return ex.stmtOutputOnce(src, st, in)
	}
	if len(ex.bound) > 0 {
		return ex.stmtOutputOnce(src, st, nil) // see substOutput
	}
	if r, ok := ex.outMemo[st]; ok && r.gen == ex.gen {
		return slices.Clone(r.outs), r.ok
	}
	gen := ex.gen
	outs, ok := ex.stmtOutputOnce(src, st, nil)
	if ex.outMemo == nil {
		ex.outMemo = make(map[*syntax.Stmt]outResult)
	}
	ex.outMemo[st] = outResult{gen, slices.Clone(outs), ok}
	return outs, ok
}

// outResult is a memoized stmtOutput, valid while ex.gen is gen.
type outResult struct {
	gen  int
	outs []string
	ok   bool
}

func (ex *extractor) stmtOutputOnce(src string, st *syntax.Stmt, in stdinFunc) ([]string, bool) {
	if st.Negated || st.Background || st.Coprocess {
		return nil, false
	}
	var stmts []*syntax.Stmt
	switch c := st.Cmd.(type) {
	case *syntax.Block:
		stmts = c.Stmts
	case *syntax.Subshell:
		stmts = c.Stmts
	case *syntax.BinaryCmd:
		if c.Op != syntax.Pipe && c.Op != syntax.PipeAll {
			return nil, false
		}
		// The right side first: when it does not read its input, the
		// left side's output is not needed.
		return ex.stmtOutputIn(src, c.Y, func() ([]string, bool) {
			return ex.stmtOutputIn(src, c.X, in)
		})
	}
	if stmts != nil {
		for _, r := range st.Redirs {
			if r.N == nil || r.N.Value != "2" {
				return nil, false // only stderr may be redirected
			}
		}
		return ex.stmtsOutputIn(src, stmts, in)
	}
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(call.Args) == 0 {
		return nil, false
	}
	// Standard input is the last redirection of it (cat <<< x <<< y
	// reads y); one that is not known makes the output unknown.
	var last *syntax.Redirect
	for _, r := range st.Redirs {
		if r.N != nil && r.N.Value == "2" {
			continue // stderr
		}
		switch r.Op {
		case syntax.RdrIn, syntax.RdrInOut, syntax.DplIn, syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc:
			if r.N == nil || r.N.Value == "0" {
				last = r
				continue
			}
		}
		return nil, false // output redirected, or another descriptor
	}
	var stdin []string
	if last != nil {
		in, ok := ex.staticRedirInput(src, last)
		if !ok {
			return nil, false
		}
		stdin = in
	}
	argvs, ok := ex.staticArgvs(src, call.Args)
	if !ok {
		return nil, false
	}
	var outs []string
	for _, argv := range argvs {
		name := baseName(argv[0])
		if name != "cat" && stdin != nil {
			return nil, false // only cat reads its input
		}
		var o []string
		switch name {
		case "echo":
			o = echoOutputs(argv[1:])
		case "printf":
			s, ok, big := printfEval(argv[1:])
			if big {
				ex.tooLong(nodeText(src, call))
			}
			if !ok {
				return nil, false
			}
			o = []string{s}
		case "cat", "tee":
			if name == "cat" && (len(argv) > 2 || len(argv) == 2 && argv[1] != "-") {
				return nil, false // a file operand
			}
			if name == "tee" && last != nil {
				return nil, false
			}
			switch {
			case last != nil:
				o = stdin
			case in != nil:
				ins, ok := in()
				if !ok {
					return nil, false
				}
				o = ins
			default:
				return nil, false
			}
		default:
			return nil, false
		}
		if len(outs)+len(o) > maxVariants {
			ex.tooMany(nodeText(src, call), "a command's output")
		}
		for _, s := range o {
			if len(outs) < maxVariants {
				outs = append(outs, s)
			}
		}
	}
	if len(outs) == 0 {
		return nil, false
	}
	return outs, true
}

// staticRedirInput returns the possible texts a heredoc, here-string or
// `< <(...)` redirection feeds to standard input, when they are known.
func (ex *extractor) staticRedirInput(src string, r *syntax.Redirect) ([]string, bool) {
	switch r.Op {
	case syntax.Hdoc, syntax.DashHdoc:
		if r.Hdoc == nil {
			return []string{""}, true
		}
		if !ex.isStatic(src, r.Hdoc.Parts) {
			return nil, false
		}
		return ex.wordAlts(src, r.Hdoc.Parts), true
	case syntax.WordHdoc:
		if !ex.isStatic(src, r.Word.Parts) {
			return nil, false
		}
		alts := ex.wordAlts(src, r.Word.Parts)
		for i := range alts {
			alts[i] += "\n" // a here-string ends with a newline
		}
		return alts, true
	case syntax.RdrIn:
		if ps := procSubstIn(r.Word); ps != nil {
			return ex.stmtsOutput(src, ps.Stmts)
		}
	}
	return nil, false
}

// procSubstIn returns w's process substitution if w is exactly one <(...).
func procSubstIn(w *syntax.Word) *syntax.ProcSubst {
	if w == nil || len(w.Parts) != 1 {
		return nil
	}
	if ps, ok := w.Parts[0].(*syntax.ProcSubst); ok && ps.Op == syntax.CmdIn {
		return ps
	}
	return nil
}

// staticArgvs expands words into argument vectors when every word is
// static (see isStatic).
func (ex *extractor) staticArgvs(src string, words []*syntax.Word) ([][]string, bool) {
	for _, w := range words {
		if !ex.isStatic(src, w.Parts) {
			return nil, false
		}
	}
	argvs := ex.argvVariants(src, words)
	return argvs, len(argvs) > 0
}

// isStatic reports whether every part of a word has a value known before
// the command runs: literals, quotes, variables with literal values, and
// command substitutions whose output is static.
func (ex *extractor) isStatic(src string, parts []syntax.WordPart) bool {
	for _, p := range parts {
		switch p := p.(type) {
		case *syntax.Lit, *syntax.SglQuoted:
		case *syntax.DblQuoted:
			if !ex.isStatic(src, p.Parts) {
				return false
			}
		case *syntax.ParamExp:
			text := nodeText(src, p)
			for _, v := range ex.param(src, p) {
				if v == text {
					return false // not known: param keeps its source
				}
			}
		case *syntax.CmdSubst:
			if _, ok := ex.substOutput(src, p); !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// hasStaticSubst reports whether parts has an unquoted command
// substitution with a static output, which is then split into fields.
func (ex *extractor) hasStaticSubst(src string, parts []syntax.WordPart) bool {
	for _, p := range parts {
		if cs, ok := p.(*syntax.CmdSubst); ok {
			if _, ok := ex.substOutput(src, cs); ok {
				return true
			}
		}
	}
	return false
}

// echoOutputs returns what echo prints for args. Bash's echo takes -n, -e
// and -E and decodes backslash escapes only with -e; sh's (dash) and zsh's
// decode them always. When the two differ, both outputs are returned.
func echoOutputs(args []string) []string {
	newline, escapes := true, false
	for len(args) > 0 && isEchoOptions(args[0]) {
		for _, c := range args[0][1:] {
			switch c {
			case 'n':
				newline = false
			case 'e':
				escapes = true
			case 'E':
				escapes = false
			}
		}
		args = args[1:]
	}
	text := strings.Join(args, " ")
	render := func(decode bool) string {
		s, stop := text, false
		if decode {
			s, stop = decodeEcho(text)
		}
		if newline && !stop {
			s += "\n"
		}
		return s
	}
	out := []string{render(escapes)}
	if !escapes && strings.Contains(text, `\`) {
		if alt := render(true); alt != out[0] {
			out = append(out, alt)
		}
	}
	return out
}

// isEchoOptions reports whether a is a cluster of echo's options (-n, -e,
// -E); anything else is text, "--" included.
func isEchoOptions(a string) bool {
	if len(a) < 2 || a[0] != '-' {
		return false
	}
	return strings.Trim(a[1:], "neE") == ""
}

// decodeEcho decodes the backslash escapes of echo -e and printf's %b:
// \a \b \e \f \n \r \t \v \\, \0NNN octal, \xHH, \uHHHH, \UHHHHHHHH.
// stop is true at \c, which ends all output.
func decodeEcho(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch c = s[i]; c {
		case 'c':
			return b.String(), true
		case '0':
			j := i + 1
			for j < len(s) && j-i <= 3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			n, _ := strconv.ParseUint("0"+s[i+1:j], 8, 16)
			b.WriteByte(byte(n))
			i = j - 1
		default:
			if n := decodeEscape(&b, s, i); n > 0 {
				i += n - 1
			} else {
				b.WriteByte('\\')
				b.WriteByte(c)
			}
		}
	}
	return b.String(), false
}

// decodeEscape decodes the escape whose letter is s[i] (after a
// backslash) into b, for the escapes echo -e, printf and $'...' share. It returns
// how many bytes of s it used, 0 if s[i] starts no such escape.
func decodeEscape(b *strings.Builder, s string, i int) int {
	switch c := s[i]; c {
	case 'a':
		b.WriteByte('\a')
	case 'b':
		b.WriteByte('\b')
	case 'e', 'E':
		b.WriteByte(0x1b)
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'v':
		b.WriteByte('\v')
	case '\\':
		b.WriteByte('\\')
	case 'x', 'u', 'U':
		maxDigits := 2
		if c == 'u' {
			maxDigits = 4
		} else if c == 'U' {
			maxDigits = 8
		}
		j := i + 1
		for j < len(s) && j-i-1 < maxDigits && isHex(s[j]) {
			j++
		}
		if j == i+1 {
			return 0
		}
		n, _ := strconv.ParseUint(s[i+1:j], 16, 32)
		if c == 'x' {
			b.WriteByte(byte(n))
		} else if utf8.ValidRune(rune(n)) {
			b.WriteRune(rune(n))
		}
		return j - i
	default:
		return 0
	}
	return 1
}

// printfOutput returns what bash's printf prints for args, or ok false
// when preflight does not evaluate it. The format's escapes (as
// decodeEscape, plus \" \' \? and \NNN octal) and the conversions %%, %s,
// %b, %c, %d and %i with flags, width and precision are evaluated; the
// format is reused while arguments remain, as printf does. Other
// conversions (%x, %f, %q, ...) are not, and `printf -v VAR` prints
// nothing (see printfAssign).
func printfOutput(args []string) (string, bool) {
	s, ok, _ := printfEval(args)
	return s, ok
}

// printfAssign records the value that bash's printf -v NAME FORMAT
// [ARGS] (args, after printf) gives NAME: what printf would print, as
// printfOutput evaluates it, when static says every word is known.
// Otherwise, or for a conversion printfOutput does not evaluate, NAME
// gets a value preflight does not know (see markRuntime). A value known
// but too long to evaluate refuses the command line (text), as printf's
// output does.
func (ex *extractor) printfAssign(text string, args []string, static bool) {
	name := ""
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			args = args[1:]
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		if a == "-v" {
			if len(args) < 2 {
				return
			}
			name, args = args[1], args[2:]
			continue
		}
		if v, ok := strings.CutPrefix(a, "-v"); ok {
			name, args = v, args[1:]
			continue
		}
		return // an invalid option: printf fails
	}
	if name == "" || len(args) == 0 {
		return // it prints (see stmtOutput), or fails
	}
	// A variable, or an array element (printf -v 'a[1]').
	variable := targetName(name)
	if variable == "" {
		return
	}
	if !static {
		ex.markRuntime(variable)
		return
	}
	out, ok, big := printfEval(append([]string{"--"}, args...))
	if big {
		ex.tooLong(text)
		return
	}
	if !ok {
		ex.markRuntime(variable)
		return
	}
	ex.assignTarget(text, name, []string{out}, false)
}

// printfEval is printfOutput, and big reports that ok is false because
// the output would be longer than maxStaticOutput (or a field wider than
// maxPrintfWidth): output that is known, only too long to evaluate.
func printfEval(args []string) (out string, ok, big bool) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	} else if len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		return "", false, false // -v VAR, or an invalid option
	}
	if len(args) == 0 {
		return "", false, false
	}
	format, args := args[0], args[1:]
	var b strings.Builder
	for {
		used, stop, ok := printfOnce(&b, format, &args, &big)
		if big || b.Len() > maxStaticOutput {
			return "", false, true
		}
		if !ok {
			return "", false, false
		}
		if stop || !used || len(args) == 0 {
			return b.String(), true, false
		}
	}
}

// printfOnce writes one pass of format to b, consuming arguments from
// *args. used reports whether a conversion consumed an argument; stop is
// true at a \c in a %b argument.
// *big is set when a field is wider than maxPrintfWidth or the output
// longer than maxStaticOutput.
func printfOnce(b *strings.Builder, format string, args *[]string, big *bool) (used, stop, ok bool) {
	next := func() string {
		if len(*args) == 0 {
			return ""
		}
		used = true
		a := (*args)[0]
		*args = (*args)[1:]
		return a
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '\\' && i+1 < len(format):
			i++
			switch e := format[i]; {
			case e == '"' || e == '\'' || e == '?':
				b.WriteByte(e)
			case e >= '0' && e <= '7':
				j := i
				for j < len(format) && j-i < 3 && format[j] >= '0' && format[j] <= '7' {
					j++
				}
				n, _ := strconv.ParseUint(format[i:j], 8, 16)
				b.WriteByte(byte(n))
				i = j - 1
			case e == 'c':
				return used, true, true
			default:
				if n := decodeEscape(b, format, i); n > 0 {
					i += n - 1
				} else {
					b.WriteByte('\\')
					b.WriteByte(e)
				}
			}
		case c == '%' && i+1 < len(format):
			j := i + 1
			for j < len(format) && strings.IndexByte("-+ #0", format[j]) >= 0 {
				j++
			}
			flags := format[i+1 : j]
			w := j
			for j < len(format) && format[j] >= '0' && format[j] <= '9' {
				j++
			}
			width := format[w:j]
			prec := ""
			if j < len(format) && format[j] == '.' {
				p := j
				j++
				for j < len(format) && format[j] >= '0' && format[j] <= '9' {
					j++
				}
				prec = format[p:j]
			}
			if j == len(format) {
				return used, false, false
			}
			if !smallNumber(width) || len(prec) > 1 && !smallNumber(prec[1:]) {
				*big = true
				return used, false, false
			}
			spec := "%" + flags + width + prec
			// C's printf pads a string with blanks whatever the flags;
			// Go's pads it with zeros for "0" ("%05s" of push is
			// " push" in bash, which a split turns into push).
			strSpec := "%" + strings.ReplaceAll(flags, "0", "") + width + prec
			switch conv := format[j]; conv {
			case '%':
				b.WriteByte('%')
			case 's':
				b.WriteString(fmt.Sprintf(strSpec+"s", next()))
			case 'b':
				s, st := decodeEcho(next())
				b.WriteString(fmt.Sprintf(strSpec+"s", s))
				if st {
					return used, true, true
				}
			case 'c':
				a := next()
				if a != "" {
					a = a[:1]
				}
				b.WriteString(fmt.Sprintf(strSpec+"s", a))
			case 'd', 'i':
				a := next()
				n := int64(0)
				if a != "" {
					var err error
					if n, err = strconv.ParseInt(a, 10, 64); err != nil {
						return used, false, false
					}
				}
				b.WriteString(fmt.Sprintf(spec+"d", n))
			default:
				return used, false, false
			}
			if b.Len() > maxStaticOutput {
				// Wide fields add up within one pass of the format.
				*big = true
				return used, false, false
			}
			i = j
		default:
			b.WriteByte(c)
		}
	}
	return used, false, true
}

// smallNumber reports whether s is empty or a decimal no larger than
// maxPrintfWidth.
func smallNumber(s string) bool {
	if s == "" {
		return true
	}
	n, err := strconv.Atoi(s)
	return err == nil && n <= maxPrintfWidth
}

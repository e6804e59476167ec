package config

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// Bash's read builtin, as preflight follows it.
//
// read NAME... takes a line of its input and splits it into words on
// IFS, the last NAME getting the rest of the line: read a b <<< "p push"
// gives b the value push. The input is known when the command line
// spells it out: a heredoc, a here-string, or a <(...) or command piped
// in whose output is static (see stmtOutput), given to the read itself
// or to a statement around it (while read x; do ...; done <<< ...,
// cmd | while read x; ...). Other input (a file, the terminal, a
// function's caller's) gives the names a value preflight does not know
// (see markRuntime).

// readOptions are the options of one read.
type readOptions struct {
	raw   bool   // -r: a backslash is text
	delim rune   // -d: the end of a line
	count int    // -n, -N: the characters read at most; -1 for no bound
	exact bool   // -N: the delimiter is text, and nothing is split
	array string // -a NAME: the words are the elements of array NAME
	fd    string // -u FD: the descriptor read, "0" for stdin
	names []string
}

// parseReadArgs parses read's arguments (after read); ok is false when
// read fails on them (an unknown option, a count that is no number).
func parseReadArgs(args []string) (o readOptions, ok bool) {
	o = readOptions{delim: '\n', count: -1, fd: "0"}
	o.names, ok = builtinOptions(args, "ers", "adinptuN", func(opt byte, val string) bool {
		switch opt {
		case 'r':
			o.raw = true
		case 'a':
			o.array = val
		case 'd':
			o.delim = delimiter(val)
		case 'n', 'N':
			n, valid := count(val)
			o.count, o.exact = n, opt == 'N'
			return valid
		case 'u':
			_, valid := count(val)
			o.fd = val
			return valid
		}
		return true
	})
	return o, ok
}

// builtinOptions parses a builtin's options as bash does: clusters of
// the letters in flags (-rs), and the letters in valued, which take the
// rest of their word or else the next word as their value (-d, or -d:).
// It calls set with each, and returns the words after the options. ok
// is false when the builtin fails on them: an unknown option, a value
// missing, or one set refuses.
func builtinOptions(args []string, flags, valued string, set func(opt byte, val string) bool) (rest []string, ok bool) {
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			return args[1:], true
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		args = args[1:]
		for i := 1; i < len(a); i++ {
			c := a[i]
			if strings.IndexByte(flags, c) >= 0 {
				if !set(c, "") {
					return nil, false
				}
				continue
			}
			if strings.IndexByte(valued, c) < 0 {
				return nil, false
			}
			val := a[i+1:]
			if val == "" {
				if len(args) == 0 {
					return nil, false
				}
				val, args = args[0], args[1:]
			}
			if !set(c, val) {
				return nil, false
			}
			break
		}
	}
	return args, true
}

// delimiter is the line delimiter of read -d and mapfile -d: the first
// character of s, or NUL for "".
func delimiter(s string) rune {
	if s == "" {
		return 0
	}
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// count reads a non-negative count (-n, -s, -O) or descriptor (-u).
func count(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// readAssign records the values that read (args after its name; st,
// inside path, the nodes around it, innermost last; text names it) gives
// its names, its array (-a) or REPLY.
func (ex *extractor) readAssign(src, text string, st *syntax.Stmt, path []syntax.Node, args []string) {
	o, ok := parseReadArgs(args)
	if !ok {
		return
	}
	targets := o.names
	if o.array != "" {
		targets = []string{o.array}
	} else if len(targets) == 0 {
		targets = []string{"REPLY"}
	}
	texts, static, shared, found := ex.readInput(src, st, path, o.fd)
	// Input shared with other commands of a loop or group may have been
	// read in part by them ({ head -c 1; read x; } <<< xpush): what is
	// left of a line is not known, as the output of a group that reads
	// its input is not (see stmtsOutputIn).
	if !found || !static || shared {
		for _, n := range targets {
			if v := targetName(n); v != "" {
				ex.markRuntime(v)
			}
		}
	}
	if !found {
		return
	}
	vals := make([][]string, len(targets))
	ifss := ex.ifsValues()
	ex.readLines(text, texts, shared, o.count, o.exact, o.raw, o.delim, func(rec []rune, esc []bool) {
		switch {
		case o.exact:
			// -N: the first name gets all, unsplit.
			vals[0] = append(vals[0], string(rec))
			for i := 1; i < len(vals); i++ {
				vals[i] = append(vals[i], "")
			}
		case o.array == "" && len(o.names) == 0:
			vals[0] = append(vals[0], string(rec)) // REPLY: the whole line
		default:
			for _, ifs := range ifss {
				words := readSplit(rec, esc, ifs, len(targets), o.array != "")
				for i, w := range words {
					vals[i] = append(vals[i], w)
				}
			}
		}
	})
	for i, n := range targets {
		if len(vals[i]) > 0 {
			ex.assignTarget(text, n, vals[i], o.array != "")
		}
	}
}

// mapfileAssign records the array that mapfile or readarray (args after
// its name; st, inside path, the nodes around it, innermost last; text
// names it) makes of its input's lines, and returns the scripts its
// callback (-C) runs: the callback with each line's index and the line.
func (ex *extractor) mapfileAssign(src, text string, st *syntax.Stmt, path []syntax.Node, args []string) (scripts []string) {
	var (
		delim             = '\n'
		chop, hasCallback bool
		limit, skip       int
		origin            = -1
		fd                = "0"
		callback          string
	)
	args, ok := builtinOptions(args, "t", "dnOsuCc", func(opt byte, val string) bool {
		valid := true
		switch opt {
		case 't':
			chop = true
		case 'd':
			delim = delimiter(val)
		case 'n':
			limit, valid = count(val)
		case 's':
			skip, valid = count(val)
		case 'O':
			origin, valid = count(val)
		case 'u':
			fd = val
			_, valid = count(val)
		case 'C':
			callback, hasCallback = val, true
		}
		return valid
	})
	array := "MAPFILE"
	if len(args) > 0 {
		array = args[0]
	}
	if !ok || !isName(array) {
		return nil // mapfile fails
	}
	if origin > maxIndex {
		// mapfileValues places the lines at origin, the elements
		// below it empty: as a[N]=x, past maxIndex is refused.
		ex.tooHighIndex(text)
		return nil
	}
	texts, static, shared, found := ex.readInput(src, st, path, fd)
	if !found || !static || shared {
		// Not known, or read in part by another command first (see
		// readAssign).
		ex.markRuntime(array)
	}
	if hasCallback && (!found || len(texts) == 0) {
		scripts = append(scripts, callback+" 0 ''")
	}
	if !found {
		return scripts
	}
	var vals []string
	for _, t := range texts {
		lines := strings.SplitAfter(t, string(delim))
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1] // after the last delimiter
		}
		// The lines from the first on or, when other commands may have
		// read lines first (shared), from each line on.
		for k := 0; k == 0 || shared && k < len(lines); k++ {
			var elems []string
			n := 0
			for _, line := range lines[min(k, len(lines)):] {
				if n++; n <= skip {
					continue
				}
				if limit > 0 && len(elems) == limit {
					break
				}
				if chop {
					line = strings.TrimSuffix(line, string(delim))
				}
				if hasCallback && k == 0 {
					scripts = append(scripts, callback+" "+strconv.Itoa(max(origin, 0)+len(elems))+" "+singleQuote(line))
				}
				elems = append(elems, line)
			}
			if !ex.spend(len(t)-k, text) {
				return scripts
			}
			vals = append(vals, ex.mapfileValues(array, origin, elems)...)
		}
	}
	ex.record(text, array, vals, false, true)
	return scripts
}

// mapfileValues returns the values of array once mapfile has read elems
// into it: elems, and with -O origin (origin > 0) elems from there on
// over each value the array had.
func (ex *extractor) mapfileValues(array string, origin int, elems []string) []string {
	vals := []string{strings.Join(elems, fieldSep)}
	if origin <= 0 {
		return vals
	}
	// The array keeps its elements before origin, and those after the
	// ones read; the elements read alone count too, as ${a[@]} of an
	// array that had none below origin, and at origin, as ${a[N]} of
	// one whose values are not known reads them.
	vals = append(vals, strings.Join(append(make([]string, origin), elems...), fieldSep))
	for _, old := range ex.vars[array] {
		o := strings.Split(old, fieldSep)
		for len(o) < origin {
			o = append(o, "")
		}
		merged := append(slices.Clip(o[:origin]), elems...)
		if len(o) > origin+len(elems) {
			merged = append(merged, o[origin+len(elems):]...)
		}
		vals = append(vals, strings.Join(merged, fieldSep))
	}
	return vals
}

// singleQuote quotes s for the shell, as bash quotes a line it passes to
// mapfile's callback.
func singleQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// readLines calls each with each line (record) that a read takes from
// texts, the possible inputs: their first line or, read in a loop or
// group that shares the input (shared), every line. A line ends at
// delim, or after count characters (-1: no bound; exact ignores delim);
// a backslash escapes the next character (marked in esc) and a
// backslash-newline is dropped, unless raw. The lines read are charged
// to the expansion budget (see spend, text naming the read); past it,
// the rest are not read.
func (ex *extractor) readLines(text string, texts []string, shared bool, count int, exact, raw bool, delim rune, each func(rec []rune, esc []bool)) {
	seen := map[string]bool{}
	var rec []rune
	var esc []bool
	for _, t := range texts {
		in := []rune(t)
		for start, first := 0, true; first || shared && start < len(in); first = false {
			rec, esc = rec[:0], esc[:0]
			i := start
			for i < len(in) && (count < 0 || len(rec) < count) {
				c := in[i]
				i++
				if c == '\\' && !raw {
					if i == len(in) {
						break // dropped at the end
					}
					c = in[i]
					i++
					if c == '\n' {
						continue // a line continues
					}
					rec, esc = append(rec, c), append(esc, true)
					continue
				}
				if c == delim && !exact {
					break
				}
				rec, esc = append(rec, c), append(esc, false)
			}
			key := string(in[start:i])
			if i == start {
				i = len(in) // nothing read (read -n 0): once
			}
			start = i
			if seen[key] {
				continue
			}
			seen[key] = true
			if !ex.spend(len(key)+1, text) {
				return
			}
			each(rec, esc)
		}
	}
}

// ifsValues returns the values IFS may have: its default and those the
// command line gives it.
func (ex *extractor) ifsValues() []string {
	return append([]string{" \t\n"}, ex.vars["IFS"]...)
}

// readSplit splits a line (rec; esc marks the characters a backslash
// escaped, which never separate) as read does for n names, IFS being
// ifs: a word each, and the rest of the line for the last, as bash's
// read assigns them; or, with all (read -a), the words joined by
// fieldSep.
func readSplit(rec []rune, esc []bool, ifs string, n int, all bool) []string {
	sep := func(i int) bool { return !esc[i] && strings.ContainsRune(ifs, rec[i]) }
	white := func(i int) bool {
		c := rec[i]
		return (c == ' ' || c == '\t' || c == '\n') && sep(i)
	}
	// word returns the end of the word at i, and where the next one
	// starts: after the separator, the IFS whitespace around it, and a
	// non-whitespace separator that follows whitespace.
	word := func(i int) (end, next int) {
		for i < len(rec) && !sep(i) {
			i++
		}
		end = i
		if i == len(rec) {
			return end, i
		}
		c := rec[i]
		i++
		for i < len(rec) && white(i) {
			i++
		}
		if (c == ' ' || c == '\t' || c == '\n') && i < len(rec) && sep(i) && !white(i) {
			i++
			for i < len(rec) && white(i) {
				i++
			}
		}
		return end, i
	}
	i := 0
	for i < len(rec) && white(i) {
		i++
	}
	if all {
		var words []string
		for i < len(rec) {
			end, next := word(i)
			words = append(words, string(rec[i:end]))
			i = next
		}
		return []string{strings.Join(words, fieldSep)}
	}
	out := make([]string, n)
	for k := 0; k < n-1 && i < len(rec); k++ {
		end, next := word(i)
		out[k] = string(rec[i:end])
		i = next
	}
	if i < len(rec) {
		// The last name: the one word left, or else the rest of the
		// line without its trailing IFS whitespace.
		end, next := word(i)
		if next == len(rec) {
			out[n-1] = string(rec[i:end])
		} else {
			e := len(rec)
			for e > i && white(e-1) {
				e--
			}
			out[n-1] = string(rec[i:e])
		}
	}
	return out
}

// readInput returns the possible texts that a read or mapfile (st,
// inside path, the nodes around it, innermost last) reads from
// descriptor fd: from its own last redirection of fd or, for stdin, the
// command piped into it; else from those of the statements around it,
// which other commands there may read part of first (shared). found is
// false when the input is not known: not given in the command line, a
// file, a function's caller's. static is false when a text holds parts
// that are not known, kept as their source text.
func (ex *extractor) readInput(src string, st *syntax.Stmt, path []syntax.Node, fd string) (texts []string, static, shared, found bool) {
	var child syntax.Node
	for i := len(path) - 1; i >= 0; i-- {
		switch n := path[i].(type) {
		case *syntax.Stmt:
			if r := lastInput(n.Redirs, fd); r != nil {
				texts, static, found = ex.redirTexts(src, r)
				return texts, static, n != st, found
			}
		case *syntax.BinaryCmd:
			if (n.Op == syntax.Pipe || n.Op == syntax.PipeAll) && fd == "0" && child == n.Y {
				outs, ok := ex.stmtOutput(src, n.X)
				return outs, true, n.Y != st, ok
			}
		case *syntax.FuncDecl, *syntax.CmdSubst, *syntax.ProcSubst, *syntax.CoprocClause:
			return nil, false, false, false
		}
		child = path[i]
	}
	return nil, false, false, false
}

// lastInput returns the last of redirs that redirects input to fd, or
// nil.
func lastInput(redirs []*syntax.Redirect, fd string) *syntax.Redirect {
	var last *syntax.Redirect
	for _, r := range redirs {
		n := "0"
		if r.N != nil {
			n = r.N.Value
		}
		if n != fd {
			continue
		}
		switch r.Op {
		case syntax.RdrIn, syntax.RdrInOut, syntax.DplIn, syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc:
			last = r
		}
	}
	return last
}

// redirTexts returns the possible texts an input redirection feeds: a
// heredoc's or here-string's (static false when a part of it is not
// known, kept as its source text), or the output of a static <(...).
// ok is false for any other (a file, a descriptor).
func (ex *extractor) redirTexts(src string, r *syntax.Redirect) (texts []string, static, ok bool) {
	switch r.Op {
	case syntax.Hdoc, syntax.DashHdoc:
		if r.Hdoc == nil {
			return []string{""}, true, true
		}
		return ex.wordAlts(src, r.Hdoc.Parts), ex.isStatic(src, r.Hdoc.Parts), true
	case syntax.WordHdoc:
		alts := ex.wordAlts(src, r.Word.Parts)
		for i := range alts {
			alts[i] += "\n" // a here-string ends with a newline
		}
		return alts, ex.isStatic(src, r.Word.Parts), true
	case syntax.RdrIn:
		if ps := procSubstIn(r.Word); ps != nil {
			outs, ok := ex.stmtsOutput(src, ps.Stmts)
			return outs, true, ok
		}
	}
	return nil, false, false
}

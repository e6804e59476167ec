package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// Parameter expansion operators, as preflight evaluates them.
//
// ${x#pat}, ${x%pat}, ${x/pat/rep}, ${x:off:len}, ${#x}, ${x^^pat},
// ${x,,pat} and ${x@Q} (@E, @U, @u, @L) are evaluated over each value x
// is known to have, element by element for a whole array (${a[@]#x},
// ${@: -1}). A pattern is bash's: *, ? and [...] (with ranges and
// classes) where they are unquoted, text where quoted, from literals or
// the known values of variables and substitutions. A pattern, offset or
// replacement that is not known (a runtime value, an extended glob) may
// make anything of a value: the expansion is then its source text too,
// as a value not known is, besides the values it leaves as they are (a
// pattern not known may match nothing, an offset not known may be 0).

// maxPatternSteps bounds the steps of pattern matching for one command
// line (each a pattern position tried against a character): bash's
// matching is quadratic in a value's length, and values are up to
// maxStaticOutput long.
const maxPatternSteps = 1 << 24

// paramOp applies p's operator, if any (not a default or alternate
// value, see paramValues), to vals, the values known of its parameter:
// whole arrays (elements joined by fieldSep) when whole. sure is false
// when the operator makes of a value something preflight does not know,
// which is then kept as the expansion's source text besides out.
func (ex *extractor) paramOp(src string, p *syntax.ParamExp, vals []string, whole bool) (out []string, sure bool) {
	text := nodeText(src, p)
	switch {
	case p.Length:
		return lengths(vals, whole), true
	case p.Slice != nil:
		return ex.sliceValues(src, p, vals, whole)
	case p.Repl != nil:
		return ex.replaceValues(src, text, p.Repl, vals)
	case p.Exp == nil:
		return vals, true
	}
	switch op := p.Exp.Op; op {
	case syntax.ErrorUnset, syntax.ErrorUnsetOrNull:
		return vals, true // ${x:?message}: x, or no command at all
	case syntax.RemSmallPrefix, syntax.RemLargePrefix, syntax.RemSmallSuffix, syntax.RemLargeSuffix:
		return ex.patternValues(src, text, p.Exp.Word, vals, func(g glob, v string) string {
			return ex.remove(text, op, g, v)
		})
	case syntax.UpperFirst, syntax.UpperAll, syntax.LowerFirst, syntax.LowerAll:
		if p.Exp.Word == nil {
			// No pattern: every character, as ?.
			return ex.patternValuesOf(text, []string{"?"}, true, vals, func(g glob, v string) string {
				return ex.changeCase(text, op, g, v)
			})
		}
		return ex.patternValues(src, text, p.Exp.Word, vals, func(g glob, v string) string {
			return ex.changeCase(text, op, g, v)
		})
	case syntax.OtherParamOps:
		return atValues(p.Exp.Word, vals)
	}
	return nil, false
}

// lengths returns ${#x} of each value: its length in characters, or for
// a whole array its number of elements.
func lengths(vals []string, whole bool) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		n := utf8.RuneCountInString(v)
		if whole {
			n = strings.Count(v, fieldSep) + 1
		}
		if s := strconv.Itoa(n); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// atValues returns ${x@OP} of each value for the operators that
// transform it: Q (quoted for the shell), E (escapes decoded, as in
// $'...'), U, u and L (case). sure is false for the others (@A, @P,
// @K, ...), which are not evaluated.
func atValues(w *syntax.Word, vals []string) (out []string, sure bool) {
	if w == nil {
		return nil, false
	}
	var f func(string) string
	switch w.Lit() {
	case "Q":
		f = singleQuote
	case "E":
		f = decodeANSIC
	case "U":
		f = strings.ToUpper
	case "L":
		f = strings.ToLower
	case "u":
		f = func(s string) string {
			r, n := utf8.DecodeRuneInString(s)
			if n == 0 {
				return s
			}
			return string(unicode.ToUpper(r)) + s[n:]
		}
	default:
		return nil, false
	}
	return eachElem(vals, f), true
}

// eachElem applies f to each value, element by element for a whole
// array.
func eachElem(vals []string, f func(string) string) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if !strings.Contains(v, fieldSep) {
			out = append(out, f(v))
			continue
		}
		elems := strings.Split(v, fieldSep)
		for i, e := range elems {
			elems[i] = f(e)
		}
		out = append(out, strings.Join(elems, fieldSep))
	}
	return out
}

// patternValues applies f to each value, element by element, with each
// of the patterns the word w may be (see patternAlts): a pattern is
// expanded once for all the elements. A pattern that is not known leaves
// the values as they are, and sure false.
func (ex *extractor) patternValues(src, text string, w *syntax.Word, vals []string, f func(glob, string) string) (out []string, sure bool) {
	var pats []string
	known := true
	if w == nil {
		pats = []string{""}
	} else {
		pats, known = ex.patternAlts(src, w.Parts, false)
	}
	return ex.patternValuesOf(text, pats, known, vals, f)
}

// patternValuesOf is patternValues for the patterns pats (templates, see
// patternAlts), known or not.
func (ex *extractor) patternValuesOf(text string, pats []string, known bool, vals []string, f func(glob, string) string) (out []string, sure bool) {
	if !known {
		return vals, false
	}
	sure = true
	for _, pat := range pats {
		g, ok := compileGlob(pat)
		if !ok {
			// An extended glob, an equivalence class: it may match
			// nothing, or anything.
			out, sure = appendNew(out, vals...), false
			continue
		}
		out = appendNew(out, eachElem(vals, func(v string) string { return f(g, v) })...)
		if len(out) > maxVariants {
			ex.tooMany(text, "a word")
			return out[:maxVariants], sure
		}
	}
	return out, sure
}

// appendNew appends to out each of vals it does not hold yet.
func appendNew(out []string, vals ...string) []string {
	for _, v := range vals {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// remove returns v without its shortest or longest prefix or suffix
// that g matches (${v#g}, ${v##g}, ${v%g}, ${v%%g}); text names the
// expansion, for refusals.
func (ex *extractor) remove(text string, op syntax.ParExpOperator, g glob, v string) string {
	rs := []rune(v)
	switch op {
	case syntax.RemSmallPrefix, syntax.RemLargePrefix:
		if k := ex.match(text, g, rs, op == syntax.RemLargePrefix); k >= 0 {
			return string(rs[k:])
		}
	default:
		rev := slices.Clone(rs)
		slices.Reverse(rev)
		if k := ex.match(text, g.reversed(), rev, op == syntax.RemLargeSuffix); k >= 0 {
			return string(rs[:len(rs)-k])
		}
	}
	return v
}

// changeCase returns v with its first character (^, ,) or every
// character (^^, ,,) that g matches in upper or lower case.
func (ex *extractor) changeCase(text string, op syntax.ParExpOperator, g glob, v string) string {
	rs := []rune(v)
	for i, r := range rs {
		if i > 0 && (op == syntax.UpperFirst || op == syntax.LowerFirst) {
			break
		}
		if ex.match(text, g, rs[i:i+1], true) != 1 {
			continue
		}
		if op == syntax.UpperFirst || op == syntax.UpperAll {
			rs[i] = unicode.ToUpper(r)
		} else {
			rs[i] = unicode.ToLower(r)
		}
	}
	return string(rs)
}

// replaceValues returns ${v/pat/rep} (${v//pat/rep}, ${v/#pat/rep},
// ${v/%pat/rep}) of each value, with each pattern and replacement the
// words may be. An unquoted & in the replacement is the text matched
// (bash 5.2's patsub_replacement, on by default) or itself (before, or
// with it off): both count.
func (ex *extractor) replaceValues(src, text string, r *syntax.Replace, vals []string) (out []string, sure bool) {
	var parts []syntax.WordPart
	if r.Orig != nil {
		parts = r.Orig.Parts
	}
	var anchor byte
	if len(parts) == 0 {
		return vals, true // ${x/}: an empty pattern, unanchored
	}
	if l, ok := parts[0].(*syntax.Lit); ok && !r.All && l.Value != "" && (l.Value[0] == '#' || l.Value[0] == '%') {
		// ${v/#pat/rep}, ${v/%pat/rep}: anchored at the start or end.
		anchor = l.Value[0]
		parts = slices.Concat([]syntax.WordPart{&syntax.Lit{ValuePos: l.ValuePos, ValueEnd: l.ValueEnd, Value: l.Value[1:]}}, parts[1:])
	}
	pats, known := ex.patternAlts(src, parts, false)
	if !known {
		return vals, false
	}
	reps := []string{""}
	sure = true
	if r.With != nil {
		// Parts not known are kept as their source text, as in any
		// word, and the result is not known either.
		reps, sure = ex.patternAlts(src, r.With.Parts, false)
	}
	for _, pat := range pats {
		g, ok := compileGlob(pat)
		if !ok {
			out, sure = appendNew(out, vals...), false
			continue
		}
		for _, rep := range reps {
			for _, amp := range []bool{true, false} {
				if !amp && !hasUnescaped(rep, '&') {
					continue
				}
				out = appendNew(out, eachElem(vals, func(v string) string {
					return ex.replace(text, g, anchor, r.All, v, func(m string) string { return expandReplacement(rep, m, amp) })
				})...)
				if len(out) > maxVariants {
					ex.tooMany(text, "a word")
					return out[:maxVariants], sure
				}
			}
		}
	}
	return out, sure
}

// replace returns v with the first (all: every) longest match of g,
// leftmost, replaced by rep of the text matched; anchor '#' or '%'
// replaces a match at the start or the end only.
func (ex *extractor) replace(text string, g glob, anchor byte, all bool, v string, rep func(string) string) string {
	rs := []rune(v)
	if len(g) == 0 {
		// An empty pattern matches nothing, but anchored.
		switch anchor {
		case '#':
			return rep("") + v
		case '%':
			return v + rep("")
		}
		return v
	}
	switch anchor {
	case '#':
		if k := ex.match(text, g, rs, true); k >= 0 {
			return rep(string(rs[:k])) + string(rs[k:])
		}
		return v
	case '%':
		rev := slices.Clone(rs)
		slices.Reverse(rev)
		if k := ex.match(text, g.reversed(), rev, true); k >= 0 {
			return string(rs[:len(rs)-k]) + rep(string(rs[len(rs)-k:]))
		}
		return v
	}
	var b strings.Builder
	i := 0
	for {
		start, k := -1, -1
		for s := i; s <= len(rs); s++ {
			if k = ex.match(text, g, rs[s:], true); k >= 0 {
				start = s
				break
			}
		}
		if start < 0 {
			break
		}
		b.WriteString(string(rs[i:start]))
		b.WriteString(rep(string(rs[start : start+k])))
		i = start + k
		if k == 0 {
			// An empty match: the next character stays.
			if i < len(rs) {
				b.WriteRune(rs[i])
			}
			i++
		}
		if !all || i >= len(rs) {
			break
		}
	}
	if i < len(rs) {
		b.WriteString(string(rs[i:]))
	}
	return b.String()
}

// hasUnescaped reports whether template t (see patternAlts) has c
// unquoted.
func hasUnescaped(t string, c byte) bool {
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '\\':
			i++
		case c:
			return true
		}
	}
	return false
}

// expandReplacement returns the text of a replacement template (see
// patternAlts) for match m: each escaped character as itself, and an
// unquoted & as m when amp.
func expandReplacement(t, m string, amp bool) string {
	if !strings.ContainsAny(t, `\&`) {
		return t
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == '\\' && i+1 < len(t):
			i++
			b.WriteByte(t[i])
		case c == '&' && amp:
			b.WriteString(m)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// patternEscaped are the characters a template escapes where quoted
// (see patternAlts): those special in a pattern or a replacement.
const patternEscaped = "\\*?[]&("

// patternAlts returns the possible templates of a pattern or replacement
// word (parts, inside double quotes when quoted): its text with each
// character that is quoted in it, or comes from a quoted expansion,
// escaped by a backslash, so that only unquoted ones stay special (*, ?
// and [ of a glob, & of a replacement). known is false when a part's
// value is not known (see isStatic); the part is then its source text,
// escaped.
func (ex *extractor) patternAlts(src string, parts []syntax.WordPart, quoted bool) (alts []string, known bool) {
	alts, known = []string{""}, true
	add := func(vals []string, escape bool) {
		if escape {
			vals = slices.Clone(vals)
			for i, v := range vals {
				vals[i] = escapePattern(v)
			}
		}
		alts = ex.crossAll(wordText(src, parts), "a pattern", alts, vals)
	}
	for _, p := range parts {
		switch p := p.(type) {
		case *syntax.Lit:
			if quoted {
				add([]string{unescapeDouble(p.Value)}, true)
			} else {
				add([]string{p.Value}, false) // a backslash escapes, as in a template
			}
		case *syntax.SglQuoted:
			if p.Dollar {
				add([]string{decodeANSIC(p.Value)}, true)
			} else {
				add([]string{p.Value}, true)
			}
		case *syntax.DblQuoted:
			inner, ok := ex.patternAlts(src, p.Parts, true)
			known = known && ok
			add(inner, false)
		case *syntax.ParamExp:
			vals := ex.param(src, p)
			if slices.Contains(vals, nodeText(src, p)) {
				known = false
				add([]string{nodeText(src, p)}, true)
				continue
			}
			add(vals, quoted)
		case *syntax.CmdSubst:
			if outs, ok := ex.substUse(src, p); ok {
				add(outs, quoted)
				continue
			}
			known = false
			add([]string{nodeText(src, p)}, true)
		default:
			known = false
			add([]string{nodeText(src, p)}, true)
		}
	}
	return alts, known
}

// escapePattern escapes the characters of s that are special in a
// template (see patternAlts).
func escapePattern(s string) string {
	if !strings.ContainsAny(s, patternEscaped) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(patternEscaped, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// glob is a compiled pattern of bash's pattern matching: a sequence of
// atoms, each matching one character but for '*'.
type glob []globAtom

type globAtom struct {
	kind byte // 'c': the character r; '?': any; '*': any sequence; '[': one of set
	r    rune
	set  *runeSet
}

// runeSet is a bracket expression: its characters, ranges and classes,
// or all others (neg).
type runeSet struct {
	neg     bool
	runes   []rune
	ranges  [][2]rune
	classes []func(rune) bool
}

func (s *runeSet) has(r rune) bool {
	in := slices.Contains(s.runes, r)
	for _, rg := range s.ranges {
		in = in || rg[0] <= r && r <= rg[1]
	}
	for _, f := range s.classes {
		in = in || f(r)
	}
	return in != s.neg
}

// compileGlob compiles a template (see patternAlts). ok is false for a
// pattern preflight does not evaluate: an extended glob (?(...), *(...),
// +(...), @(...), !(...)), which bash matches with extglob on, a bracket
// expression with an equivalence class or collating symbol, or a class
// it does not know.
func compileGlob(t string) (g glob, ok bool) {
	rs := []rune(t)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\\':
			if i+1 < len(rs) {
				i++
				c = rs[i]
			}
			g = append(g, globAtom{kind: 'c', r: c})
		case strings.ContainsRune("*?+@!", c) && i+1 < len(rs) && rs[i+1] == '(':
			return nil, false
		case c == '*':
			if len(g) == 0 || g[len(g)-1].kind != '*' {
				g = append(g, globAtom{kind: '*'})
			}
		case c == '?':
			g = append(g, globAtom{kind: '?'})
		case c == '[':
			set, end, ok := parseBracket(rs, i)
			if !ok {
				return nil, false
			}
			if set == nil {
				g = append(g, globAtom{kind: 'c', r: c}) // no closing ]: text
				continue
			}
			g = append(g, globAtom{kind: '[', set: set})
			i = end
		default:
			g = append(g, globAtom{kind: 'c', r: c})
		}
	}
	return g, true
}

// parseBracket parses the bracket expression that starts at rs[i] ('[')
// and returns it and the index of its closing ']', or a nil set when it
// has none (the '[' is then text). ok is false for what compileGlob does
// not evaluate.
func parseBracket(rs []rune, i int) (set *runeSet, end int, ok bool) {
	set = &runeSet{}
	j := i + 1
	if j < len(rs) && (rs[j] == '!' || rs[j] == '^') {
		set.neg = true
		j++
	}
	// one reads a character of the expression at j, escaped or not.
	one := func() rune {
		if rs[j] == '\\' && j+1 < len(rs) {
			j++
		}
		c := rs[j]
		j++
		return c
	}
	for first := true; j < len(rs); first = false {
		if rs[j] == ']' && !first {
			return set, j, true
		}
		if rs[j] == '[' && j+1 < len(rs) && strings.ContainsRune(":=.", rs[j+1]) {
			kind := rs[j+1]
			close := -1
			for k := j + 2; k+1 < len(rs); k++ {
				if rs[k] == kind && rs[k+1] == ']' {
					close = k
					break
				}
			}
			if close >= 0 {
				if kind != ':' {
					return nil, 0, false // [=a=], [.a.]
				}
				f := charClass(string(rs[j+2 : close]))
				if f == nil {
					return nil, 0, false
				}
				set.classes = append(set.classes, f)
				j = close + 2
				continue
			}
		}
		lo := one()
		if j+1 < len(rs) && rs[j] == '-' && rs[j+1] != ']' {
			j++
			set.ranges = append(set.ranges, [2]rune{lo, one()})
			continue
		}
		set.runes = append(set.runes, lo)
	}
	return nil, 0, true
}

// charClass returns the test of a bracket expression's class ([:alpha:]),
// or nil for a name bash does not know.
func charClass(name string) func(rune) bool {
	switch name {
	case "alnum":
		return func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	case "alpha":
		return unicode.IsLetter
	case "ascii":
		return func(r rune) bool { return r < 0x80 }
	case "blank":
		return func(r rune) bool { return r == ' ' || r == '\t' }
	case "cntrl":
		return unicode.IsControl
	case "digit":
		return func(r rune) bool { return '0' <= r && r <= '9' }
	case "graph":
		return func(r rune) bool { return unicode.IsGraphic(r) && !unicode.IsSpace(r) }
	case "lower":
		return unicode.IsLower
	case "print":
		return unicode.IsPrint
	case "punct":
		return unicode.IsPunct
	case "space":
		return unicode.IsSpace
	case "upper":
		return unicode.IsUpper
	case "word":
		return func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
	case "xdigit":
		return func(r rune) bool { return r < 0x80 && isHex(byte(r)) }
	}
	return nil
}

// reversed returns g matching the reversed strings: its atoms in the
// other order, each matching one character but for '*'.
func (g glob) reversed() glob {
	r := slices.Clone(g)
	slices.Reverse(r)
	return r
}

// match returns the length of the shortest (or, longest, longest) prefix
// of s that g matches, or -1. The steps are counted against
// maxPatternSteps (text names the expansion); past it the command line
// is refused and nothing matches.
func (ex *extractor) match(text string, g glob, s []rune, longest bool) int {
	if ex.tooDeep != "" {
		return -1 // refused anyway
	}
	cur := make([]bool, len(g)+1)
	next := make([]bool, len(g)+1)
	closeStars := func(st []bool) {
		for i, a := range g {
			if st[i] && a.kind == '*' {
				st[i+1] = true
			}
		}
	}
	cur[0] = true
	closeStars(cur)
	found := -1
	if cur[len(g)] {
		if !longest {
			return 0
		}
		found = 0
	}
	for k, c := range s {
		clear(next)
		alive := false
		for i, a := range g {
			if !cur[i] {
				continue
			}
			ex.patternSteps++
			switch {
			case a.kind == '*':
				next[i] = true
			case a.kind == '?', a.kind == 'c' && c == a.r, a.kind == '[' && a.set.has(c):
				next[i+1] = true
			default:
				continue
			}
			alive = true
		}
		if ex.patternSteps > maxPatternSteps {
			ex.tooDeep = text
			ex.tooDeepReason = fmt.Sprintf("matches patterns against values in more than %d steps, beyond what preflight checks", maxPatternSteps)
			return -1
		}
		if !alive {
			break
		}
		closeStars(next)
		cur, next = next, cur
		if cur[len(g)] {
			if !longest {
				return k + 1
			}
			found = k + 1
		}
	}
	return found
}

// sliceValues returns ${x:offset:length} of each value: its characters,
// or for a whole array its elements ($0 first, for $@ and $*), from the
// offset (from the end when negative) on, as many as the length (when
// negative, all but as many at the end). Operands not known count as 0,
// as an unset variable does, and sure is false; a length not known may
// be any too, so the rest of the value from the offset counts as well
// (counted as 0 alone, ${X:0:$n} was only the empty string).
func (ex *extractor) sliceValues(src string, p *syntax.ParamExp, vals []string, whole bool) (out []string, sure bool) {
	offs, offUnknown := ex.arithValues(src, p.Slice.Offset)
	// The lengths, each bounded, or one not: no length at all.
	type span struct {
		n       int64
		bounded bool
	}
	spans := []span{{-1, false}}
	lenUnknown := false
	if p.Slice.Length != nil {
		var lens []int64
		lens, lenUnknown = ex.arithValues(src, p.Slice.Length)
		spans = spans[:0]
		for _, n := range lens {
			spans = append(spans, span{n, true})
		}
		if lenUnknown {
			spans = append(spans, span{-1, false})
		}
	}
	sure = !offUnknown && !lenUnknown
	positional := p.Param.Value == "@" || p.Param.Value == "*"
	for _, v := range vals {
		var items []string
		if whole {
			items = strings.Split(v, fieldSep)
		} else {
			for _, r := range v {
				items = append(items, string(r))
			}
		}
		for _, off := range offs {
			for _, sp := range spans {
				if sp.bounded && sp.n < 0 && whole {
					continue // a negative length of an array: an error
				}
				for _, s := range ex.slice(items, off, sp.n, sp.bounded, positional && whole) {
					if whole {
						out = appendNew(out, strings.Join(s, fieldSep))
					} else {
						out = appendNew(out, strings.Join(s, ""))
					}
				}
				if len(out) > maxVariants {
					ex.tooMany(nodeText(src, p), "a word")
					return out[:maxVariants], sure
				}
			}
		}
	}
	if positional && whole && slices.ContainsFunc(offs, func(o int64) bool { return o == 0 }) && len(ex.vars["0"]) == 0 {
		sure = false // $0 not known
	}
	return out, sure
}

// slice returns the items from off on (from the end when negative), n of
// them when bounded (when negative, all but n at the end). For the
// positional parameters, index 0 is $0: each of its values.
func (ex *extractor) slice(items []string, off, n int64, bounded, positional bool) [][]string {
	heads := [][]string{nil}
	if positional {
		// $@ is $1...: $0 comes before.
		if off < 0 {
			off += int64(len(items)) + 1
		}
		if off == 0 {
			heads = nil
			for _, z := range ex.vars["0"] {
				heads = append(heads, []string{z})
			}
			if heads == nil {
				heads = [][]string{{"$0"}}
			}
		} else {
			off--
		}
	} else if off < 0 {
		off += int64(len(items))
	}
	if off < 0 || off > int64(len(items)) {
		return [][]string{nil}
	}
	var out [][]string
	for _, h := range heads {
		all := append(slices.Clip(h), items[off:]...)
		switch {
		case !bounded:
		case n >= 0:
			all = all[:min(int64(len(all)), n)]
		case int64(len(all))+n < 0:
			all = nil // bash: an error, no command at all
		default:
			all = all[:int64(len(all))+n]
		}
		out = append(out, all)
	}
	return out
}

// maxArithValues bounds the values of an arithmetic expression that
// arithValues evaluates: past it, the expression is not known.
const maxArithValues = 64

// arithValues returns the possible values of a slice's offset or length:
// integers, variables (by name or expansion) with integer values, an
// arithmetic expansion's expression ($((4))), unary - and +, + - * / %
// and parentheses. A part that is not known counts as 0, as an unset
// variable does, and unknown is true.
func (ex *extractor) arithValues(src string, e syntax.ArithmExpr) (vals []int64, unknown bool) {
	switch e := e.(type) {
	case *syntax.Word:
		if len(e.Parts) == 1 {
			if a, ok := e.Parts[0].(*syntax.ArithmExp); ok && a.X != nil {
				// $((expr)), $[expr]: the expression's values.
				return ex.arithValues(src, a.X)
			}
		}
		var words []string
		if lit := e.Lit(); isName(lit) {
			var ok bool
			if words, ok = ex.vars[lit]; !ok || ex.runtime[lit] {
				unknown = true
			}
		} else {
			words = ex.wordAlts(src, e.Parts)
		}
		for _, w := range words {
			n, err := strconv.ParseInt(strings.TrimSpace(w), 0, 64)
			if err != nil {
				unknown = true
				n = 0
			}
			if !slices.Contains(vals, n) {
				vals = append(vals, n)
			}
		}
		if len(vals) == 0 {
			vals = []int64{0}
		}
	case *syntax.ParenArithm:
		return ex.arithValues(src, e.X)
	case *syntax.UnaryArithm:
		x, u := ex.arithValues(src, e.X)
		switch e.Op {
		case syntax.Plus:
			return x, u
		case syntax.Minus:
			for _, n := range x {
				vals = append(vals, -n)
			}
			return vals, u
		}
		return []int64{0}, true
	case *syntax.BinaryArithm:
		x, ux := ex.arithValues(src, e.X)
		y, uy := ex.arithValues(src, e.Y)
		unknown = ux || uy
		for _, a := range x {
			for _, b := range y {
				var n int64
				switch e.Op {
				case syntax.Add:
					n = a + b
				case syntax.Sub:
					n = a - b
				case syntax.Mul:
					n = a * b
				case syntax.Quo, syntax.Rem:
					if b == 0 {
						continue // an error: no command at all
					}
					if n = a / b; e.Op == syntax.Rem {
						n = a % b
					}
				default:
					return []int64{0}, true
				}
				if !slices.Contains(vals, n) {
					vals = append(vals, n)
				}
			}
		}
		if len(vals) == 0 {
			vals = []int64{0}
		}
	default:
		return []int64{0}, true
	}
	if len(vals) > maxArithValues {
		return []int64{0}, true
	}
	return vals, unknown
}

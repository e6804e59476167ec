package config

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/syntax"
)

// Limits that keep preflight linear in the input however it is crafted.
const (
	// maxShellDepth bounds nesting of sh -c, eval and heredocs fed to a
	// shell. A command nested deeper is blocked, not waved through.
	maxShellDepth = 16
	// maxVariants bounds the values kept for one variable, word or static
	// output, and the argument vectors tried per simple command. Past it
	// the command line is refused (see tooMany), never checked in part: a
	// value dropped unchecked could be the one a rule denies. Loops over
	// thousands of literal words, and nested loops of a dozen words
	// each, stay within it; the expansion budget (spend) bounds the work
	// whatever the count.
	maxVariants = 4096
	// maxBraceFields bounds the words one brace expansion may produce, as
	// many as a variable's values: printf '=%.0s' {1..80} and touch
	// test_{001..100}.txt were refused at 64.
	maxBraceFields = 4096
	// maxUnwrap bounds wrapper chains such as env nice command git.
	maxUnwrap = 16
)

// simpleCommand is one command the shell would run, as preflight sees it.
type simpleCommand struct {
	// text is the command's source text, for messages.
	text string
	// argvs are the argument vectors to check: each expansion variant, then
	// the command each wrapper (env, command, nice, ...) would run.
	argvs [][]string
	// heads are the expansion variants alone, as written (no unwrapping).
	heads [][]string
}

// extractor turns shell source into the simple commands it may run.
type extractor struct {
	// vars holds every literal value assigned to each variable anywhere in
	// the input, so `X=git; $X push` is seen as `git push`. It is a
	// superset: order and scope are ignored, which can only add checks.
	vars map[string][]string
	out  []simpleCommand
	// tooDeep holds the text of a command nested beyond maxShellDepth, or
	// of the script at which the parse budget ran out.
	tooDeep string
	// tooDeepReason, when set, says why tooDeep is (the default reason
	// is nesting).
	tooDeepReason string
	// seen holds the nested scripts already extracted: variants of one
	// command often carry the same nested script, and parsing each copy
	// again would grow exponentially with nesting. It maps each to the
	// value of gen when it was read: a script is read again once a
	// variable has gained a value since (eval 'git $X'; eval X=push;
	// eval 'git $X' runs git push the second time).
	seen map[string]int
	// gen counts the values added to vars (and the variables lost), so
	// that seen can tell whether a script would expand differently now.
	gen int
	// budget is the number of bytes left to parse, nested scripts
	// included, so no input costs more than a fixed multiple of its size.
	budget int
	// substMemo holds the evaluated command substitutions (see
	// substOutput). Each is evaluated once, with the variables known at
	// that time, which keeps nested substitutions linear in cost.
	substMemo map[*syntax.CmdSubst]substResult
	// outMemo holds the evaluated outputs of statements (see stmtOutput).
	outMemo map[*syntax.Stmt]outResult
	// procs maps the source text of each <(...) to its node, so that a
	// shell or source given one as its script file can read its output.
	procs map[string]procRef
	// funcs maps the name of each function defined so far to its body's
	// text, so that a call in a nested script (trap 'f push' EXIT, eval
	// "f push") reads the body again with the call's arguments. A
	// function defined more than once has each body (a superset: the
	// call may come before a later definition).
	funcs map[string][]string
	// expanded counts the bytes that known variables and static command
	// output have put into words, and expandLimit bounds it (see spend):
	// a 64 KiB value used a few hundred times would otherwise make
	// preflight copy and split gigabytes.
	expanded, expandLimit int
	// namerefs holds the variables declared namerefs (declare -n).
	namerefs map[string]bool
	// refMemo holds the values of namerefs (see namerefValues).
	refMemo map[string]refResult
	// bound holds the value each variable has for the word being
	// expanded, when it is used there more than once (see wordAlts).
	bound map[string]string
	// varSets indexes the values of the variables that have more than a
	// few (see addVar).
	varSets map[string]map[string]struct{}
	// lost holds the variables that were given more than maxVariants
	// values: using one refuses the command line (see paramValues).
	lost map[string]bool
	// runtime holds the variables that a command may give a value
	// preflight does not know (see markRuntime).
	runtime map[string]bool
	// walked holds what the builtins met in the walk of a script leave
	// to do after it (see builtinAssign). A walk reads no nested
	// script, so one is enough: script takes it once its walk is over.
	walked walkedBuiltins
	// patternSteps counts the steps of pattern matching in parameter
	// expansions (see match).
	patternSteps int
	// shiftDone holds, per count shift shifts by, how many values of
	// each positional parameter (index i for $i, 0 for "$@") have been
	// moved (see shiftPositional).
	shiftDone map[int][]int
	// loopWords is set while a loop's words are expanded, where an
	// integer sequence too long to expand is kept (see numericKept).
	loopWords bool
	// anyIndex holds the arrays given an element at an index preflight
	// does not read (a[i]=v, a=([i+1]=v)): it may be any index, so
	// ${a[N]} reads any element of theirs (see paramElems).
	anyIndex map[string]bool
	// caseAttr holds the case attributes of variables declared with -l
	// or -u ("l", "u", or both): see markCase.
	caseAttr map[string]string
}

// expandBudgetBase is the bytes that expansions may add to words beyond
// parseBudgetFactor times the input's size. Real command lines use a
// small fraction of it.
const expandBudgetBase = 256 << 10

// spend charges n bytes of expanded text to the expansion budget. When
// the budget is exhausted it marks the command as too large to check
// (text names where) and returns false: the caller then keeps the
// expansion's source text, which costs nothing more.
func (ex *extractor) spend(n int, text string) bool {
	limit := ex.expandLimit
	if limit == 0 {
		limit = expandBudgetBase
	}
	if ex.expanded += n; ex.expanded <= limit {
		return true
	}
	if ex.tooDeep == "" {
		if text == "" {
			text = "…" // tooDeep must not be empty
		}
		ex.tooDeep = text
		ex.tooDeepReason = fmt.Sprintf("expands variables, braces or command output to more than %d KiB of words, beyond what preflight checks", limit>>10)
	}
	return false
}

// walkedBuiltins is what the builtins met in a script's walk leave to do
// after it: the scripts they run (mapfile -C), and the counts shift
// shifts the positional parameters by, each once with the text of a
// shift, which apply once set and the function calls have given them
// (see shiftPositional).
type walkedBuiltins struct {
	scripts []string
	shifts  []shiftUse
}

// shiftUse is a count shift shifts by, and the shift's text.
type shiftUse struct {
	text string
	n    int
}

// procRef is a process substitution and the source it was parsed from.
type procRef struct {
	src  string
	node *syntax.ProcSubst
}

// extractCommands returns every simple command in src, including those in
// pipelines, lists, subshells, command and process substitutions, control
// structures, function bodies, nested `sh -c` strings, eval arguments and
// heredocs fed to a shell. Input the parser rejects is split conservatively
// instead (see fallback).
func extractCommands(src string) *extractor {
	ex := &extractor{
		vars:        map[string][]string{},
		budget:      parseBudgetFactor*len(src) + parseBudgetBase,
		expandLimit: parseBudgetFactor*len(src) + expandBudgetBase,
	}
	ex.script(src, 0)
	return ex
}

// The parse budget: nested scripts may add up to parseBudgetFactor times
// the input's size, plus parseBudgetBase bytes. Real command lines use a
// small fraction of it; beyond it the command is blocked as too complex.
const (
	parseBudgetFactor = 16
	parseBudgetBase   = 64 << 10
)

// script parses src and records its commands. depth counts nesting.
func (ex *extractor) script(src string, depth int) {
	if ex.tooDeep != "" {
		// The command line is refused whatever else it holds:
		// reading on would only cost time (a crafted input could make
		// every nested script expensive).
		return
	}
	if depth > maxShellDepth {
		if ex.tooDeep == "" {
			ex.tooDeep = src
		}
		return
	}
	if strings.TrimSpace(src) == "" {
		return
	}
	if depth > 0 {
		if g, dup := ex.seen[src]; dup && g == ex.gen {
			return
		}
		if ex.seen == nil {
			ex.seen = make(map[string]int)
		}
		ex.seen[src] = ex.gen
	}
	if ex.budget -= len(src); ex.budget < 0 {
		if ex.tooDeep == "" {
			ex.tooDeep = src
		}
		return
	}
	parser := parserPool.Get().(*syntax.Parser)
	f, err := parser.Parse(strings.NewReader(src), "")
	parserPool.Put(parser)
	if err != nil {
		ex.fallback(src, depth)
		return
	}
	// One walk collects the literal assignments and the commands; the
	// commands are expanded afterwards, so a use before the assignment in
	// document order (functions, loops) resolves too.
	var stmts []*syntax.Stmt
	var pipes []*syntax.BinaryCmd
	var loops []*syntax.WordIter
	// The bodies of this script's functions, each with the value of gen
	// once it was walked (see below).
	type funcBody struct {
		body string
		gen  int
	}
	var bodies []funcBody
	var path []syntax.Node // the nodes being walked, innermost last
	funcs := map[string]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		if n == nil {
			if fd, ok := path[len(path)-1].(*syntax.FuncDecl); ok && fd.Body != nil {
				bodies = append(bodies, funcBody{nodeText(src, fd.Body), ex.gen})
			}
			path = path[:len(path)-1]
			return true
		}
		path = append(path, n)
		switch n := n.(type) {
		case *syntax.FuncDecl:
			if n.Name != nil {
				funcs[n.Name.Value] = true
				if ex.funcs == nil {
					ex.funcs = make(map[string][]string)
				}
				if n.Body != nil {
					if body := nodeText(src, n.Body); !slices.Contains(ex.funcs[n.Name.Value], body) {
						ex.funcs[n.Name.Value] = append(ex.funcs[n.Name.Value], body)
					}
				}
			}
		case *syntax.Stmt:
			if call, ok := n.Cmd.(*syntax.CallExpr); ok {
				if len(call.Args) > 0 {
					stmts = append(stmts, n)
				}
				// X=v cmd puts X in cmd's environment, where a nested
				// shell reads it: recorded too (a superset again).
				for _, a := range call.Assigns {
					ex.assign(src, a)
				}
				// printf -v NAME, read NAME: where it is met, as
				// an assignment, so that a later Y=$NAME sees it.
				if len(call.Args) > 0 && mayAssign(call.Args[0]) {
					ex.builtinAssign(src, n, path)
				}
			}
		case *syntax.DeclClause:
			ex.declare(src, n)
		case *syntax.WordIter:
			// The words bash iterates over: brace expansion and the
			// splitting of unquoted expansions apply (for x in {a,b},
			// for x in $LIST).
			ex.loop(src, n)
			loops = append(loops, n)
		case *syntax.BinaryCmd:
			if n.Op == syntax.Pipe || n.Op == syntax.PipeAll {
				pipes = append(pipes, n)
			}
		case *syntax.ProcSubst:
			if n.Op == syntax.CmdIn {
				if ex.procs == nil {
					ex.procs = make(map[string]procRef)
				}
				ex.procs[nodeText(src, n)] = procRef{src, n}
			}
		}
		return true
	})
	// What the builtins met in the walk left to do (see walked): taken
	// before any nested script is read, which walks its own.
	walked := ex.walked
	ex.walked = walkedBuiltins{}
	// The command each simple command in a pipe reads from (for xargs).
	var pipeIn map[*syntax.CallExpr]*syntax.Stmt
	for _, b := range pipes {
		if right, ok := b.Y.Cmd.(*syntax.CallExpr); ok {
			if pipeIn == nil {
				pipeIn = make(map[*syntax.CallExpr]*syntax.Stmt)
			}
			pipeIn[right] = b.X
		}
	}
	// Positional parameters: `set -- a b` and a call of a function of
	// this script (f push for f(){ git "$@"; }) give $1, $2, ... and "$@",
	// recorded like variables (a superset), before any use is expanded.
	// A command name that is not a plain literal ("f", \f, $F,
	// "${a[@]}") is expanded first: bash calls the function all the same.
	for _, st := range stmts {
		args := st.Cmd.(*syntax.CallExpr).Args
		if name := args[0].Lit(); name != "" && !strings.Contains(name, `\`) {
			k, ok := positionalFrom(name, len(args), func(i int) string { return args[i].Lit() }, funcs[name] || len(ex.funcs[name]) > 0)
			if ok && ex.positional(src, nil, args[k:]) && !funcs[name] {
				ex.readFuncs(name, depth)
			}
			continue
		}
		for _, argv := range ex.argvVariants(src, args) {
			name := argv[0]
			k, ok := positionalFrom(name, len(argv), func(i int) string { return argv[i] }, funcs[name] || len(ex.funcs[name]) > 0)
			if !ok {
				continue
			}
			vals := make([][]string, 0, len(argv)-k)
			for _, a := range argv[k:] {
				vals = append(vals, []string{a})
			}
			if ex.positionalValues(nil, vals) && !funcs[name] {
				ex.readFuncs(name, depth)
			}
		}
	}
	// shift moves the positional parameters that set and the calls
	// above give (set -- a push; shift; git $1, f(){ shift; git $1; };
	// f a push).
	for _, s := range walked.shifts {
		ex.shiftPositional(s.text, s.n)
	}
	// The walk expanded a loop's words, and the assignments of a
	// function's body, where it met them: before the positional
	// parameters above, and before the variables assigned later in the
	// script (f(){ local y=$1; git $y; }; f push, f(){ for x in "$@";
	// do git $x; done; }; f push, f(){ for x in $L; ...; }; L=push; f).
	// The loops are expanded again, and a body read again, as a nested
	// script, when a variable has gained a value since it was walked.
	for _, n := range loops {
		ex.loop(src, n)
	}
	for _, b := range bodies {
		if b.gen != ex.gen {
			ex.script(b.body, depth+1)
		}
	}
	ex.out = slices.Grow(ex.out, len(stmts))
	for _, st := range stmts {
		call := st.Cmd.(*syntax.CallExpr)
		ex.call(src, call, st.Redirs, pipeIn[call], depth)
	}
	for _, b := range pipes {
		ex.pipeToShell(src, b, depth)
	}
	for _, s := range walked.scripts {
		ex.script(s, depth+1)
	}
}

// loop records the words a for or select loop (n) gives its variable:
// its words as bash expands them, or without "in" (for x; do) the
// positional parameters.
func (ex *extractor) loop(src string, n *syntax.WordIter) {
	if !n.InPos.IsValid() && len(n.Items) == 0 {
		if ex.lost["@"] {
			ex.tooMany(nodeText(src, n), "$@")
			return
		}
		for _, all := range ex.vars["@"] {
			for _, v := range strings.Split(all, fieldSep) {
				ex.addVar(n.Name.Value, v)
			}
		}
		return
	}
	ex.loopWords = true
	argvs := ex.argvVariants(src, n.Items)
	ex.loopWords = false
	for _, argv := range argvs {
		for _, v := range argv {
			ex.addVar(n.Name.Value, v)
		}
	}
}

// readFuncs reads again the bodies of function name of an enclosing
// script: they were read there, before the arguments of a call in this
// one were known.
func (ex *extractor) readFuncs(name string, depth int) {
	for _, body := range ex.funcs[name] {
		delete(ex.seen, body)
		ex.script(body, depth+1)
	}
}

// positionalFrom returns the index of the first word that a call of
// name (n words, word i being arg(i)) makes a positional parameter, and
// whether it sets them at all: a function call (isFunc), or set with
// words after its options (set -- a b, set a b, set -eo pipefail a b).
func positionalFrom(name string, n int, arg func(int) string, isFunc bool) (int, bool) {
	if isFunc {
		return 1, true
	}
	if name != "set" {
		return 0, false
	}
	for i := 1; i < n; i++ {
		switch a := arg(i); {
		case a == "--" || a == "-":
			return i + 1, true
		case len(a) > 1 && (a[0] == '-' || a[0] == '+'):
			if strings.ContainsRune(a[1:], 'o') {
				i++ // -o NAME
			}
		default:
			return i, true
		}
	}
	return 0, false
}

// parserPool reuses bash parsers; a parser is large and resets on Parse.
var parserPool = sync.Pool{New: func() any { return syntax.NewParser(syntax.Variant(syntax.LangBash)) }}

// fieldSep separates the elements of an array value in vars. Shell words
// cannot contain NUL, so it cannot clash with real text.
const fieldSep = "\x00"

// assign records the literal values of NAME=value, NAME+=value and
// NAME=(a b c). Array values are their elements joined by fieldSep.
func (ex *extractor) assign(src string, a *syntax.Assign) {
	if a.Name == nil {
		return
	}
	if a.Index != nil {
		// a[N]=value, m[key]=value.
		vals := []string{""}
		if a.Value != nil {
			vals = ex.wordAlts(src, a.Value.Parts)
		}
		ex.assignElem(nodeText(src, a), a.Name.Value, arrayIndex(a.Index), vals, a.Append)
		return
	}
	var vals []string
	switch {
	case a.Array != nil:
		// One value per combination of the elements' values, as
		// for a command's words: brace expansion and the splitting
		// of unquoted expansions apply (a=({push,x}), a=($L)).
		// Elements given an index ([5]=x, [key]=x) come in order
		// too, as "${a[@]}" has them, and at their index besides
		// (see indexedArrayValues).
		var words []*syntax.Word
		indexed := false
		for _, e := range a.Array.Elems {
			indexed = indexed || e.Index != nil
			if e.Value != nil {
				words = append(words, e.Value)
			}
		}
		for _, argv := range ex.argvVariants(src, words) {
			vals = append(vals, strings.Join(argv, fieldSep))
		}
		if ex.tooDeep != "" {
			return // refused anyway
		}
		if len(vals) == 0 {
			vals = []string{""} // a=(), or words that expand to none
		}
		if indexed {
			vals = append(vals, ex.indexedArrayValues(src, nodeText(src, a), a.Name.Value, a.Array.Elems)...)
			if a.Append {
				// a+=([3]=x) sets a[3], which record appends
				// after the elements there were: any index.
				ex.markAnyIndex(a.Name.Value)
			}
		}
	case a.Value != nil:
		vals = ex.wordAlts(src, a.Value.Parts)
	case !a.Naked:
		vals = []string{""} // X=
	default:
		return
	}
	ex.record(nodeText(src, a), a.Name.Value, vals, a.Append, a.Array != nil)
}

// maxIndex bounds the index of an array element that preflight places:
// elements are kept in a list, the ones below empty.
const maxIndex = maxBraceFields

// arrayIndex returns the index of a[N] when N is an integer literal (1,
// 010, 0x1f), or -1 for any other (a[i], a[i+1], m[key]).
func arrayIndex(e syntax.ArithmExpr) int {
	w, ok := e.(*syntax.Word)
	if !ok {
		return -1
	}
	return indexLit(w.Lit())
}

// indexLit is arrayIndex of an index's text.
func indexLit(s string) int {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return -1
	}
	return int(n)
}

// cutElem splits an array element's reference, a[1] or m[key], into
// the array's name and the index's text.
func cutElem(ref string) (name, index string, ok bool) {
	name, index, ok = strings.Cut(ref, "[")
	if !ok || !isName(name) {
		return "", "", false
	}
	index, ok = strings.CutSuffix(index, "]")
	return name, index, ok
}

// targetName returns the variable that a builtin (printf -v, read)
// assigns for target: target itself, or the array of an element (a[1],
// m[key]); "" for a name that is not valid.
func targetName(target string) string {
	if isName(target) {
		return target
	}
	name, _, _ := cutElem(target)
	return name
}

// assignTarget records vals as the values a builtin (text names it)
// gives target: a variable (whole arrays when array, as read -a gives),
// or an array element (see assignElem).
func (ex *extractor) assignTarget(text, target string, vals []string, array bool) {
	if isName(target) {
		ex.record(text, target, vals, false, array)
		return
	}
	if name, index, ok := cutElem(target); ok && !array {
		ex.assignElem(text, name, indexLit(index), vals, false)
	}
}

// tooHighIndex marks the command line as beyond what preflight checks
// because it sets an array element (text) at an index above maxIndex.
func (ex *extractor) tooHighIndex(text string) {
	if ex.tooDeep == "" {
		if text == "" {
			text = "…" // tooDeep must not be empty
		}
		ex.tooDeep = text
		ex.tooDeepReason = fmt.Sprintf("sets an array element at an index above %d, beyond what preflight checks", maxIndex)
	}
}

// assignElem records vals, the values of element index of array name
// (a[1]=v; index -1 for one preflight does not read: a[i]=v, m[key]=v),
// appended to the element when appendTo (a[1]+=v). An element past the
// array's end is placed at its index, with empty ones before it, as
// ${a[5]} reads it, and after the last element besides, as "${a[@]}"
// has it (bash's arrays have no empty elements between). An index not
// read may be any element's, or a new one's. text names the assignment.
func (ex *extractor) assignElem(text, name string, index int, vals []string, appendTo bool) {
	if index > maxIndex {
		ex.tooHighIndex(text)
		return
	}
	if index < 0 {
		// Placed after the last element below, but it may be at
		// any index: a[i]=push with i=1 is what ${a[1]} reads.
		ex.markAnyIndex(name)
	}
	olds, known := ex.vars[name]
	if !known {
		olds = []string{""}
	}
	var out []string
	seen := map[string]bool{}
	add := func(elems []string) bool {
		v := strings.Join(elems, fieldSep)
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
		if len(out) > maxVariants {
			// More values than preflight keeps: the array is lost,
			// and a use of it refuses the command line.
			ex.markLost(name)
			return false
		}
		return ex.spend(len(v), text)
	}
	set := func(elems []string, i int, v string) []string {
		elems = slices.Clone(elems)
		for len(elems) <= i {
			elems = append(elems, "")
		}
		if appendTo {
			elems[i] += v
		} else {
			elems[i] = v
		}
		return elems
	}
	for _, o := range olds {
		var elems []string
		if known {
			elems = strings.Split(o, fieldSep)
		}
		for _, v := range vals {
			switch {
			case index >= 0 && index < len(elems):
				if !add(set(elems, index, v)) {
					return
				}
			case index >= 0:
				if !add(set(elems, index, v)) || !add(append(slices.Clip(elems), v)) {
					return
				}
			default:
				if !add(append(slices.Clip(elems), v)) {
					return
				}
				for i := range elems {
					if !add(set(elems, i, v)) {
						return
					}
				}
			}
		}
	}
	ex.record(text, name, out, false, true)
}

// markAnyIndex records that array name was given an element at an index
// preflight does not read (anyIndex).
func (ex *extractor) markAnyIndex(name string) {
	if ex.anyIndex == nil {
		ex.anyIndex = map[string]bool{}
	}
	ex.anyIndex[name] = true
}

// indexedArrayValues returns the values of an array literal (elems; text
// names it) of array name, some of whose elements are given an index
// ([5]=x): each element at its index, the ones between empty, as ${a[5]}
// reads them. An element whose index is not read ([key]=x) comes next in
// order, and may be at any index (anyIndex).
func (ex *extractor) indexedArrayValues(src, text, name string, elems []*syntax.ArrayElem) []string {
	combos := [][]string{nil}
	next := 0
	for _, e := range elems {
		pos := next
		if e.Index != nil {
			if n := arrayIndex(e.Index); n >= 0 {
				pos = n
			} else {
				ex.markAnyIndex(name)
			}
		}
		if pos > maxIndex {
			ex.tooHighIndex(text)
			return nil
		}
		next = pos + 1
		alts := []string{""}
		if e.Value != nil {
			alts = ex.wordAlts(src, e.Value.Parts)
		}
		if len(combos)*len(alts) > maxVariants {
			ex.tooMany(text, "an array")
			return nil
		}
		grown := make([][]string, 0, len(combos)*len(alts))
		for _, c := range combos {
			for _, v := range alts {
				g := slices.Clone(c)
				for len(g) <= pos {
					g = append(g, "")
				}
				g[pos] = v
				if !ex.spend(len(g), text) {
					return nil
				}
				grown = append(grown, g)
			}
		}
		combos = grown
	}
	out := make([]string, 0, len(combos))
	for _, c := range combos {
		out = append(out, strings.Join(c, fieldSep))
	}
	return out
}

// declare records the assignments of declare, export, local, readonly
// and typeset. An argument the parser does not see as NAME=value, being
// quoted (declare "X=push") or built by expansions (export $V), is
// expanded as a command's argument would be, and each of its words that
// is NAME=value or NAME+=value is an assignment too.
func (ex *extractor) declare(src string, d *syntax.DeclClause) {
	// The words of the arguments the parser does not split, and whether
	// an option makes the names namerefs (declare -n r=X: $r is $X).
	words := make([][][]string, len(d.Args))
	nameref := d.Variant.Value == "nameref"
	// The case attributes the options give (-l, -u): the names'
	// values are lowered or raised at each assignment.
	cases := ""
	for i, a := range d.Args {
		if a.Name != nil || !a.Naked || a.Value == nil {
			continue
		}
		words[i] = ex.argvVariants(src, []*syntax.Word{a.Value})
		for _, argv := range words[i] {
			for _, w := range argv {
				if len(w) > 1 && w[0] == '-' && !strings.Contains(w, "=") {
					nameref = nameref || strings.ContainsRune(w, 'n')
					for _, c := range "lu" {
						if strings.ContainsRune(w, c) && !strings.ContainsRune(cases, c) {
							cases += string(c)
						}
					}
				}
			}
		}
	}
	for i, a := range d.Args {
		if a.Name != nil {
			if nameref {
				ex.markNameref(a.Name.Value)
			}
			ex.markCase(a.Name.Value, cases)
			ex.assign(src, a)
			continue
		}
		text := nodeText(src, a)
		if text == "" {
			text = "…" // tooDeep must not be empty
		}
		for _, argv := range words[i] {
			for _, w := range argv {
				name, val, ok := strings.Cut(w, "=")
				name, appendTo := strings.CutSuffix(name, "+")
				if !isAssignment(name + "=") {
					continue
				}
				if nameref {
					ex.markNameref(name)
				}
				ex.markCase(name, cases)
				if !ok {
					continue
				}
				ex.record(text, name, []string{val}, appendTo, false)
				if len(val) > 1 && val[0] == '(' && val[len(val)-1] == ')' {
					// Bash before 5.2 takes declare "a=(x y)" for
					// an array: its elements count too.
					ex.record(text, name, []string{strings.Join(strings.Fields(val[1:len(val)-1]), fieldSep)}, appendTo, true)
				}
			}
		}
	}
}

// markCase records the case attributes cases ("l", "u" or both) of the
// variable name (declare -l X: X=PUSH makes X push), and gives the values
// it has already their lowered or raised forms too (the attribute may
// have been set first: order is ignored).
func (ex *extractor) markCase(name, cases string) {
	if cases == "" {
		return
	}
	if ex.caseAttr == nil {
		ex.caseAttr = map[string]string{}
	}
	for _, c := range cases {
		if !strings.ContainsRune(ex.caseAttr[name], c) {
			ex.caseAttr[name] += string(c)
		}
	}
	for _, v := range slices.Clone(ex.vars[name]) {
		for _, cv := range caseForms(ex.caseAttr[name], v) {
			ex.addVar(name, cv)
		}
	}
}

// caseForms returns v lowered and raised, as the case attributes cases
// make it.
func caseForms(cases, v string) []string {
	var out []string
	if strings.ContainsRune(cases, 'l') {
		out = append(out, strings.ToLower(v))
	}
	if strings.ContainsRune(cases, 'u') {
		out = append(out, strings.ToUpper(v))
	}
	return out
}

// mayAssign reports whether a command whose first word is w may be a
// builtin that assigns variables (see builtinAssign): printf, read,
// mapfile, readarray, shift, set, or a name given through builtin or command,
// or built by expansions or quotes ("printf", $P), which bash looks up
// all the same.
func mayAssign(w *syntax.Word) bool {
	name := w.Lit()
	if name == "" || strings.Contains(name, `\`) {
		return true
	}
	switch name {
	case "printf", "read", "mapfile", "readarray", "shift", "set", "builtin", "command":
		return true
	}
	return false
}

// builtinAssign records the values that a builtin (statement st, inside
// path, the nodes around it, innermost last) gives variables: printf -v
// NAME (see printfAssign), read (see readAssign), mapfile and readarray
// (see mapfileAssign), and set and shift the positional parameters
// (see positionalFrom, shiftPositional). What is left to do after the
// walk, the scripts the builtin runs (mapfile's callback) and the counts
// shift shifts the positional parameters by, goes to ex.walked.
func (ex *extractor) builtinAssign(src string, st *syntax.Stmt, path []syntax.Node) {
	call := st.Cmd.(*syntax.CallExpr)
	text := nodeText(src, call)
	static := -1 // whether every word is static, once known
	for _, argv := range ex.argvVariants(src, call.Args) {
		argv = builtinArgv(argv)
		if len(argv) == 0 {
			continue
		}
		switch argv[0] {
		case "printf":
			if static < 0 {
				static = 0
				if _, ok := ex.staticArgvs(src, call.Args); ok {
					static = 1
				}
			}
			ex.printfAssign(text, argv[1:], static == 1)
		case "read":
			ex.readAssign(src, text, st, path, argv[1:])
		case "mapfile", "readarray":
			ex.walked.scripts = append(ex.walked.scripts, ex.mapfileAssign(src, text, st, path, argv[1:])...)
		case "set":
			// set -- a b where it is met, so that a later y=$1
			// sees it; it is read again after the walk, with the
			// function calls (see script).
			if k, ok := positionalFrom("set", len(argv), func(i int) string { return argv[i] }, false); ok {
				vals := make([][]string, 0, len(argv)-k)
				for _, a := range argv[k:] {
					vals = append(vals, []string{a})
				}
				ex.positionalValues(nil, vals)
			}
		case "shift":
			// Where it is met, for the positional parameters known
			// by then (set -- a push; shift; y=$1), and again after
			// the walk, once the function calls have given theirs.
			n, ok := shiftCount(argv[1:])
			if !ok {
				continue
			}
			ex.shiftPositional(text, n)
			if !slices.ContainsFunc(ex.walked.shifts, func(s shiftUse) bool { return s.n == n }) {
				ex.walked.shifts = append(ex.walked.shifts, shiftUse{text, n})
			}
		}
	}
}

// shiftCount returns the count shift (args after its name) shifts the
// positional parameters by: 1 by default, or the number given. A count
// that is not known (shift $n) is 1, which shiftPositional takes any
// number of times, so that every count is covered. ok is false when
// shift shifts nothing (shift 0) or fails (shift -1, shift 1 2).
func shiftCount(args []string) (int, bool) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	switch len(args) {
	case 0:
		return 1, true
	case 1:
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return 1, !strings.HasPrefix(args[0], "-")
		}
		return n, n > 0
	}
	return 0, false
}

// shiftPositional records what shift n (n > 0), run any number of times
// (in a loop, or in a function called again), makes of the positional
// parameters: $i gets the values of $(i+n), $(i+2n), ..., and "$@" and
// "$*" each of their values without its first n, 2n, ... words. The
// values added are charged to the expansion budget (see spend; text
// names the shift).
//
// A shift read again (a function's body read again) moves only the
// values added since (see shiftDone): the values it added are closed
// under it already.
func (ex *extractor) shiftPositional(text string, n int) {
	top := 0
	for {
		if _, ok := ex.vars[strconv.Itoa(top+1)]; !ok {
			break
		}
		top++
	}
	if ex.shiftDone == nil {
		ex.shiftDone = make(map[int][]int)
	}
	done := ex.shiftDone[n]
	if len(done) <= top {
		done = append(done, make([]int, top+1-len(done))...)
		ex.shiftDone[n] = done
	}
	// Downwards, so that $(i+n) has the values of $(i+2n), ... already.
	for i := top - n; i >= 1; i-- {
		from := ex.vars[strconv.Itoa(i+n)]
		for _, v := range from[done[i+n]:] {
			if !ex.spend(len(v), text) {
				return
			}
			ex.addVar(strconv.Itoa(i), v)
		}
		done[i+n] = len(from)
	}
	if ex.lost["@"] {
		return // a use refuses the command line already
	}
	all := ex.vars["@"]
	for _, c := range all[done[0]:] {
		words := strings.Split(c, fieldSep)
		for k := n; k <= len(words); k += n {
			rest := strings.Join(words[k:], fieldSep)
			if !ex.spend(len(rest)+1, text) {
				return
			}
			ex.addVar("@", rest)
			ex.addVar("*", rest)
		}
	}
	done[0] = len(ex.vars["@"])
}

// isName reports whether s is a variable's name (not an array element).
func isName(s string) bool {
	return s != "" && !strings.Contains(s, "=") && isAssignment(s+"=")
}

// builtinArgv returns argv without the builtin and command before a
// builtin's name (builtin printf -v x, command printf -v x), or nil for
// command -v and -V, which run nothing.
func builtinArgv(argv []string) []string {
	for range maxUnwrap {
		if len(argv) == 0 {
			return nil
		}
		switch argv[0] {
		case "builtin":
			argv = argv[1:]
		case "command":
			argv = argv[1:]
			for len(argv) > 0 && len(argv[0]) > 1 && argv[0][0] == '-' {
				if argv[0] == "--" {
					argv = argv[1:]
					break
				}
				if strings.ContainsAny(argv[0], "vV") {
					return nil
				}
				argv = argv[1:]
			}
		default:
			return argv
		}
	}
	return argv
}

// markRuntime records that a command gives name a value at run time
// that preflight does not compute (printf -v of a format it does not
// evaluate, or of words that are not static): a use of name then keeps
// its source text too, as an unknown variable's use does, besides the
// values name is known to have.
func (ex *extractor) markRuntime(name string) {
	if ex.runtime[name] {
		return
	}
	if ex.runtime == nil {
		ex.runtime = make(map[string]bool)
	}
	ex.runtime[name] = true
	ex.gen++
	if ex.namerefs[name] {
		// Through a nameref: the variables it names.
		for _, t := range ex.vars[name] {
			if t != name && isAssignment(t+"=") {
				ex.markRuntime(t)
			}
		}
	}
}

// markNameref records that name is a nameref (declare -n): $name is the
// variable its value names, and an assignment to name assigns that
// variable. The values name had are given to the variables they name.
func (ex *extractor) markNameref(name string) {
	if ex.namerefs[name] {
		return
	}
	if ex.namerefs == nil {
		ex.namerefs = make(map[string]bool)
	}
	ex.namerefs[name] = true
	ex.gen++
	vals := ex.vars[name]
	for _, t := range vals {
		if t != name && isAssignment(t+"=") {
			for _, v := range vals {
				ex.addVar(t, v)
			}
		}
	}
}

// record adds vals as values of name, assigned by text (for messages);
// appended to each old value when appendTo (NAME+=), as array elements
// when array.
func (ex *extractor) record(text, name string, vals []string, appendTo, array bool) {
	if appendTo {
		if old, ok := ex.vars[name]; ok {
			sep := ""
			if array {
				sep = fieldSep
			}
			var joined []string
			for _, o := range old {
				for _, v := range vals {
					if first, rest, isArray := strings.Cut(o, fieldSep); isArray && !array {
						// a=(pu y); a+=sh: the first element
						// grows (a is push y).
						joined = append(joined, first+v+fieldSep+rest)
						continue
					}
					if o == "" && array {
						// "" is an empty array too (a=()),
						// which a+=(push) makes (push).
						joined = append(joined, v)
					}
					joined = append(joined, o+sep+v)
				}
			}
			vals = joined
		}
	}
	for _, v := range vals {
		if len(v) > maxStaticOutput {
			// Values that double at each assignment would grow without
			// bound, and every command using them with it: refused, as
			// text too large to check.
			if ex.tooDeep == "" {
				ex.tooDeep = text
				ex.tooDeepReason = fmt.Sprintf("gives a variable a value longer than %d KiB, beyond what preflight checks", maxStaticOutput>>10)
			}
			return
		}
	}
	for _, v := range vals {
		ex.addVar(name, v)
		for _, cv := range caseForms(ex.caseAttr[name], v) {
			ex.addVar(name, cv)
		}
	}
	if ex.namerefs[name] {
		// r=push for declare -n r=X assigns X (a superset: the value
		// is also r's, and any variable r ever named gets it).
		for _, t := range ex.vars[name] {
			if t != name && isAssignment(t+"=") {
				for _, v := range vals {
					ex.addVar(t, v)
				}
			}
		}
	}
}

// positional records words as the positional parameters $1, $2, ... and
// "$@" ("$*"), and zero, if given, as $0: for `set --` and a function
// call, and reports whether a value was new (see positionalValues).
func (ex *extractor) positional(src string, zero *string, words []*syntax.Word) bool {
	// The arguments bash passes: brace expansion and the splitting of
	// unquoted expansions apply (f {a,b}, f $LIST), so a word may give
	// several parameters.
	var vals [][]string
	for _, argv := range ex.argvVariants(src, words) {
		for i, w := range argv {
			if i == len(vals) {
				vals = append(vals, nil)
			}
			if !slices.Contains(vals[i], w) {
				vals[i] = append(vals[i], w)
			}
		}
	}
	return ex.positionalValues(zero, vals)
}

// positionalValues records each word's possible values (vals[i] for
// $i+1; never empty) and reports whether a value was new. "$@" gets the
// combinations of the words' values, at most maxVariants of them.
func (ex *extractor) positionalValues(zero *string, vals [][]string) bool {
	changed := false
	if zero != nil {
		changed = ex.addVar("0", *zero) || changed
	}
	for i, alts := range vals {
		for _, v := range alts {
			changed = ex.addVar(strconv.Itoa(i+1), v) || changed
		}
	}
	if len(vals) > 0 {
		// As argvVariantsSlow: a variant's last use extends it in place,
		// and each copy is charged, so that many words with several
		// values stay linear in cost.
		combos := [][]string{nil}
		for _, alts := range vals {
			next := make([][]string, 0, len(combos))
			for _, c := range combos {
				for k, a := range alts {
					if len(next) == maxVariants {
						// "$@" is lost, not checked in part.
						ex.markLost("@", "*")
						break
					}
					if k == len(alts)-1 {
						next = append(next, append(c, a))
						continue
					}
					if !ex.spend(len(c), a) {
						break
					}
					next = append(next, append(slices.Clip(c), a))
				}
			}
			combos = next
		}
		for _, c := range combos {
			all := strings.Join(c, fieldSep)
			changed = ex.addVar("@", all) || changed
			changed = ex.addVar("*", all) || changed
		}
	}
	return changed
}

// addVar records v as a value of name, and reports whether it was new.
// A value past maxVariants is not kept, and name is then lost: a use of
// it refuses the command line.
func (ex *extractor) addVar(name, v string) bool {
	vals := ex.vars[name]
	if len(vals) < 16 {
		if slices.Contains(vals, v) {
			return false
		}
	} else {
		// A set past a few values: a linear search per value made
		// variables of thousands of values cost seconds.
		set := ex.varSets[name]
		if set == nil {
			set = make(map[string]struct{}, 2*len(vals))
			for _, o := range vals {
				set[o] = struct{}{}
			}
			if ex.varSets == nil {
				ex.varSets = make(map[string]map[string]struct{})
			}
			ex.varSets[name] = set
		}
		if _, dup := set[v]; dup {
			return false
		}
		if len(vals) < maxVariants {
			set[v] = struct{}{}
		}
	}
	if len(vals) == maxVariants {
		ex.markLost(name)
		return false
	}
	ex.vars[name] = append(vals, v)
	ex.gen++
	return true
}

// markLost records that names have more values than preflight keeps.
func (ex *extractor) markLost(names ...string) {
	if ex.lost == nil {
		ex.lost = make(map[string]bool)
	}
	for _, n := range names {
		if !ex.lost[n] {
			ex.lost[n] = true
			ex.gen++
		}
	}
}

// tooMany marks the command line as beyond what preflight checks
// because what (a variable, a word, a command's arguments) has more
// possible values than it keeps; text names where.
func (ex *extractor) tooMany(text, what string) {
	if ex.tooDeep == "" {
		if text == "" {
			text = "…" // tooDeep must not be empty
		}
		ex.tooDeep = text
		ex.tooDeepReason = fmt.Sprintf("gives %s more than %d possible values, beyond what preflight checks; give it fewer (split the loop or the command line)", what, maxVariants)
	}
}

// call records one simple command and everything it would run. pipeIn
// is the command whose output it reads through a pipe, or nil.
func (ex *extractor) call(src string, call *syntax.CallExpr, redirs []*syntax.Redirect, pipeIn *syntax.Stmt, depth int) {
	if ex.tooDeep != "" {
		return // refused anyway (see script)
	}
	idx := len(ex.out)
	ex.out = append(ex.out, simpleCommand{text: nodeText(src, call)})
	for _, argv := range ex.argvVariants(src, call.Args) {
		ex.out[idx].heads = append(ex.out[idx].heads, argv)
		ex.forms(idx, argv, src, redirs, pipeIn, depth, 0)
	}
}

// forms adds argv and the commands it runs through wrappers to command idx,
// and extracts nested scripts (sh -c, eval, heredocs) as commands of their
// own. redirs and pipeIn are the command's redirections and pipe input.
func (ex *extractor) forms(idx int, argv []string, src string, redirs []*syntax.Redirect, pipeIn *syntax.Stmt, depth, level int) {
	cur := argv
	for ; len(cur) > 0 && level < maxUnwrap; level++ {
		ex.out[idx].argvs = append(ex.out[idx].argvs, cur)
		name := baseName(cur[0])
		if s, ok := shellScript(cur); ok {
			// sh -c STRING [zero [words...]]: $0 and the positional
			// parameters of the script.
			// A script already read with other values is read again
			// (sh -c 'git "$1"' _ status; sh -c 'git "$1"' _ push):
			// each reading is charged to the parse budget.
			if i, ok := shellScriptIndex(cur); ok && i+1 < len(cur) {
				vals := make([][]string, len(cur)-i-2)
				for k, v := range cur[i+2:] {
					vals[k] = []string{v}
				}
				if ex.positionalValues(&cur[i+1], vals) {
					delete(ex.seen, s)
				}
			}
			ex.script(s, depth+1)
		} else if file, stdin := scriptSource(cur); stdin {
			for _, r := range redirs {
				for _, s := range ex.heredoc(src, r) {
					ex.script(s, depth+1)
				}
			}
		} else if ref, ok := ex.procs[file]; ok {
			// bash <(echo git push), source <(printf ...): the script is
			// the substitution's output, when it is known.
			outs, _ := ex.stmtsOutput(ref.src, ref.node.Stmts)
			for _, s := range outs {
				ex.script(s, depth+1)
			}
		}
		switch name {
		case "eval":
			ex.script(strings.Join(cur[1:], " "), depth+1)
		case "trap":
			// trap [--] ACTION SIGNAL...: the action is shell code that
			// runs at the signal or at EXIT. -p and -l print; "-" resets.
			args := cur[1:]
			if len(args) > 0 && args[0] == "--" {
				args = args[1:]
			}
			if len(args) > 1 && (args[0] == "" || args[0][0] != '-') {
				ex.script(args[0], depth+1)
			}
		case "find":
			for _, inner := range findExec(cur) {
				ex.forms(idx, inner, src, nil, nil, depth, level+1)
			}
		case "git":
			// git -c alias.p=push p runs git push; an alias that starts
			// with "!" is a shell command.
			if run, script, ok := gitCommandLineAlias(cur); ok {
				if script != "" {
					ex.script(script, depth+1)
				} else {
					ex.forms(idx, run, src, nil, nil, depth, level+1)
				}
			}
		case "xargs":
			// The words xargs reads are appended to its command (see
			// xargsRuns), when they are known; unwrap gives the command
			// as written, which is all there is to check otherwise.
			for _, in := range ex.stdinTexts(src, pipeIn, redirs) {
				runs, ok := xargsRuns(cur, in)
				if !ok && ex.tooDeep == "" {
					ex.tooDeep = ex.out[idx].text
					ex.tooDeepReason = fmt.Sprintf("gives xargs more than %d words or %d KiB to run, beyond what preflight checks", maxXargsWords, maxXargsBytes>>10)
				}
				for _, run := range runs {
					ex.forms(idx, run, src, nil, nil, depth, level+1)
				}
			}
		}
		cur = unwrap(cur)
	}
	if len(cur) > 0 {
		// A wrapper chain longer than maxUnwrap: what it runs last is
		// not checked, so the command line is refused.
		ex.tooManyWrappers(ex.out[idx].text)
	}
}

// tooManyWrappers marks the command line as beyond what preflight checks
// because a command (text) wraps another more than maxUnwrap times
// (nice nice ... git push).
func (ex *extractor) tooManyWrappers(text string) {
	if ex.tooDeep == "" {
		if text == "" {
			text = "…" // tooDeep must not be empty
		}
		ex.tooDeep = text
		ex.tooDeepReason = fmt.Sprintf("wraps a command in more than %d wrappers, beyond what preflight checks; drop the repeated wrappers", maxUnwrap)
	}
}

// heredoc returns the texts a heredoc, here-string or `< <(...)` with a
// known output feeds to stdin.
func (ex *extractor) heredoc(src string, r *syntax.Redirect) []string {
	switch r.Op {
	case syntax.Hdoc, syntax.DashHdoc:
		if r.Hdoc == nil {
			return nil
		}
		return ex.wordAlts(src, r.Hdoc.Parts)
	case syntax.WordHdoc:
		return ex.wordAlts(src, r.Word.Parts)
	case syntax.RdrIn:
		if ps := procSubstIn(r.Word); ps != nil {
			outs, _ := ex.stmtsOutput(src, ps.Stmts)
			return outs
		}
	}
	return nil
}

// stdinTexts returns the possible texts a command reads on standard
// input when they are known: from its last redirection of stdin (a
// heredoc, a here-string, < <(...)), or else from the command piped into
// it (see stmtOutput). It returns nil when the input is not known.
func (ex *extractor) stdinTexts(src string, pipeIn *syntax.Stmt, redirs []*syntax.Redirect) []string {
	var last *syntax.Redirect
	for _, r := range redirs {
		if r.N != nil && r.N.Value != "0" {
			continue
		}
		switch r.Op {
		case syntax.RdrIn, syntax.RdrInOut, syntax.DplIn, syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc:
			last = r
		}
	}
	if last != nil {
		outs, _ := ex.staticRedirInput(src, last)
		return outs
	}
	if pipeIn == nil {
		return nil
	}
	outs, _ := ex.stmtOutput(src, pipeIn)
	return outs
}

// pipeToShell handles `echo 'git push' | sh`: the left side's literal
// output becomes a script when the right side is a shell reading stdin.
func (ex *extractor) pipeToShell(src string, b *syntax.BinaryCmd, depth int) {
	right, ok := b.Y.Cmd.(*syntax.CallExpr)
	if !ok || len(right.Args) == 0 {
		return
	}
	shell := false
	for _, argv := range ex.argvVariants(src, right.Args) {
		for cur, n := argv, 0; len(cur) > 0 && n < maxUnwrap; cur, n = unwrap(cur), n+1 {
			if readsStdin(cur) {
				shell = true
			}
		}
	}
	if !shell {
		return
	}
	if outs, ok := ex.stmtOutput(src, b.X); ok {
		for _, s := range outs {
			ex.script(s, depth+1)
		}
		return
	}
	ex.looseScripts(src, b.X, depth)
}

// looseScripts reads as scripts, when the output of st is not known,
// the parts of it that are: what each statement of a { } group or ( )
// subshell with a known output prints, and, loosely, the words given to
// each echo or printf, so that `echo "git push $X" | sh` and
// `{ echo git push; ls; } | sh` are still checked.
func (ex *extractor) looseScripts(src string, st *syntax.Stmt, depth int) {
	switch c := st.Cmd.(type) {
	case *syntax.CallExpr:
		if len(c.Args) == 0 {
			return
		}
		for _, argv := range ex.argvVariants(src, c.Args) {
			switch baseName(argv[0]) {
			case "echo", "printf":
				args := argv[1:]
				for len(args) > 0 && strings.HasPrefix(args[0], "-") {
					args = args[1:]
				}
				ex.script(strings.Join(args, " "), depth+1)
			}
		}
	case *syntax.Block:
		ex.looseStmts(src, c.Stmts, depth)
	case *syntax.Subshell:
		ex.looseStmts(src, c.Stmts, depth)
	case *syntax.BinaryCmd:
		switch c.Op {
		case syntax.AndStmt, syntax.OrStmt:
			ex.looseScripts(src, c.X, depth)
		case syntax.Pipe, syntax.PipeAll:
			if ex.passesInput(src, c.Y) {
				ex.looseScripts(src, c.X, depth)
			}
		}
		ex.looseScripts(src, c.Y, depth)
	}
}

// passesInput reports whether st is cat or tee passing its input on
// (see stmtOutputIn).
func (ex *extractor) passesInput(src string, st *syntax.Stmt) bool {
	const mark = fieldSep + "input" // no shell word holds a NUL
	out, ok := ex.stmtOutputIn(src, st, func() ([]string, bool) { return []string{mark}, true })
	return ok && len(out) == 1 && out[0] == mark
}

func (ex *extractor) looseStmts(src string, stmts []*syntax.Stmt, depth int) {
	for _, st := range stmts {
		if outs, ok := ex.stmtOutput(src, st); ok {
			for _, s := range outs {
				ex.script(s, depth+1)
			}
			continue
		}
		ex.looseScripts(src, st, depth)
	}
}

// argvVariants expands words into the argument vectors bash could produce:
// quotes removed, brace expansions split into words, variables with known
// literal values substituted (one vector per combination, at most
// maxVariants), anything else (command substitutions, unknown variables)
// kept as its source text.
func (ex *extractor) argvVariants(src string, words []*syntax.Word) [][]string {
	// Fast path, the usual case: every word has exactly one value.
	argv := make([]string, 0, len(words))
	for _, w := range words {
		if hasBraces(w) || ex.splitsFields(src, w.Parts) {
			return ex.argvVariantsSlow(src, words)
		}
		v, ok := ex.wordSingle(src, w.Parts)
		if !ok {
			return ex.argvVariantsSlow(src, words)
		}
		if strings.Contains(v, fieldSep) {
			argv = append(argv, strings.Split(v, fieldSep)...) // "${array[@]}"
			continue
		}
		argv = append(argv, v)
	}
	if len(argv) == 0 {
		return nil
	}
	return [][]string{argv}
}

func hasBraces(w *syntax.Word) bool {
	for _, p := range w.Parts {
		if l, ok := p.(*syntax.Lit); ok && strings.Contains(l.Value, "{") {
			return true
		}
	}
	return false
}

// wordSingle expands a word that has one possible value; ok is false when
// a variable has several known values or a default that may apply.
func (ex *extractor) wordSingle(src string, parts []syntax.WordPart) (string, bool) {
	if len(parts) == 1 {
		switch p := parts[0].(type) {
		case *syntax.Lit:
			return unescapeUnquoted(p.Value), true
		case *syntax.SglQuoted:
			if !p.Dollar {
				return p.Value, true
			}
		}
	}
	var b strings.Builder
	ok := ex.appendSingle(&b, src, parts, false)
	return b.String(), ok
}

func (ex *extractor) appendSingle(b *strings.Builder, src string, parts []syntax.WordPart, quoted bool) bool {
	for _, p := range parts {
		switch p := p.(type) {
		case *syntax.Lit:
			if quoted {
				b.WriteString(unescapeDouble(p.Value))
			} else {
				b.WriteString(unescapeUnquoted(p.Value))
			}
		case *syntax.SglQuoted:
			if p.Dollar {
				b.WriteString(decodeANSIC(p.Value))
			} else {
				b.WriteString(p.Value)
			}
		case *syntax.DblQuoted:
			if !ex.appendSingle(b, src, p.Parts, true) {
				return false
			}
		case *syntax.ParamExp:
			vals := ex.param(src, p)
			if len(vals) != 1 {
				return false
			}
			b.WriteString(vals[0])
		case *syntax.BraceExp:
			b.WriteString(braceText(src, p))
		case *syntax.CmdSubst:
			outs, ok := ex.substUse(src, p)
			if !ok {
				b.WriteString(nodeText(src, p))
			} else if len(outs) != 1 {
				return false
			} else {
				b.WriteString(outs[0])
			}
		default:
			b.WriteString(nodeText(src, p))
		}
	}
	return true
}

// argvVariantsSlow handles brace expansion, word splitting of known
// variables and variables with several values.
func (ex *extractor) argvVariantsSlow(src string, words []*syntax.Word) [][]string {
	variants := [][]string{nil}
	for _, w := range words {
		if ex.tooDeep != "" {
			// Refused anyway: the rest of the words would only cost
			// time (5,000 words of {1..64}$X took 5 s).
			break
		}
		fields, whole := braceFields(w, ex.loopWords)
		if !whole {
			ex.tooDeep = nodeText(src, w)
			ex.tooDeepReason = fmt.Sprintf("expands braces to more than %d words, beyond what preflight checks; list fewer (split the command line)", maxBraceFields)
			break
		}
		// Each word of a brace expansion is one more copy of the word,
		// charged like an expansion's bytes: {1..256} repeated would
		// otherwise make a 100 KB command line millions of words.
		if text := nodeText(src, w); len(fields) > 1 && !ex.spend((len(fields)-1)*len(text), text) {
			break
		}
		for _, parts := range fields {
			if ex.tooDeep != "" {
				break
			}
			alts := ex.wordAlts(src, parts)
			split := ex.splitsFields(src, parts)
			next := make([][]string, 0, len(variants))
			for _, v := range variants {
				for k, a := range alts {
					var splits [][]string
					if split {
						splits = ex.splitFields(a) // unquoted expansion: word splitting
					} else {
						splits = [][]string{strings.Split(a, fieldSep)}
					}
					for j, fields := range splits {
						if len(next) == maxVariants {
							ex.tooMany(nodeText(src, w), "the command's arguments")
							break
						}
						if k == len(alts)-1 && j == len(splits)-1 {
							// v's last use: append in place (each
							// variant owns its array), so that a
							// long command is not copied once per
							// word.
							next = append(next, append(v, fields...))
							continue
						}
						if !ex.spend(len(v), nodeText(src, w)) {
							break
						}
						next = append(next, append(slices.Clip(v), fields...))
					}
					if ex.tooDeep != "" {
						break
					}
				}
			}
			variants = next
		}
	}
	out := variants[:0]
	for _, v := range variants {
		if len(v) > 0 {
			out = append(out, v)
		}
	}
	return out
}

// splitFields returns the words an unquoted expansion of a may split
// into: on the default IFS (blanks), and on each literal IFS assigned in
// the command line, fieldSep always separating. One split, on all of
// them at once, was no superset: IFS=u true; X=push; git $X (a prefix
// assignment, IFS unchanged after it) was checked as git p sh only.
func (ex *extractor) splitFields(a string) [][]string {
	out := [][]string{strings.FieldsFunc(a, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == 0
	})}
	for _, ifs := range ex.vars["IFS"] {
		f := strings.FieldsFunc(a, func(r rune) bool { return r == 0 || strings.ContainsRune(ifs, r) })
		if !slices.ContainsFunc(out, func(o []string) bool { return slices.Equal(o, f) }) {
			out = append(out, f)
		}
	}
	return out
}

// splitsFields reports whether an unquoted expansion in parts is split
// into fields: a variable with a known value, or a command substitution
// with a static output.
func (ex *extractor) splitsFields(src string, parts []syntax.WordPart) bool {
	return hasKnownUnquotedParam(parts, ex.vars) || ex.hasStaticSubst(src, parts)
}

// hasKnownUnquotedParam reports whether parts has an unquoted $VAR whose
// value is known, or a default or alternate word (${X:-w}, ${X:+w}),
// whose expansion is then split on whitespace.
func hasKnownUnquotedParam(parts []syntax.WordPart, vars map[string][]string) bool {
	for _, p := range parts {
		if pe, ok := p.(*syntax.ParamExp); ok && pe.Param != nil {
			if _, known := vars[pe.Param.Value]; known {
				return true
			}
			if pe.Exp != nil && pe.Exp.Word != nil {
				// ${X:-git push}, ${X:+git push}: the word may be
				// the value, split like one.
				switch pe.Exp.Op {
				case syntax.DefaultUnset, syntax.DefaultUnsetOrNull, syntax.AssignUnset,
					syntax.AssignUnsetOrNull, syntax.AlternateUnset, syntax.AlternateUnsetOrNull:
					return true
				}
			}
		}
	}
	return false
}

// wordAlts returns the possible values of a word (never empty).
func (ex *extractor) wordAlts(src string, parts []syntax.WordPart) []string {
	names := ex.repeatedVars(parts)
	if len(names) == 0 {
		return ex.wordAltsQ(src, parts, false)
	}
	// A variable used more than once in one word has one value in all
	// its uses (bash expands the word at once): its values are taken
	// one at a time, not crossed with themselves. A heredoc using $x
	// thirteen times has as many values as x, not 2^13.
	bindings := [][]string{nil}
	for _, n := range names {
		bindings = ex.crossBind(wordText(src, parts), bindings, ex.vars[n])
	}
	if ex.bound == nil {
		ex.bound = make(map[string]string)
	}
	var out []string
	for _, b := range bindings {
		for i, n := range names {
			ex.bound[n] = b[i]
		}
		for _, v := range ex.wordAltsQ(src, parts, false) {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		if len(out) > maxVariants {
			ex.tooMany(wordText(src, parts), "a word")
			out = out[:maxVariants]
			break
		}
	}
	for _, n := range names {
		delete(ex.bound, n)
	}
	return out
}

// crossBind extends each binding (values of the variables bound so far)
// with each of vals, at most maxVariants of them; past it the command
// line is refused (text names where).
func (ex *extractor) crossBind(text string, bindings [][]string, vals []string) [][]string {
	if len(bindings)*len(vals) > maxVariants {
		ex.tooMany(text, "a word")
	}
	next := make([][]string, 0, min(len(bindings)*len(vals), maxVariants))
	for _, b := range bindings {
		for _, v := range vals {
			if len(next) < maxVariants {
				next = append(next, append(slices.Clip(b), v))
			}
		}
	}
	return next
}

// repeatedVars returns the variables with several known values that parts
// use more than once as plain $x or ${x} (in double quotes too), and that
// are not bound already.
func (ex *extractor) repeatedVars(parts []syntax.WordPart) []string {
	var count map[string]int
	var walk func([]syntax.WordPart)
	walk = func(parts []syntax.WordPart) {
		for _, p := range parts {
			switch p := p.(type) {
			case *syntax.DblQuoted:
				walk(p.Parts)
			case *syntax.ParamExp:
				if p.Param == nil || p.Excl || p.Length || p.Index != nil || p.Slice != nil ||
					p.Repl != nil || p.Names != 0 || p.Exp != nil {
					continue
				}
				n := p.Param.Value
				if _, b := ex.bound[n]; b || len(ex.vars[n]) < 2 || ex.lost[n] || ex.namerefs[n] || ex.runtime[n] ||
					n == "@" || n == "*" {
					continue
				}
				if count == nil {
					count = make(map[string]int)
				}
				count[n]++
			}
		}
	}
	walk(parts)
	var out []string
	for n, c := range count {
		if c > 1 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// wordAltsQ is wordAlts for parts inside double quotes when quoted. Text
// that every value shares is gathered in one builder, so a word of many
// parts costs time linear in its length; only a part with several values
// copies the values built so far, and that copy is charged (see spend).
func (ex *extractor) wordAltsQ(src string, parts []syntax.WordPart, quoted bool) []string {
	alts := []string{""}
	var tail strings.Builder // appended to every value in alts
	add := func(vals ...string) {
		if len(vals) == 1 {
			tail.WriteString(vals[0])
			return
		}
		t := tail.String()
		tail.Reset()
		cost := 0
		for _, a := range alts {
			cost += len(a) + len(t)
		}
		if !ex.spend(cost*len(vals), t) {
			tail.WriteString(t)
			return
		}
		if len(alts)*len(vals) > maxVariants {
			ex.tooMany(wordText(src, parts), "a word")
		}
		next := make([]string, 0, min(len(alts)*len(vals), maxVariants))
		for _, a := range alts {
			for _, v := range vals {
				if len(next) < maxVariants {
					next = append(next, a+t+v)
				}
			}
		}
		alts = next
	}
	for _, p := range parts {
		if ex.tooDeep != "" {
			break // refused anyway (see script): the rest would only cost time
		}
		switch p := p.(type) {
		case *syntax.Lit:
			if quoted {
				add(unescapeDouble(p.Value))
			} else {
				add(unescapeUnquoted(p.Value))
			}
		case *syntax.SglQuoted:
			if p.Dollar {
				add(decodeANSIC(p.Value))
			} else {
				add(p.Value)
			}
		case *syntax.DblQuoted:
			add(ex.wordAltsQ(src, p.Parts, true)...)
		case *syntax.ParamExp:
			add(ex.param(src, p)...)
		case *syntax.BraceExp:
			add(braceText(src, p))
		case *syntax.CmdSubst:
			if outs, ok := ex.substUse(src, p); ok {
				add(outs...) // a static echo or printf
			} else {
				add(nodeText(src, p))
			}
		default: // $(...), `...`, $((...)), <(...), extglobs: runtime values
			add(nodeText(src, p))
		}
	}
	if tail.Len() > 0 {
		t := tail.String()
		for i := range alts {
			alts[i] += t
		}
	}
	return alts
}

// param expands $NAME, ${NAME:-default} or ${NAME#pattern} and the other
// operators (see paramOp) when the value is known. The values are
// charged to the expansion budget (see spend); past it, the expansion is
// its source text.
func (ex *extractor) param(src string, p *syntax.ParamExp) []string {
	vals := ex.paramValues(src, p)
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	if !ex.spend(n, nodeText(src, p)) {
		return []string{nodeText(src, p)}
	}
	return vals
}

func (ex *extractor) paramValues(src string, p *syntax.ParamExp) []string {
	if p.Param == nil || p.Names != 0 {
		return []string{nodeText(src, p)}
	}
	if ex.lost[p.Param.Value] {
		ex.tooMany(nodeText(src, p), "$"+p.Param.Value)
		return []string{nodeText(src, p)}
	}
	// vals are the values the parameter is known to have (none when
	// known is false); unknown says it may have one preflight does not
	// know too. whole says vals are whole arrays, their elements joined
	// by fieldSep (${x[@]}, $@), for the operators that take them whole
	// (${#x[@]}, ${x[@]:1}).
	var vals []string
	var known, unknown, whole bool
	if p.Excl {
		// ${!y}: the value of the variable whose name is y's value,
		// an array element if y names one (y='a[1]').
		names, ok := ex.vars[p.Param.Value]
		if !ok || p.Index != nil || p.Length || p.Slice != nil {
			return []string{nodeText(src, p)}
		}
		vals, unknown = ex.indirectValues(nodeText(src, p), p.Param.Value, names)
		known = len(vals) > 0
		unknown = unknown || !known
	} else if v, ok := ex.bound[p.Param.Value]; ok && p.Index == nil {
		vals, known = []string{v}, true // see wordAlts
	} else {
		vals, known = ex.vars[p.Param.Value]
		if known && ex.namerefs[p.Param.Value] {
			vals = ex.namerefValues(nodeText(src, p), p.Param.Value, vals)
		}
		var ok bool
		if vals, whole, ok = ex.paramElems(src, p, vals, known); !ok {
			return []string{nodeText(src, p)}
		}
		// A variable a command may give a value preflight does not
		// know (see markRuntime) has that value too, besides those it
		// knows: its use's source text, as an unknown variable's.
		unknown = !known || ex.runtime[p.Param.Value]
	}
	if p.Exp != nil {
		switch p.Exp.Op {
		case syntax.DefaultUnset, syntax.DefaultUnsetOrNull, syntax.AssignUnset, syntax.AssignUnsetOrNull,
			syntax.AlternateUnset, syntax.AlternateUnsetOrNull:
			return ex.defaultValues(src, p, vals, known, unknown)
		}
	}
	if !known {
		return []string{nodeText(src, p)}
	}
	// The other operators (${x#pat}, ${x/a/b}, ${x:1:2}, ${#x}, ${x^^},
	// ${x@Q}) apply to each value known (see paramOp): one not known, or
	// what an operand not known makes of a value, is the source text.
	out, sure := ex.paramOp(src, p, vals, whole)
	if unknown || !sure {
		out = append(slices.Clip(out), nodeText(src, p))
	} else if len(out) == 0 {
		out = []string{""} // ${a[@]:0:-1}: an error, no command
	}
	return out
}

// indirectValues returns the values of ${!y}, names being y's values:
// those of the variables they name (see refValues), and for a nameref
// the names themselves. unknown is true when one may have a value
// preflight does not know.
func (ex *extractor) indirectValues(text, name string, names []string) (out []string, unknown bool) {
	if ex.namerefs[name] {
		out = append(out, names...) // ${!r} of a nameref is the name
	}
	unknown = ex.runtime[name]
	for _, n := range names {
		vals, ok := ex.refValues(text, n)
		unknown = unknown || !ok
		if strings.HasSuffix(n, "[@]") || strings.HasSuffix(n, "[*]") {
			out = append(out, vals...) // every element
			continue
		}
		for _, v := range vals {
			out = append(out, strings.Split(v, fieldSep)[0])
		}
	}
	return out, unknown
}

// paramElems returns the values of the elements that p takes of vals,
// the values of its parameter (known or not): $x and ${x} are an array's
// first element; ${x[@]} and ${x[*]} all of them (whole, split into
// words later); ${x[N]} the Nth, and ${x[i]} or ${m[key]} any (see
// anyElem). $@ and $* are all the positional parameters. ok is false
// for any index of a parameter not known.
func (ex *extractor) paramElems(src string, p *syntax.ParamExp, vals []string, known bool) (elems []string, whole, ok bool) {
	if !known {
		return vals, false, p.Index == nil
	}
	elem := 0
	if p.Param.Value == "@" || p.Param.Value == "*" {
		elem = -1
	}
	if p.Index != nil {
		lit := ""
		if w, ok := p.Index.(*syntax.Word); ok {
			lit = w.Lit()
		}
		switch lit {
		case "@", "*":
			elem = -1
		default:
			if elem = arrayIndex(p.Index); elem < 0 || ex.anyIndex[p.Param.Value] {
				// ${a[i]}, ${m[key]}: any element, or none. So
				// is ${a[N]} of an array given an element at an
				// index not read, which may be N.
				return ex.anyElem(nodeText(src, p), vals), false, true
			}
		}
	}
	if elem < 0 {
		return vals, true, true
	}
	picked := make([]string, 0, len(vals))
	for _, v := range vals {
		if !strings.Contains(v, fieldSep) {
			if elem == 0 {
				picked = append(picked, v) // a scalar: no copy
			}
		} else if f := strings.Split(v, fieldSep); elem < len(f) {
			picked = append(picked, f[elem])
		}
	}
	if len(picked) == 0 {
		picked = append(picked, "")
	}
	return picked, false, true
}

// anyElem returns each element of each of vals, and "" (an element not
// set): the values of ${a[i]} or ${m[key]}, whose index preflight does
// not read, a superset. text names the use, for tooMany.
func (ex *extractor) anyElem(text string, vals []string) []string {
	out := []string{""}
	seen := map[string]bool{"": true}
	for _, v := range vals {
		for _, e := range strings.Split(v, fieldSep) {
			if seen[e] {
				continue
			}
			if len(out) == maxVariants {
				ex.tooMany(text, "an array element")
				return out
			}
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// defaultValues returns the values of ${x:-word}, ${x:=word}, ${x:+word}
// and their forms without a colon, vals being those x is known to have
// (none when known is false), unknown saying it may have one preflight
// does not know too.
func (ex *extractor) defaultValues(src string, p *syntax.ParamExp, vals []string, known, unknown bool) []string {
	switch p.Exp.Op {
	case syntax.DefaultUnset, syntax.DefaultUnsetOrNull, syntax.AssignUnset, syntax.AssignUnsetOrNull:
		var out []string
		if known {
			null := p.Exp.Op == syntax.DefaultUnsetOrNull || p.Exp.Op == syntax.AssignUnsetOrNull
			if !null || !slices.Contains(vals, "") {
				out = slices.Clip(vals)
			} else {
				// X='': ${X:-word} is word.
				word := []string{""}
				if p.Exp.Word != nil {
					word = ex.wordAlts(src, p.Exp.Word.Parts)
				}
				out = slices.DeleteFunc(slices.Clone(vals), func(v string) bool { return v == "" })
				out = append(out, word...)
			}
		}
		if unknown {
			// The value is unknown: it may be unset or empty, so the
			// default counts.
			if p.Exp.Word == nil {
				out = append(out, "")
			} else {
				out = append(out, ex.wordAlts(src, p.Exp.Word.Parts)...)
			}
			out = append(out, nodeText(src, p))
		}
		return out
	case syntax.AlternateUnset, syntax.AlternateUnsetOrNull:
		// ${X:+word}, ${X+word}: word when X is set (and, for :+, not
		// empty), else "". An unknown X may be either.
		word := []string{""}
		if p.Exp.Word != nil {
			word = ex.wordAlts(src, p.Exp.Word.Parts)
		}
		if unknown {
			return append(word, "")
		}
		var out []string
		empty := false
		for _, v := range vals {
			if v == "" && p.Exp.Op == syntax.AlternateUnsetOrNull {
				empty = true
			} else if out == nil {
				out = word
			}
		}
		if empty || out == nil {
			out = append(slices.Clip(out), "")
		}
		return out
	}
	return []string{nodeText(src, p)}
}

// namerefValues returns the values of a nameref whose own values are
// names: those of the variables they name ($r is ${!r}, but whole
// arrays), and names themselves (a superset: r may be used where it is
// no nameref). text names the use.
func (ex *extractor) namerefValues(text, name string, names []string) []string {
	if m, ok := ex.refMemo[name]; ok && m.gen == ex.gen {
		return m.vals
	}
	out := slices.Clone(names)
	add := func(v string) {
		if slices.Contains(out, v) {
			return
		}
		if len(out) == maxVariants {
			ex.tooMany(text, "a nameref")
			return
		}
		out = append(out, v)
	}
	for _, n := range names {
		vals, ok := ex.refValues(text, n)
		if !ok {
			add(text)
		}
		for _, v := range vals {
			add(v)
		}
	}
	if ex.refMemo == nil {
		ex.refMemo = make(map[string]refResult)
	}
	ex.refMemo[name] = refResult{ex.gen, out}
	return out
}

// refResult is a memoized namerefValues, valid while ex.gen is gen.
type refResult struct {
	gen  int
	vals []string
}

// refValues returns the values of the variable that ref names, as ${!y}
// and a nameref read it: NAME, NAME[@] and NAME[*] (an array whole, its
// elements joined by fieldSep), NAME[N] (element N) and NAME[expr] (each
// element, a superset). known is false when ref names no variable with
// known values, or one that may also have a value preflight does not
// know (see markRuntime): vals are then those it knows. text names the
// use, for tooMany.
func (ex *extractor) refValues(text, ref string) (vals []string, known bool) {
	name, idx, indexed := strings.Cut(ref, "[")
	if indexed {
		var ok bool
		if idx, ok = strings.CutSuffix(idx, "]"); !ok {
			return nil, false
		}
	}
	if ex.lost[name] {
		ex.tooMany(text, "$"+name)
	}
	vals, known = ex.vars[name]
	rt := ex.runtime[name]
	if !known || !indexed || idx == "@" || idx == "*" {
		return vals, known && !rt
	}
	n, err := strconv.Atoi(idx)
	var out []string
	for _, v := range vals {
		f := strings.Split(v, fieldSep)
		if err == nil && n >= 0 {
			if n < len(f) && !slices.Contains(out, f[n]) {
				out = append(out, f[n])
			}
			continue
		}
		// a[-1], a[i], a[1+1]: any element.
		for _, e := range f {
			if slices.Contains(out, e) {
				continue
			}
			if len(out) == maxVariants {
				ex.tooMany(text, "$"+name)
				break
			}
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		out = append(out, "")
	}
	return out, !rt
}

// crossAll returns each value of list followed by each of vals, at most
// maxVariants of them; past it the command line is refused (what has
// too many values, text names where).
func (ex *extractor) crossAll(text, what string, list, vals []string) []string {
	if list == nil {
		list = []string{""}
	}
	if len(list)*len(vals) > maxVariants {
		ex.tooMany(text, what)
	}
	out := make([]string, 0, min(len(list)*len(vals), maxVariants))
	for _, a := range list {
		for _, v := range vals {
			if len(out) < maxVariants {
				out = append(out, a+v)
			}
		}
	}
	return out
}

// braceFields splits a word on its brace expansions ({a,b}), which bash
// turns into separate words before anything else. whole is false when
// more than maxBraceFields words were cut to that many. keepNumeric says
// the word is a loop's (see numericKept).
func braceFields(w *syntax.Word, keepNumeric bool) (fields [][]syntax.WordPart, whole bool) {
	// SplitBraces replaces the word's parts: work on a copy, so the tree
	// being walked keeps only node types syntax.Walk knows.
	cp := *w
	if !syntax.SplitBraces(&cp) {
		return [][]syntax.WordPart{w.Parts}, true
	}
	whole = true
	return expandBraces(cp.Parts, &whole, keepNumeric), whole
}

func expandBraces(parts []syntax.WordPart, whole *bool, keepNumeric bool) [][]syntax.WordPart {
	results := [][]syntax.WordPart{nil}
	var keep map[int]bool
	if keepNumeric {
		keep = numericKept(parts)
	}
	for i, p := range parts {
		if !*whole {
			// Refused anyway: expanding the rest would only cost time
			// (12,000 sequences in one word took 40 s).
			return results
		}
		be, ok := p.(*syntax.BraceExp)
		var elems [][]syntax.WordPart
		if keep[i] {
			// Left as written: see numericKept.
		} else if ok && be.Sequence {
			seq, all := braceSequence(be, maxBraceFields)
			if !all {
				*whole = false
			}
			for _, s := range seq {
				// Quoted: {Z..a} includes a backslash and a backquote,
				// which are text, not escapes.
				elems = append(elems, []syntax.WordPart{&syntax.SglQuoted{Value: s}})
			}
		} else if ok {
			for _, e := range be.Elems {
				elems = append(elems, expandBraces(e.Parts, whole, keepNumeric)...)
			}
		}
		// Each result owns its array (made by append or slices.Concat
		// below), so it grows in place at its last use: copying it at
		// every part made a word of 12,000 {1..1} take seconds.
		if elems == nil {
			for i := range results {
				results[i] = append(results[i], p)
			}
			continue
		}
		var next [][]syntax.WordPart
	combine:
		for _, r := range results {
			for k, sub := range elems {
				if len(next) == maxBraceFields {
					*whole = false
					break combine
				}
				if k == len(elems)-1 {
					next = append(next, append(r, sub...))
				} else {
					next = append(next, slices.Concat(r, sub))
				}
			}
		}
		results = next
	}
	return results
}

// numericKept marks the integer sequences ({1..10000}) among a loop's
// word's parts that are left unexpanded, largest first, until the words
// the rest expand to are within maxBraceFields: for i in {1..10000} is an
// everyday command line, and non-negative integers alone spell no
// program, subcommand or option a rule names (rules that name a number,
// such as chmod 777, are not matched through such a sequence).
//
// Only a loop's words: the loop's variable takes one word at a time, so
// how many there are does not matter. Anywhere else it does: one word
// kept for thousands moves the words after it, which set, a function, sh
// -c, printf's format and xargs -n read by position (echo {1..5000} push
// | xargs -n 2 git runs git push).
func numericKept(parts []syntax.WordPart) map[int]bool {
	type numPart struct {
		i int
		n uint64
	}
	var nums []numPart
	rest := uint64(1) // the other brace expansions' words, saturating
	for i, p := range parts {
		be, ok := p.(*syntax.BraceExp)
		if !ok {
			continue
		}
		if be.Sequence {
			if sq, ok := parseSequence(be); ok && !sq.chars && sq.from >= 0 && sq.to >= 0 {
				nums = append(nums, numPart{i, sq.words()})
				continue
			} else if ok {
				// Letters (at most 58), and negative integers,
				// which read as options (-1).
				rest = min(rest*min(sq.words(), maxBraceFields+1), maxBraceFields+1)
				continue
			}
			continue // not expanded by bash
		}
		rest = min(rest*uint64(max(len(be.Elems), 1)), maxBraceFields+1) // nested lists: at least
	}
	if len(nums) == 0 || rest > maxBraceFields {
		return nil // fits, or refused whatever is kept
	}
	// The smallest integer sequences are expanded while the words fit;
	// the rest (the largest) are kept.
	slices.SortStableFunc(nums, func(a, b numPart) int { return cmp.Compare(a.n, b.n) })
	keep := map[int]bool{}
	words := rest
	for _, np := range nums {
		if np.n <= maxBraceFields && words*np.n <= maxBraceFields {
			words *= np.n
			continue
		}
		keep[np.i] = true
	}
	return keep
}

// braceSequence returns the words of a sequence expansion, {a..e},
// {1..10}, {01..10..2}: single letters or integers, with an optional
// step, as bash expands them (and as mvdan.cc/sh/v3/expand does). It
// returns at most limit words; all is false when there are more. seq is
// nil when b is not a sequence bash expands.
func braceSequence(b *syntax.BraceExp, limit int) (seq []string, all bool) {
	sq, ok := parseSequence(b)
	if !ok {
		return nil, true
	}
	n := sq.words()
	all = n <= uint64(limit)
	count := min(n, uint64(limit))
	seq = make([]string, 0, count)
	for i := range count {
		v := int64(uint64(sq.from) + i*sq.step)
		if sq.from > sq.to {
			v = int64(uint64(sq.from) - i*sq.step)
		}
		switch {
		case sq.chars:
			seq = append(seq, string(rune(v)))
		case sq.width > 0:
			seq = append(seq, fmt.Sprintf("%0*d", sq.width, v))
		default:
			seq = append(seq, strconv.FormatInt(v, 10))
		}
	}
	return seq, all
}

// sequence is a brace sequence bash expands: from, to and step, of
// letters (chars) or integers (padded to width when an end has a leading
// zero).
type sequence struct {
	from, to int64
	step     uint64
	chars    bool
	width    int
}

// words is the number of words s expands to (at least 1; at most 2^64-1).
func (s sequence) words() uint64 {
	// In uint64, where no difference of two int64 overflows.
	diff := uint64(s.to) - uint64(s.from)
	if s.from > s.to {
		diff = uint64(s.from) - uint64(s.to)
	}
	n := diff / s.step
	if n == math.MaxUint64 {
		return n
	}
	return n + 1
}

// parseSequence reads b as a sequence bash expands; ok is false for one
// it leaves as written ({a..3}, {1..2..x}).
func parseSequence(b *syntax.BraceExp) (sq sequence, ok bool) {
	if len(b.Elems) != 2 && len(b.Elems) != 3 {
		return sq, false
	}
	fromLit, toLit := b.Elems[0].Lit(), b.Elems[1].Lit()
	sq.step = 1
	if len(b.Elems) == 3 {
		n, err := strconv.ParseInt(b.Elems[2].Lit(), 10, 64)
		if err != nil {
			return sq, false
		}
		// Only the step's size counts; the ends give the direction.
		if n < 0 {
			sq.step = uint64(-(n + 1)) + 1 // no overflow at the minimum
		} else if n > 0 {
			sq.step = uint64(n)
		}
	}
	var err1, err2 error
	sq.from, err1 = strconv.ParseInt(fromLit, 10, 64)
	sq.to, err2 = strconv.ParseInt(toLit, 10, 64)
	if err1 != nil || err2 != nil {
		if len(fromLit) != 1 || len(toLit) != 1 || !isASCIILetter(fromLit[0]) || !isASCIILetter(toLit[0]) {
			return sq, false
		}
		sq.chars, sq.from, sq.to = true, int64(fromLit[0]), int64(toLit[0])
	}
	if !sq.chars && (hasLeadingZero(fromLit) || hasLeadingZero(toLit)) {
		sq.width = max(len(fromLit), len(toLit))
	}
	return sq, true
}

// hasLeadingZero reports whether an integer is written with a leading
// zero (01, -05), which pads a sequence's words to the same width.
func hasLeadingZero(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return len(s) > 1 && s[0] == '0'
}

// braceText renders a brace expansion that is not split ({1..3}).
func braceText(src string, b *syntax.BraceExp) string {
	sep := ","
	if b.Sequence {
		sep = ".."
	}
	elems := make([]string, len(b.Elems))
	for i, e := range b.Elems {
		var s strings.Builder
		for _, p := range e.Parts {
			if l, ok := p.(*syntax.Lit); ok {
				s.WriteString(l.Value)
			} else {
				s.WriteString(nodeText(src, p))
			}
		}
		elems[i] = s.String()
	}
	return "{" + strings.Join(elems, sep) + "}"
}

// wordText is the source text of a word's parts, as nodeText.
func wordText(src string, parts []syntax.WordPart) string {
	if len(parts) == 0 {
		return ""
	}
	return spanText(src, parts[0].Pos(), parts[len(parts)-1].End())
}

// nodeText is the source text of n, or "" if its position is unknown (a
// node made by SplitBraces).
func nodeText(src string, n syntax.Node) string {
	return spanText(src, n.Pos(), n.End())
}

// spanText is src from start to end, or "" if either is unknown.
func spanText(src string, start, end syntax.Pos) string {
	if !start.IsValid() || !end.IsValid() {
		return ""
	}
	s, e := int(start.Offset()), int(end.Offset())
	if s < 0 || e > len(src) || s > e {
		return ""
	}
	return src[s:e]
}

// unescapeUnquoted removes the backslashes of an unquoted word: \x is x and
// a backslash-newline disappears.
func unescapeUnquoted(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unescapeDouble removes the backslashes bash removes inside double quotes:
// before $, `, ", \ and newline.
func unescapeDouble(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// decodeANSIC decodes the body of a $'...' string. Bash ends the string
// at a NUL it decodes (pu$'\0x'sh is push): so does decodeANSIC, whose
// NUL would otherwise read as fieldSep, a break between words.
func decodeANSIC(s string) string {
	if !strings.Contains(s, `\`) {
		return s
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
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j-i < 3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			n, _ := strconv.ParseUint(s[i:j], 8, 16)
			b.WriteByte(byte(n))
			i = j - 1
		case 'c':
			// \cX, control-X (\c@ is NUL), as bash's TOCTRL.
			if i+1 == len(s) {
				b.WriteString(`\c`)
				continue
			}
			i++
			if x := s[i]; x == '?' {
				b.WriteByte(0x7f)
			} else {
				b.WriteByte(x & 0x1f) // the same for upper and lower case
			}
		default:
			if n := decodeEscape(&b, s, i); n > 0 {
				i += n - 1
			} else if c == 'x' || c == 'u' || c == 'U' {
				b.WriteByte('\\') // no digits: taken literally
				b.WriteByte(c)
			} else {
				b.WriteByte(c) // \' \" \? and unknown escapes
			}
		}
	}
	out := b.String()
	if i := strings.IndexByte(out, 0); i >= 0 {
		out = out[:i]
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
}

// baseName is the last element of a slash-separated program path, as the
// matching of rules uses it: /usr/bin/git and ./git are both git.
func baseName(s string) string {
	s = strings.TrimRight(s, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

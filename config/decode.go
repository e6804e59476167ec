package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tailscale/hujson"
)

// document is one decoded config file or template before extends resolution.
type document struct {
	cfg *Config
	src []byte
	// offs maps a field path ("network.allowedDomains[2]") to the byte
	// offset of its value, so validation errors can name a line. Nil for
	// templates, whose positions are never reported.
	offs map[string]int
}

// line returns the 1-based line of the value at path, or 0 if unknown.
func (d *document) line(path string) int {
	off, ok := d.offs[path]
	if !ok {
		return 0
	}
	return lineAt(d.src, off)
}

func lineAt(src []byte, off int) int {
	if off > len(src) {
		off = len(src)
	}
	return bytes.Count(src[:off], []byte{'\n'}) + 1
}

// decode parses JSONC (comments and trailing commas allowed) into a Config,
// strictly: unknown keys, duplicate keys and wrong types are errors that name
// the field and its line. Keys match the schema's names exactly or, as with
// upstream's encoding/json, case-insensitively. null leaves a field unset.
// An empty or whitespace-only input is an empty config.
func decode(src []byte, track bool) (*document, error) {
	// A UTF-8 byte order mark, which some Windows editors write: JSON
	// parsers refuse it, editors hide it.
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	// A UTF-16 one (Windows' "Unicode"): every other byte is 0, which
	// the parser reported as "invalid character '\xff'".
	if bytes.HasPrefix(src, []byte("\xff\xfe")) || bytes.HasPrefix(src, []byte("\xfe\xff")) {
		return nil, errors.New("invalid JSON in config file: it is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8")
	}
	doc := &document{cfg: &Config{}, src: src}
	if track {
		doc.offs = make(map[string]int)
	}
	if len(bytes.TrimSpace(src)) == 0 {
		return doc, nil
	}
	v, err := hujson.Parse(src)
	if err != nil {
		if v2, err2 := hujson.Parse(endLine(src)); err2 == nil {
			v, err = v2, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("invalid JSON in config file: %s", syntaxError(src, err))
	}
	if _, ok := v.Value.(*hujson.Object); !ok {
		return nil, fmt.Errorf("invalid JSON in config file: line %d: the top level must be an object, got %s",
			lineAt(src, v.StartOffset), kindName(v.Value))
	}
	d := decoder{src: src, offs: doc.offs}
	if err := d.value(&v, reflect.ValueOf(doc.cfg).Elem(), ""); err != nil {
		return nil, err
	}
	return doc, nil
}

// endLine returns src ending with a newline: hujson ends a // comment
// only at one, and refused a file whose last line is a comment without it
// ("parsing comment: unexpected EOF"), which JSONC parsers accept
// (upstream's too). A newline at the end changes no offset before it.
// Parsed again so only where the text as it is fails: its error is the
// one reported, at the file's own lines.
func endLine(src []byte) []byte {
	if len(src) == 0 || src[len(src)-1] == '\n' {
		return src
	}
	return append(src[:len(src):len(src)], '\n')
}

// syntaxError is hujson's message for err, a syntax error in src ("line
// L, column C: what"), with the text found there quoted and what to do:
// hujson names a character or a literal, not the string or word it
// starts, and nothing at all at the end of the file.
func syntaxError(src []byte, err error) string {
	msg := strings.TrimPrefix(err.Error(), "hujson: ")
	var line, col int
	if _, e := fmt.Sscanf(msg, "line %d, column %d:", &line, &col); e != nil || line < 1 || col < 1 {
		return msg + "; fix the syntax there"
	}
	off := 0
	for range line - 1 {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return msg + "; fix the syntax there"
		}
		off += i + 1
	}
	off += col - 1
	if off >= len(bytes.TrimRight(src, " \t\r\n")) {
		return msg + ", at the end of the file; close every { and [ that is open, and end every string"
	}
	tok := syntaxToken(src[off:])
	var fix string
	switch {
	case tok[0] == '\'':
		fix = "; JSON strings take double quotes"
	case strings.Contains(msg, "invalid literal"):
		fix = "; quote strings with double quotes (only true, false, null and numbers go without)"
	case strings.Contains(msg, "(expecting ','"):
		fix = "; add the comma missing before it"
	case strings.Contains(msg, "after object name"):
		fix = "; put a colon between the name and its value"
	case strings.Contains(msg, "after top-level value"):
		fix = "; remove what follows the config's closing }"
	default:
		fix = "; fix the syntax there"
	}
	if utf8.RuneCountInString(tok) == 1 || strings.HasSuffix(msg, ": "+tok) {
		return msg + fix // hujson has named it already
	}
	shown := strconv.Quote(tok)
	if tok[0] == '"' && !strings.ContainsFunc(tok, unicode.IsControl) {
		shown = tok // a string: shown as written, cut short if long
		if len(tok) < 2 || tok[len(tok)-1] != '"' {
			shown += "..."
		}
	}
	return msg + ", at " + shown + fix
}

// syntaxToken returns the token b starts with: a quoted string (up to its
// closing quote or the end of the line), a run of word characters, or one
// character; at most 40 bytes, cut at a character boundary.
func syntaxToken(b []byte) string {
	const max = 40
	n := 0
	switch q := b[0]; {
	case q == '"' || q == '\'':
		n = 1
		for n < len(b) && b[n] != '\n' && n < max {
			if b[n] == '\\' && n+1 < len(b) {
				n += 2
				continue
			}
			n++
			if b[n-1] == q {
				break
			}
		}
	case isWordByte(q):
		for n < len(b) && isWordByte(b[n]) && n < max {
			n++
		}
	default:
		_, n = utf8.DecodeRune(b)
	}
	if n > len(b) {
		n = len(b)
	}
	for n > 1 && !utf8.Valid(b[:n]) {
		n--
	}
	return string(b[:n])
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

type decoder struct {
	src  []byte
	offs map[string]int
}

func (d *decoder) line(v *hujson.Value) int { return lineAt(d.src, v.StartOffset) }

func (d *decoder) typeError(v *hujson.Value, path string, t reflect.Type) error {
	return fmt.Errorf("field %q at line %d: expected %s, got %s", path, d.line(v), expected(t), kindName(v.Value))
}

// value decodes v into rv. path is the dotted field path used in messages.
func (d *decoder) value(v *hujson.Value, rv reflect.Value, path string) error {
	if d.offs != nil && path != "" {
		d.offs[path] = v.StartOffset
	}
	lit, isLit := v.Value.(hujson.Literal)
	if isLit && lit.Kind() == 'n' && path != "" {
		return nil // null: leave the field unset, as encoding/json does
	}
	switch rv.Kind() {
	case reflect.Struct:
		obj, ok := v.Value.(*hujson.Object)
		if !ok {
			return d.typeError(v, path, rv.Type())
		}
		return d.object(obj, rv, path)
	case reflect.String:
		if !isLit || lit.Kind() != '"' {
			return d.typeError(v, path, rv.Type())
		}
		str, at, problem := unquote(lit)
		if problem != "" {
			return d.stringError(v.StartOffset+at, fmt.Sprintf("field %q", path), problem)
		}
		rv.SetString(str)
	case reflect.Bool:
		if !isLit || (lit.Kind() != 't' && lit.Kind() != 'f') {
			return d.typeError(v, path, rv.Type())
		}
		rv.SetBool(lit.Bool())
	case reflect.Int:
		if !isLit || lit.Kind() != '0' {
			return d.typeError(v, path, rv.Type())
		}
		n, err := strconv.ParseInt(string(lit), 10, strconv.IntSize)
		if err != nil {
			return fmt.Errorf("field %q at line %d: expected an integer, got %s", path, d.line(v), lit)
		}
		rv.SetInt(n)
	case reflect.Pointer:
		if rv.Type().Elem().Kind() == reflect.Bool && (!isLit || lit.Kind() != 't' && lit.Kind() != 'f') {
			return d.typeError(v, path, rv.Type())
		}
		elem := reflect.New(rv.Type().Elem())
		if err := d.value(v, elem.Elem(), path); err != nil {
			return err
		}
		rv.Set(elem)
	case reflect.Slice:
		arr, ok := v.Value.(*hujson.Array)
		if !ok {
			return d.typeError(v, path, rv.Type())
		}
		return d.list(arr, rv, path)
	default:
		return bug("decode: unsupported kind %s at %s", rv.Kind(), path)
	}
	return nil
}

// list decodes an array of strings or integers. Elements may not be null.
func (d *decoder) list(arr *hujson.Array, rv reflect.Value, path string) error {
	elemPath := func(i int) string { return path + "[" + strconv.Itoa(i) + "]" }
	switch rv.Type().Elem().Kind() {
	case reflect.String:
		out := make([]string, len(arr.Elements))
		for i := range arr.Elements {
			e := &arr.Elements[i]
			if d.offs != nil {
				d.offs[elemPath(i)] = e.StartOffset
			}
			l, ok := e.Value.(hujson.Literal)
			if !ok || l.Kind() != '"' {
				return d.typeError(e, elemPath(i), rv.Type().Elem())
			}
			str, at, problem := unquote(l)
			if problem != "" {
				return d.stringError(e.StartOffset+at, fmt.Sprintf("field %q", elemPath(i)), problem)
			}
			out[i] = str
		}
		rv.Set(reflect.ValueOf(out))
	case reflect.Int:
		out := make([]int, len(arr.Elements))
		for i := range arr.Elements {
			e := &arr.Elements[i]
			if d.offs != nil {
				d.offs[elemPath(i)] = e.StartOffset
			}
			l, ok := e.Value.(hujson.Literal)
			if !ok || l.Kind() != '0' {
				return d.typeError(e, elemPath(i), rv.Type().Elem())
			}
			n, err := strconv.ParseInt(string(l), 10, strconv.IntSize)
			if err != nil {
				return fmt.Errorf("field %q at line %d: expected an integer, got %s", elemPath(i), d.line(e), l)
			}
			out[i] = int(n)
		}
		rv.Set(reflect.ValueOf(out))
	default:
		return bug("decode: unsupported list type %s at %s", rv.Type(), path)
	}
	return nil
}

func (d *decoder) object(obj *hujson.Object, rv reflect.Value, path string) error {
	t := rv.Type()
	names := fieldNames(t)
	join := func(name string) string {
		if path == "" {
			return name
		}
		return path + "." + name
	}
	// Structs have few fields: a bit set and an array record the keys seen.
	var seen uint64
	var firstAt [64]int
	for i := range obj.Members {
		m := &obj.Members[i]
		name, at, problem := unquote(m.Name.Value.(hujson.Literal))
		if problem != "" {
			what := "a key"
			if path != "" {
				what = fmt.Sprintf("a key in %q", path)
			}
			return d.stringError(m.Name.StartOffset+at, what, problem)
		}
		idx := fieldIndex(names, name)
		if idx < 0 {
			hint := ""
			if s := suggest(names, name); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			return fmt.Errorf("unknown field %q at line %d%s; remove it or fix its spelling", join(name), d.line(&m.Name), hint)
		}
		if seen&(1<<idx) != 0 {
			return fmt.Errorf("duplicate field %q at line %d (first set at line %d); keep one", join(name), d.line(&m.Name), lineAt(d.src, firstAt[idx]))
		}
		seen |= 1 << idx
		firstAt[idx] = m.Name.StartOffset
		if err := d.value(&m.Value, rv.Field(idx), join(names[idx])); err != nil {
			return err
		}
	}
	return nil
}

// fieldNameCache maps a struct type to its fields' JSON names, filled on
// first use (never at init).
var fieldNameCache sync.Map // reflect.Type -> []string

// fieldNames returns the JSON names of t's fields, in field order.
func fieldNames(t reflect.Type) []string {
	if v, ok := fieldNameCache.Load(t); ok {
		return v.([]string)
	}
	if t.NumField() > 64 {
		panic(bug("decode: %s has more than 64 fields", t))
	}
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = jsonName(t.Field(i))
	}
	fieldNameCache.Store(t, names)
	return names
}

// stringError is the error for a string that cannot be decoded (unquote):
// invalid UTF-8 or a lone UTF-16 surrogate escape ("\udc80") at byte off
// of the source, in what (`field "x"`). encoding/json would turn them into
// U+FFFD, so that a denyRead entry, say, would name a file that does not
// exist and hide nothing.
func (d *decoder) stringError(off int, what, problem string) error {
	line, col := lineColumn(d.src, off)
	return fmt.Errorf("%s at line %d, column %d: %s", what, line, col, problem)
}

// unquote decodes a JSON string literal, or returns the byte index in lit
// of what it cannot decode and what is wrong there. hujson's
// Literal.String goes through encoding/json for every string, which
// dominates the cost of loading a template, and replaces bad input with
// U+FFFD; most strings have no escapes and need only a slice.
func unquote(lit hujson.Literal) (s string, at int, problem string) {
	b := []byte(lit)
	if len(b) < 2 {
		return "", 0, "a string without its quotes" // hujson does not return one
	}
	if bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		return string(b[1 : len(b)-1]), 0, ""
	}
	out := make([]byte, 0, len(b))
	for i := 1; i < len(b)-1; {
		c := b[i]
		if c != '\\' {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return "", i, fmt.Sprintf("byte 0x%02x in a string is not UTF-8; save the file as UTF-8", c)
			}
			out = append(out, b[i:i+n]...)
			i += n
			continue
		}
		// hujson checked the syntax: an escape is complete.
		switch e := b[i+1]; e {
		case 'u':
			r := hex4(b[i+2 : i+6])
			n := 6
			switch {
			case utf16.IsSurrogate(r) && r < 0xdc00 && i+12 <= len(b)-1 && b[i+6] == '\\' && b[i+7] == 'u':
				if r2 := hex4(b[i+8 : i+12]); r2 >= 0xdc00 && r2 <= 0xdfff {
					r, n = utf16.DecodeRune(r, r2), 12
					break
				}
				fallthrough
			case utf16.IsSurrogate(r):
				return "", i, fmt.Sprintf("%s is half of a UTF-16 surrogate pair, which is no character; write the character itself, or both halves (as in \"\\ud83d\\ude00\")", b[i:i+6])
			}
			out = utf8.AppendRune(out, r)
			i += n
		default:
			out = append(out, unescape(e))
			i += 2
		}
	}
	return string(out), 0, ""
}

// hex4 is the value of four hexadecimal digits (hujson checked them).
func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// unescape is the byte a one-letter JSON escape stands for.
func unescape(e byte) byte {
	switch e {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return e // '"', '\\', '/'
}

// lineColumn returns the 1-based line and column (in bytes, as hujson
// reports syntax errors) of byte off of src.
func lineColumn(src []byte, off int) (line, col int) {
	if off > len(src) {
		off = len(src)
	}
	return lineAt(src, off), off - bytes.LastIndexByte(src[:off], '\n')
}

// fieldIndex finds the field named name, preferring an exact match over a
// case-insensitive one (as encoding/json does).
func fieldIndex(names []string, name string) int {
	fold := -1
	for i, n := range names {
		if n == name {
			return i
		}
		if fold < 0 && strings.EqualFold(n, name) {
			fold = i
		}
	}
	return fold
}

// jsonName is the field's name in JSON, from its json tag.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// suggest returns the known field name closest to name, if it is close
// enough to be a likely typo.
func suggest(names []string, name string) string {
	best, bestDist := "", -1
	for _, n := range names {
		if n == "$schema" {
			continue
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(n)); bestDist < 0 || d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" || bestDist > max(2, len(best)/4) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// expected describes the JSON a Go type accepts, for type errors.
func expected(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	case reflect.Pointer:
		return expected(t.Elem()) + " (or null)"
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.String:
			return "an array of strings"
		case reflect.Int:
			return "an array of integers"
		}
	}
	return t.String()
}

// kindName names the JSON kind of v for messages.
func kindName(v hujson.ValueTrimmed) string {
	switch v.Kind() {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "an unknown value"
}

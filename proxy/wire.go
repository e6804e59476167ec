package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
)

// HTTP/1.1 message syntax (RFC 9112) as the HTTP proxy reads and writes
// it: heads, header fields, and body framing by Content-Length, chunked
// transfer coding or connection close. The proxy parses only what it must
// to forward a message safely, and re-frames every body it forwards, so a
// framing that the client and the upstream server could read differently
// (request smuggling) never passes through.

// maxHeadBytes bounds one message head, start line and fields together
// (net/http's default limit).
const maxHeadBytes = 1 << 20

// maxFields bounds the number of field lines (folded ones included) in
// one head or trailer.
const maxFields = 4096

// maxChunkLine bounds a chunk-size line, extensions included.
const maxChunkLine = 4096

var errHeadTooLarge = errors.New("message head larger than 1 MiB or with more than 4096 fields")

// A client may send heads (and request trailers) of up to maxHeadBytes,
// which the proxy holds while it reads them: ~1.7 MB of the supervisor's
// memory for each connection that sends one slowly, on as many
// connections as the sandbox can open. An allowed origin may answer each
// of those connections with a response head (or trailer) as large and as
// slow. A Server's headBudget bounds those bytes over all its
// connections, both ways: each head reads its first freeHeadBytes (every
// real head fits) on its own, and the rest only while the budget has
// room; a request head that finds none gets 503, a response head 502.
const (
	freeHeadBytes        = 16 << 10
	maxHeadBytesInFlight = 32 << 20
)

var (
	errBusy         = errors.New("the proxy is reading too many large request heads at once; retry")
	errBusyResponse = errors.New("the proxy is reading too many large response heads at once; retry")
)

// headBudget counts the bytes of heads being read beyond their first
// freeHeadBytes. A nil *headBudget has no limit.
type headBudget struct{ used atomic.Int64 }

func (b *headBudget) take(n int) bool {
	if b == nil || n <= 0 {
		return true
	}
	if b.used.Add(int64(n)) > maxHeadBytesInFlight {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

func (b *headBudget) give(n int) {
	if b != nil && n > 0 {
		b.used.Add(-int64(n))
	}
}

// syntaxError is a message that does not parse as HTTP/1.1.
type syntaxError string

func (e syntaxError) Error() string { return string(e) }

func syntaxErrorf(format string, args ...any) error {
	return syntaxError(fmt.Sprintf(format, args...))
}

// statusError is a malformed request: the status the proxy answers with
// and why.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &statusError{400, fmt.Sprintf(format, args...)}
}

type field struct{ name, value string }

// header holds a message's fields in the order received, names as sent.
type header []field

// get returns the first value of the field name (case-insensitive), or "".
func (h header) get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

func (h header) has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

// tokens calls fn with every element of the comma-separated lists in the
// fields named name, trimmed, until fn returns false.
func (h header) tokens(name string, fn func(tok string) bool) {
	for _, f := range h {
		if !strings.EqualFold(f.name, name) {
			continue
		}
		for v := f.value; v != ""; {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if tok = trimOWS(tok); tok != "" && !fn(tok) {
				return
			}
		}
	}
}

// hasToken reports whether the list fields named name contain token,
// case-insensitively.
func (h header) hasToken(name, token string) bool {
	found := false
	h.tokens(name, func(tok string) bool {
		found = strings.EqualFold(tok, token)
		return !found
	})
	return found
}

// hopHeaders are the hop-by-hop fields of RFC 9110 §7.6.1 and RFC 7230
// §6.1, plus the non-standard Proxy-Connection and Keep-Alive. Fields named
// in Connection are hop-by-hop as well. Content-Length is not, but the
// proxy frames every body itself and writes its own.
var hopHeaders = [...]string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
	"Content-Length",
}

// endToEnd returns h without hop-by-hop and framing fields.
func (h header) endToEnd() header {
	// Only names of fields present can matter: the set stays as small as
	// the head's field count, however long Connection is.
	var named map[string]bool // lower case
	if h.has("Connection") {
		present := make(map[string]bool, len(h))
		for _, f := range h {
			present[strings.ToLower(f.name)] = true
		}
		h.tokens("Connection", func(tok string) bool {
			if l := strings.ToLower(tok); present[l] {
				if named == nil {
					named = make(map[string]bool)
				}
				named[l] = true
			}
			return true
		})
	}
	out := make(header, 0, len(h))
	for _, f := range h {
		if !isHop(f.name) && (named == nil || !named[strings.ToLower(f.name)]) {
			out = append(out, f)
		}
	}
	return out
}

func isHop(name string) bool {
	for _, k := range hopHeaders {
		if strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}

func (h header) write(w *bufio.Writer) {
	for _, f := range h {
		w.WriteString(f.name)
		w.WriteString(": ")
		w.WriteString(f.value)
		w.WriteString("\r\n")
	}
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }

// isTchar reports the token characters of RFC 9110 §5.6.2.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// hasCTL reports a control character other than horizontal tab: none may
// appear in a field value, a request target or a reason phrase.
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// headReader reads the lines of one message head within maxHeadBytes.
type headReader struct {
	br   *bufio.Reader
	left int
	crlf bool // lines must end in CRLF (chunk-size lines); else LF will do
	// lenient reads a response's fields as RFC 9112 §5 tells a proxy to:
	// whitespace before the colon is removed, and a folded line joins the
	// one before it with a space. Requests get 400 for either.
	lenient bool
	// budget, if set, is charged for what the head holds beyond its
	// first freeHeadBytes; taken is that charge, for release. busy is
	// the error when the budget is spent (errBusy if nil).
	budget *headBudget
	taken  int
	busy   error
}

// release gives back what r took from its budget.
func (r *headReader) release() {
	r.budget.give(r.taken)
	r.taken = 0
}

// line returns the next line without its CRLF (or bare LF). It returns
// io.EOF only when the input ended before the line's first byte.
func (r *headReader) line() (string, error) {
	var buf []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if r.left -= len(chunk); r.left < 0 {
			return "", errHeadTooLarge
		}
		if r.budget != nil {
			if over := maxHeadBytes - r.left - freeHeadBytes - r.taken; over > 0 {
				if !r.budget.take(over) {
					if r.busy != nil {
						return "", r.busy
					}
					return "", errBusy
				}
				r.taken += over
			}
		}
		if err == nil && buf == nil {
			return r.trimEOL(string(chunk))
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return r.trimEOL(string(buf))
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(buf) > 0:
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
}

func (r *headReader) trimEOL(s string) (string, error) {
	s = s[:len(s)-1]
	t, cr := strings.CutSuffix(s, "\r")
	if r.crlf && !cr {
		// Readers that take a bare LF here and readers that do not see
		// different chunks: a known way to smuggle requests.
		return "", syntaxError("malformed chunked body: line ends in a bare LF")
	}
	return t, nil
}

// fields reads header fields up to the empty line that ends them.
func (r *headReader) fields() (header, error) {
	var (
		h     header
		lines int
		fold  []string // folded continuations of h's last field
	)
	// join ends a folded field: its pieces are joined once, so that many
	// folded lines cost linear time.
	join := func() {
		if len(fold) > 0 {
			f := &h[len(h)-1]
			f.value = trimOWS(f.value + " " + strings.Join(fold, " "))
			fold = fold[:0]
		}
	}
	for {
		line, err := r.line()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		if line == "" {
			join()
			return h, nil
		}
		if lines++; lines > maxFields {
			return nil, errHeadTooLarge
		}
		if line[0] == ' ' || line[0] == '\t' {
			v := trimOWS(line)
			if !r.lenient || len(h) == 0 || hasCTL(v) {
				return nil, syntaxError("obsolete line folding in a header field")
			}
			if v != "" {
				fold = append(fold, v)
			}
			continue
		}
		join()
		name, value, ok := strings.Cut(line, ":")
		if ok && r.lenient {
			name = strings.TrimRight(name, " \t")
		}
		if !ok || !validToken(name) {
			return nil, syntaxErrorf("malformed header line %q", clip(line))
		}
		value = trimOWS(value)
		if hasCTL(value) {
			return nil, syntaxErrorf("header field %s has a control character", name)
		}
		h = append(h, field{name, value})
	}
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// request is a request head.
type request struct {
	method string
	target string // the request-target, as sent
	minor  int    // HTTP/1.minor
	header header
}

// readRequestHead reads a request head. It returns io.EOF when the
// connection ended before a request began, and *statusError for a request
// that must be answered with an error status.
func readRequestHead(br *bufio.Reader) (*request, error) {
	return readRequestHeadIn(br, nil)
}

// readRequestHeadIn is readRequestHead charging budget while it reads.
func readRequestHeadIn(br *bufio.Reader, budget *headBudget) (*request, error) {
	r := headReader{br: br, left: maxHeadBytes, budget: budget}
	defer r.release()
	line, err := r.line()
	if err == nil && line == "" {
		// RFC 9112 §2.2: ignore an empty line before the request line
		// (some clients send one after a POST body).
		line, err = r.line()
	}
	if err != nil {
		return nil, headError(err)
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !validToken(method) || target == "" || hasCTL(target) || strings.ContainsAny(target, " \t") {
		return nil, badRequest("malformed request line %q", clip(line))
	}
	minor, err := parseVersion(proto)
	if err != nil {
		return nil, err
	}
	h, err := r.fields()
	if err != nil {
		return nil, headError(err)
	}
	return &request{method: method, target: target, minor: minor, header: h}, nil
}

// headError turns an error reading a request head into its answer: a
// *statusError, or an error after which nobody is left to answer.
func headError(err error) error {
	var se syntaxError
	switch {
	case err == errHeadTooLarge:
		return &statusError{431, "request head larger than 1 MiB or with more than 4096 fields"}
	case err == errBusy:
		return &statusError{503, err.Error()}
	case errors.As(err, &se):
		return badRequest("%s", se)
	}
	return err
}

// parseVersion returns the minor version of "HTTP/1.0" and "HTTP/1.1".
func parseVersion(proto string) (int, error) {
	switch proto {
	case "HTTP/1.1":
		return 1, nil
	case "HTTP/1.0":
		return 0, nil
	}
	if len(proto) == 8 && strings.HasPrefix(proto, "HTTP/1.") && isDigit(proto[7]) {
		return 1, nil // a later HTTP/1.x is answered as HTTP/1.1 (RFC 9110 §6.2)
	}
	if len(proto) == 8 && strings.HasPrefix(proto, "HTTP/") && proto[6] == '.' && isDigit(proto[5]) && isDigit(proto[7]) {
		return 0, &statusError{505, "HTTP version " + proto[5:] + " is not supported; the proxy speaks HTTP/1.1"}
	}
	return 0, badRequest("malformed HTTP version %q", clip(proto))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// response is a response head.
type response struct {
	minor  int
	status int
	reason string
	header header
}

// readResponseHead reads an upstream server's response head.
func readResponseHead(br *bufio.Reader) (*response, error) {
	return readResponseHeadIn(br, nil)
}

// readResponseHeadIn is readResponseHead charging budget while it reads;
// a spent budget is errBusyResponse.
func readResponseHeadIn(br *bufio.Reader, budget *headBudget) (*response, error) {
	r := headReader{br: br, left: maxHeadBytes, lenient: true, budget: budget, busy: errBusyResponse}
	defer r.release()
	line, err := r.line()
	if err != nil {
		return nil, err
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, reason, _ := strings.Cut(rest, " ")
	minor, verr := parseVersion(proto)
	if verr != nil || len(code) != 3 || !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) || code[0] == '0' || hasCTL(reason) {
		return nil, syntaxErrorf("malformed status line %q", clip(line))
	}
	status, _ := strconv.Atoi(code)
	h, err := r.fields()
	if err != nil {
		return nil, err
	}
	return &response{minor: minor, status: status, reason: reason, header: h}, nil
}

// How a body is delimited.
type bodyKind uint8

const (
	noBody      bodyKind = iota
	fixedBody            // Content-Length bytes
	chunkedBody          // chunked transfer coding, then trailer fields
	closeBody            // until the connection closes (responses only)
)

type framing struct {
	kind   bodyKind
	length int64 // fixedBody only
}

// hasContent reports whether a body with framing f has bytes to copy.
func (f framing) hasContent() bool {
	return f.kind == chunkedBody || f.kind == closeBody || f.kind == fixedBody && f.length > 0
}

// contentLength returns the Content-Length of h, or -1 if it has none.
// Repeated fields and lists must agree.
func contentLength(h header) (int64, error) {
	n := int64(-1)
	var err error
	h.tokens("Content-Length", func(tok string) bool {
		v, perr := strconv.ParseInt(tok, 10, 64)
		if perr != nil || v < 0 || tok[0] == '+' || n >= 0 && v != n {
			err = fmt.Errorf("invalid Content-Length %q", clip(tok))
			return false
		}
		n = v
		return true
	})
	if err == nil && n < 0 && h.has("Content-Length") {
		err = errors.New("empty Content-Length")
	}
	return n, err
}

// isChunked reports whether the Transfer-Encoding fields of h are exactly
// "chunked"; present reports whether there are any.
func isChunked(h header) (chunked, present bool) {
	n := 0
	h.tokens("Transfer-Encoding", func(tok string) bool {
		n++
		chunked = strings.EqualFold(tok, "chunked")
		return true
	})
	return chunked && n == 1, h.has("Transfer-Encoding")
}

// requestFraming decides how a request body is delimited (RFC 9112 §6.3).
// Anything ambiguous is refused rather than guessed.
func requestFraming(req *request) (framing, error) {
	chunked, te := isChunked(req.header)
	n, err := contentLength(req.header)
	switch {
	case err != nil:
		return framing{}, badRequest("%s", err.Error())
	case te && n >= 0:
		return framing{}, badRequest("both Transfer-Encoding and Content-Length")
	case te && req.minor == 0:
		return framing{}, badRequest("Transfer-Encoding in an HTTP/1.0 request")
	case te && !chunked:
		return framing{}, &statusError{501, fmt.Sprintf("transfer coding %q is not supported; send chunked", clip(req.header.get("Transfer-Encoding")))}
	case te:
		return framing{kind: chunkedBody}, nil
	case n > 0:
		return framing{kind: fixedBody, length: n}, nil
	case n == 0:
		return framing{kind: fixedBody}, nil
	}
	return framing{}, nil
}

// responseFraming decides how a response body to method is delimited.
func responseFraming(resp *response, method string) (framing, error) {
	if method == "HEAD" || resp.status < 200 || resp.status == 204 || resp.status == 304 {
		return framing{}, nil
	}
	chunked, te := isChunked(resp.header)
	if te {
		if !chunked {
			return framing{}, fmt.Errorf("unsupported transfer coding %q", clip(resp.header.get("Transfer-Encoding")))
		}
		return framing{kind: chunkedBody}, nil // Content-Length, if any, is ignored
	}
	n, err := contentLength(resp.header)
	if err != nil {
		return framing{}, err
	}
	if n >= 0 {
		return framing{kind: fixedBody, length: n}, nil
	}
	return framing{kind: closeBody}, nil
}

// bodyReader reads one body's content from br, as framed.
type bodyReader struct {
	br      *bufio.Reader
	f       framing
	left    int64 // bytes left in the body (fixed) or the current chunk
	trailer header
	err     error // sticky: io.EOF at the end of the body
	// budget, if set, bounds the trailer as a head (headBudget); busy
	// is the error when it is spent (errBusy if nil).
	budget *headBudget
	busy   error
}

func newBodyReader(br *bufio.Reader, f framing) *bodyReader {
	b := &bodyReader{br: br, f: f, left: f.length}
	if !f.hasContent() {
		b.err = io.EOF
	}
	return b
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	switch {
	case b.f.kind == closeBody:
		n, err := b.br.Read(p)
		b.err = err
		return n, err
	case b.f.kind == chunkedBody && b.left == 0:
		if b.err = b.nextChunk(); b.err != nil {
			return 0, b.err
		}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the body is shorter than framed
	}
	if err == nil && b.left == 0 {
		if b.f.kind == fixedBody {
			err = io.EOF
		} else {
			err = b.chunkEnd()
		}
	}
	if err != nil {
		b.err = err
		if n > 0 {
			return n, nil // the error comes with the next call
		}
	}
	return n, err
}

// chunkEnd reads the CRLF that ends a chunk's data.
func (b *bodyReader) chunkEnd() error {
	c, err := b.br.ReadByte()
	if err == nil && c == '\r' {
		c, err = b.br.ReadByte()
	} else if err == nil {
		c = 0 // a bare LF is refused as well
	}
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	if err == nil && c != '\n' {
		return syntaxError("malformed chunked body: chunk data longer than its size")
	}
	return err
}

// nextChunk reads a chunk-size line; for the last chunk it reads the
// trailer fields and returns io.EOF.
func (b *bodyReader) nextChunk() error {
	r := headReader{br: b.br, left: maxChunkLine, crlf: true}
	line, err := r.line()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		if err == errHeadTooLarge {
			err = syntaxError("malformed chunked body: chunk-size line too long")
		}
		return err
	}
	if hasCTL(line) {
		return syntaxError("malformed chunked body: control character in a chunk-size line")
	}
	size, _, _ := strings.Cut(line, ";") // extensions are dropped
	size = strings.TrimRight(size, " \t")
	if len(size) == 0 || len(size) > 15 {
		return syntaxErrorf("malformed chunked body: chunk size %q", clip(size))
	}
	n, perr := strconv.ParseUint(size, 16, 64)
	if perr != nil || size[0] == '+' {
		return syntaxErrorf("malformed chunked body: chunk size %q", clip(size))
	}
	if n > 0 {
		b.left = int64(n)
		return nil
	}
	tr := headReader{br: b.br, left: maxHeadBytes, budget: b.budget, busy: b.busy}
	b.trailer, err = tr.fields()
	tr.release()
	if err != nil {
		return fmt.Errorf("read trailer: %w", err)
	}
	return io.EOF
}

// writeChunk writes p as one chunk.
func writeChunk(w *bufio.Writer, p []byte) {
	var hex [16]byte
	w.Write(strconv.AppendUint(hex[:0], uint64(len(p)), 16))
	w.WriteString("\r\n")
	w.Write(p)
	w.WriteString("\r\n")
}

// writeLastChunk ends a chunked body with the trailer fields that may
// cross the proxy.
func writeLastChunk(w *bufio.Writer, trailer header) {
	w.WriteString("0\r\n")
	trailer.endToEnd().write(w)
	w.WriteString("\r\n")
}

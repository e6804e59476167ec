package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"testing"
)

func TestReadRequestHead(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("\r\nGET http://a/b HTTP/1.0\nX-One:  1 \r\nx-two:\t2\r\nX-One: 3\r\n\r\nrest"))
	req, err := readRequestHead(br)
	if err != nil {
		t.Fatal(err)
	}
	want := header{{"X-One", "1"}, {"x-two", "2"}, {"X-One", "3"}}
	if req.method != "GET" || req.target != "http://a/b" || req.minor != 0 || len(req.header) != 3 {
		t.Fatalf("got %+v", req)
	}
	for i := range want {
		if req.header[i] != want[i] {
			t.Errorf("field %d = %v, want %v (order and spelling as sent)", i, req.header[i], want[i])
		}
	}
	if rest, _ := io.ReadAll(br); string(rest) != "rest" {
		t.Errorf("read past the head: %q left", rest)
	}
	if _, err := readRequestHead(bufio.NewReader(strings.NewReader(""))); err != io.EOF {
		t.Errorf("empty input: %v, want io.EOF", err)
	}
	if _, err := readRequestHead(bufio.NewReader(strings.NewReader("GET http://a/ HTTP/1.1\r\nX: 1\r\n"))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut head: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestHeaderTokensAndEndToEnd(t *testing.T) {
	h := header{
		{"Connection", "keep-alive, X-Hop"}, {"connection", "close"}, {"X-Hop", "1"}, {"x-hop", "2"},
		{"Keep-Alive", "300"}, {"TE", "trailers"}, {"Content-Length", "3"}, {"X-End", "e"}, {"Upgrade", "ws"},
	}
	if !h.hasToken("Connection", "CLOSE") || !h.hasToken("connection", "x-hop") || h.hasToken("Connection", "upgrade") {
		t.Error("hasToken does not read every Connection field case-insensitively")
	}
	if got := h.endToEnd(); len(got) != 1 || got[0] != (field{"X-End", "e"}) {
		t.Errorf("endToEnd = %v, want only X-End", got)
	}
}

func TestRequestFraming(t *testing.T) {
	for _, tc := range []struct {
		fields header
		minor  int
		want   framing
		status int
	}{
		{nil, 1, framing{}, 0},
		{header{{"Content-Length", "0"}}, 1, framing{kind: fixedBody}, 0},
		{header{{"Content-Length", "12"}, {"content-length", "12, 12"}}, 1, framing{kind: fixedBody, length: 12}, 0},
		{header{{"Transfer-Encoding", "Chunked"}}, 1, framing{kind: chunkedBody}, 0},
		{header{{"Content-Length", ""}}, 1, framing{}, 400},
		{header{{"Content-Length", "1"}, {"Content-Length", "2"}}, 1, framing{}, 400},
		{header{{"Content-Length", "99999999999999999999"}}, 1, framing{}, 400},
		{header{{"Transfer-Encoding", "chunked"}, {"Content-Length", "1"}}, 1, framing{}, 400},
		{header{{"Transfer-Encoding", "chunked"}}, 0, framing{}, 400},
		{header{{"Transfer-Encoding", "identity"}}, 1, framing{}, 501},
		{header{{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}, 1, framing{}, 501},
	} {
		got, err := requestFraming(&request{minor: tc.minor, header: tc.fields})
		var se *statusError
		switch {
		case tc.status == 0 && (err != nil || got != tc.want):
			t.Errorf("%v: %+v, %v; want %+v", tc.fields, got, err, tc.want)
		case tc.status != 0 && (!errors.As(err, &se) || se.status != tc.status):
			t.Errorf("%v: %v, want status %d", tc.fields, err, tc.status)
		}
	}
}

func TestResponseFraming(t *testing.T) {
	cl := header{{"Content-Length", "5"}}
	for _, tc := range []struct {
		method string
		status int
		fields header
		want   bodyKind
	}{
		{"HEAD", 200, cl, noBody},
		{"GET", 204, cl, noBody},
		{"GET", 304, cl, noBody},
		{"GET", 103, cl, noBody},
		{"GET", 200, cl, fixedBody},
		{"GET", 200, header{{"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}}, chunkedBody},
		{"GET", 200, nil, closeBody},
	} {
		got, err := responseFraming(&response{status: tc.status, header: tc.fields}, tc.method)
		if err != nil || got.kind != tc.want {
			t.Errorf("%s %d %v: %+v, %v; want kind %d", tc.method, tc.status, tc.fields, got, err, tc.want)
		}
	}
	if _, err := responseFraming(&response{status: 200, header: header{{"Transfer-Encoding", "gzip"}}}, "GET"); err == nil {
		t.Error("a response in an unknown transfer coding was accepted")
	}
}

func readChunked(in string) (string, header, error) {
	b := newBodyReader(bufio.NewReader(strings.NewReader(in)), framing{kind: chunkedBody})
	out, err := io.ReadAll(b)
	return string(out), b.trailer, err
}

func TestChunkedBody(t *testing.T) {
	got, tr, err := readChunked("3;a=b\r\nabc\r\n1 \r\nd\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\nNEXT")
	if err != nil || got != "abcd0123456789" || tr.get("X-Sum") != "1" {
		t.Fatalf("got %q %v %v", got, tr, err)
	}
	for _, in := range []string{
		"3\r\nabc\r\n",            // no last chunk
		"3\r\nab",                 // cut data
		"3\r\nabcd\r\n0\r\n\r\n",  // data longer than its size
		"x\r\nabc\r\n0\r\n\r\n",   // not hex
		"+3\r\nabc\r\n0\r\n\r\n",  // sign
		"\r\nabc\r\n0\r\n\r\n",    // empty size
		"1000000000000000\r\n",    // too large
		"0\r\nX: 1\r\n",           // cut trailer
		"0\r\n X: folded\r\n\r\n", // folded trailer
		strings.Repeat("0", 5000), // endless size line
	} {
		if got, _, err := readChunked(in); err == nil {
			t.Errorf("%.30q: read %q without an error", in, got)
		}
	}
}

func TestChunkedWriteRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	writeChunk(w, []byte("hello "))
	writeChunk(w, []byte("world"))
	writeLastChunk(w, header{{"X-Sum", "2"}, {"Connection", "close"}})
	w.Flush()
	got, tr, err := readChunked(buf.String())
	if err != nil || got != "hello world" || tr.get("X-Sum") != "2" || tr.has("Connection") {
		t.Fatalf("round trip: %q %v %v (hop-by-hop trailer fields must not cross)", got, tr, err)
	}
}

// FuzzRequestHead checks the proxy's request parser against net/http's:
// whatever the proxy accepts, net/http reads as the same request with the
// same body framing. A difference here is the kind that lets one request
// hide inside another on its way to the origin.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
		"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\n\r\n",
		"GET http://a/ HTTP/1.0\nX:\t v\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		req, err := readRequestHead(bufio.NewReader(strings.NewReader(in)))
		if err != nil {
			return
		}
		fr, err := requestFraming(req)
		if err != nil {
			return
		}
		ref, err := http.ReadRequest(bufio.NewReader(strings.NewReader(in)))
		if err != nil {
			// net/http is stricter about some targets and field names; a
			// request it refuses is no framing disagreement.
			return
		}
		if ref.Method != req.method || ref.RequestURI != req.target || min(ref.ProtoMinor, 1) != req.minor { // HTTP/1.x>1 is read as 1.1
			t.Fatalf("request line: proxy %q %q 1.%d, net/http %q %q 1.%d", req.method, req.target, req.minor, ref.Method, ref.RequestURI, ref.ProtoMinor)
		}
		chunked := len(ref.TransferEncoding) > 0
		switch fr.kind {
		case chunkedBody:
			if !chunked {
				t.Fatalf("proxy reads a chunked body, net/http %v/%d", ref.TransferEncoding, ref.ContentLength)
			}
		case fixedBody:
			if chunked || ref.ContentLength != fr.length {
				t.Fatalf("proxy reads %d bytes, net/http %v/%d", fr.length, ref.TransferEncoding, ref.ContentLength)
			}
		case noBody:
			if chunked || ref.ContentLength > 0 {
				t.Fatalf("proxy reads no body, net/http %v/%d", ref.TransferEncoding, ref.ContentLength)
			}
		}
		for _, fl := range req.header {
			if !strings.EqualFold(fl.name, "Host") && !slices.Contains(ref.Header.Values(fl.name), fl.value) &&
				!strings.EqualFold(fl.name, "Transfer-Encoding") && !strings.EqualFold(fl.name, "Content-Length") {
				t.Fatalf("field %q: %q reaches the proxy but not net/http", fl.name, fl.value)
			}
		}
	})
}

// FuzzChunkedBody checks the chunked decoder against net/http's: a body
// the proxy decodes, net/http decodes to the same bytes.
func FuzzChunkedBody(f *testing.F) {
	for _, s := range []string{"3\r\nabc\r\n0\r\n\r\n", "1;x=y\r\na\r\n0\r\nT: v\r\n\r\n", "a\r\nabcdefghij\r\n0\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, _, err := readChunked(in)
		if err != nil {
			return
		}
		ref, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(in)))
		if err != nil || string(ref) != got {
			t.Fatalf("proxy decodes %q, net/http %q (%v)", got, ref, err)
		}
	})
}

// Folded response lines are joined in linear time and count toward the
// field limit (each used to copy the whole value: quadratic in a head).
func TestFoldedResponseFields(t *testing.T) {
	head := func(n int) string {
		return "HTTP/1.1 200 OK\r\nX-Fold: a\r\n" + strings.Repeat(" b\r\n \r\n", n/2) + "Content-Length: 0\r\n\r\n"
	}
	resp, err := readResponseHead(bufio.NewReader(strings.NewReader(head(4000))))
	if err != nil {
		t.Fatal(err)
	}
	if want := "a" + strings.Repeat(" b", 2000); resp.header.get("X-Fold") != want || resp.header.get("Content-Length") != "0" {
		t.Fatalf("folded value %.40q..., fields %d", resp.header.get("X-Fold"), len(resp.header))
	}
	if _, err := readResponseHead(bufio.NewReader(strings.NewReader(head(2 * maxFields)))); err != errHeadTooLarge {
		t.Fatalf("%d folded lines: %v, want the field limit", 2*maxFields, err)
	}
	if _, err := readRequestHead(bufio.NewReader(strings.NewReader("GET http://a/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n"))); err == nil {
		t.Fatal("a folded request field was accepted")
	}
}

// Response heads and trailers are charged to the head budget as request
// heads are: with the budget spent, a head or trailer beyond its first
// freeHeadBytes fails with errBusyResponse, smaller ones are read, and a
// read gives back what it took.
func TestResponseHeadsChargeTheBudget(t *testing.T) {
	var b headBudget
	b.used.Store(maxHeadBytesInFlight)
	large := "X-Big: " + strings.Repeat("a", freeHeadBytes) + "\r\n"
	if _, err := readResponseHeadIn(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\n"+large+"\r\n")), &b); err != errBusyResponse {
		t.Fatalf("large response head with the budget spent: %v, want errBusyResponse", err)
	}
	if resp, err := readResponseHeadIn(bufio.NewReader(strings.NewReader("HTTP/1.1 204 No Content\r\nX: 1\r\n\r\n")), &b); err != nil || resp.status != 204 {
		t.Fatalf("small response head with the budget spent: %+v, %v", resp, err)
	}
	body := newBodyReader(bufio.NewReader(strings.NewReader("1\r\nx\r\n0\r\n"+large+"\r\n")), framing{kind: chunkedBody})
	body.budget, body.busy = &b, errBusyResponse
	if _, err := io.ReadAll(body); !errors.Is(err, errBusyResponse) {
		t.Fatalf("large response trailer with the budget spent: %v, want errBusyResponse", err)
	}
	if got := b.used.Load(); got != maxHeadBytesInFlight {
		t.Fatalf("budget after the reads: %d used, want %d", got, maxHeadBytesInFlight)
	}
	b.used.Store(0)
	if _, err := readResponseHeadIn(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\n"+large+"Content-Length: 0\r\n\r\n")), &b); err != nil {
		t.Fatalf("large response head with room in the budget: %v", err)
	}
	if got := b.used.Load(); got != 0 {
		t.Fatalf("budget after a large head was read: %d used, want 0", got)
	}
}

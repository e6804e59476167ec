package nsexec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The control packets are encoded by hand, not with encoding/json: JSON's
// reflection builds its encoders and decoders on first use, in every
// process, and the init stage decoded the policy on the critical path of
// every start (about 0.2 ms, and as much again in the supervisor).
//
// A packet is a sequence of fields in the fixed order of message.fields:
// strings and lists are a uvarint length and the bytes or elements, ints
// are varints, booleans one byte. Both ends are always the same binary, so
// there is no versioning. TestWireRoundTrip fills every field by reflection
// and fails if one is not carried.

var errTruncated = errors.New("truncated or malformed control message")

type encoder struct{ b []byte }

func (e *encoder) int(v int64)  { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) uint(v int)   { e.b = binary.AppendUvarint(e.b, uint64(v)) }
func (e *encoder) str(s string) { e.uint(len(s)); e.b = append(e.b, s...) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) strs(l []string) {
	e.uint(len(l))
	for _, s := range l {
		e.str(s)
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

// minimal reports whether the n-byte varint at the start of b has no
// redundant trailing zero group, so that every value has one encoding.
func minimal(b []byte, n int) bool { return n == 1 || b[n-1] != 0 }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || !minimal(d.b, n) {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads what binary.AppendVarint wrote: a zig-zag encoded uvarint.
func (d *decoder) int() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// uint reads a length, which must fit in what is left of the packet (every
// element takes at least one byte), so a corrupt length cannot make the
// decoder allocate more than a small multiple of the packet's size (a list
// element is a 16- to 32-byte header).
func (d *decoder) uint() int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.b)) {
		d.fail(fmt.Errorf("control message: length %d exceeds the %d bytes left", v, len(d.b)))
		return 0
	}
	return int(v)
}

func (d *decoder) str() string {
	n := d.uint()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) bool() bool {
	if len(d.b) == 0 {
		d.fail(errTruncated)
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.fail(fmt.Errorf("control message: bad boolean %d", v))
	}
	return v == 1
}

// strs returns nil for an empty list, as the encoder's nil and empty
// lists mean the same.
func (d *decoder) strs() []string {
	n := d.uint()
	if d.err != nil || n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.str()
	}
	return l
}

// codec is one direction of the wire format: the encoder writes each field
// it is handed, the decoder overwrites it. message.fields lists the fields
// once for both, so the two cannot drift apart.
type codec interface {
	str(*string)
	strs(*[]string)
	bool(*bool)
	int(*int)
	int64(*int64)
	// count carries a list's length: the encoder writes n and returns it,
	// the decoder returns what it read.
	count(n int) int
}

type encoding struct{ *encoder }

func (e encoding) str(s *string)    { e.encoder.str(*s) }
func (e encoding) strs(l *[]string) { e.encoder.strs(*l) }
func (e encoding) bool(b *bool)     { e.encoder.bool(*b) }
func (e encoding) int(v *int)       { e.encoder.int(int64(*v)) }
func (e encoding) int64(v *int64)   { e.encoder.int(*v) }
func (e encoding) count(n int) int  { e.encoder.uint(n); return n }

type decoding struct{ *decoder }

func (d decoding) str(s *string)    { *s = d.decoder.str() }
func (d decoding) strs(l *[]string) { *l = d.decoder.strs() }
func (d decoding) bool(b *bool)     { *b = d.decoder.bool() }
func (d decoding) int(v *int)       { *v = int(d.decoder.int()) }
func (d decoding) int64(v *int64)   { *v = d.decoder.int() }
func (d decoding) count(int) int    { return d.decoder.uint() }

func (m *message) fields(c codec) {
	c.str((*string)(&m.Type))
	hasOptions := m.Options != nil
	c.bool(&hasOptions)
	if hasOptions {
		if m.Options == nil {
			m.Options = &Options{}
		}
		m.Options.fields(c)
	}
	c.int(&m.Listeners)
	c.str(&m.Err)
	c.int(&m.Signal)
	c.int(&m.Code)
	c.int(&m.Seq)
	c.int(&m.Port)
	c.bool(&m.Group)
	c.bool(&m.Continue)
	// Decoding starts from a zero message: only then does a count differ
	// from the list's length, and only then is the list (re)made. Encoding
	// writes nothing back.
	if n := c.count(len(m.Stages)); n != len(m.Stages) {
		m.Stages = make([]Stage, n)
	}
	for i := range m.Stages {
		c.str(&m.Stages[i].Name)
		c.int64(&m.Stages[i].Mono)
	}
	c.strs(&m.Created)
	c.strs(&m.Paths)
	if n := c.count(len(m.FDs)); n != len(m.FDs) {
		m.FDs = make([]int, n)
	}
	for i := range m.FDs {
		c.int(&m.FDs[i])
	}
}

func (o *Options) fields(c codec) {
	c.str(&o.Path)
	c.strs(&o.Args)
	c.strs(&o.Env)
	c.str(&o.Dir)
	c.bool(&o.DirIsOwn)
	f := &o.FS
	c.bool(&f.DefaultDenyRead)
	c.strs(&f.ReadOnly)
	c.strs(&f.Sockets)
	if n := c.count(len(f.Links)); n != len(f.Links) {
		f.Links = make([][2]string, n)
	}
	for i := range f.Links {
		c.str(&f.Links[i][0])
		c.str(&f.Links[i][1])
	}
	c.strs(&f.Writable)
	c.bool(&f.HostTmp)
	c.strs(&f.Protected)
	c.strs(&f.Guarded)
	c.strs(&f.DenyWritePatterns)
	c.strs(&f.Created)
	c.strs(&f.RecordNames)
	c.strs(&f.ProtectedPatterns)
	c.strs(&f.Removable)
	c.strs(&f.Held)
	c.strs(&f.Grants)
	c.strs(&f.GrantPatterns)
	c.bool(&f.GitDirs)
	c.bool(&f.AllowGitConfig)
	c.strs(&f.Masked)
	c.strs(&f.NoExec)
	c.bool(&f.NoExecFollows)
	c.strs(&o.Listeners)
	c.bool(&o.Unix.AllowAll)
	c.strs(&o.Unix.Allow)
	c.bool(&o.Unix.Abstract)
	c.bool(&o.HostNetwork)
	c.bool(&o.TTY)
	c.bool(&o.Foreground)
	c.int(&o.TTYFD)
	c.int(&o.PTY)
	c.bool(&o.JobControl)
	c.bool(&o.NoLandlock)
	c.bool(&o.Debug)
	c.bool(&o.Monitor)
	c.bool(&o.Timeline)
	c.bool(&o.HoldStart)
	c.bool(&o.FilesFollow)
}

func encodeMessage(m message) []byte {
	e := &encoder{b: make([]byte, 0, 256)}
	m.fields(encoding{e})
	return e.b
}

func decodeMessage(b []byte) (message, error) {
	d := &decoder{b: b}
	var m message
	m.fields(decoding{d})
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("control message: %d bytes of trailing data", len(d.b))
	}
	if d.err != nil {
		return message{}, d.err
	}
	return m, nil
}

// maxPacket bounds the bytes of a message that one control packet carries.
// A SOCK_SEQPACKET send larger than the socket's send buffer
// (net.core.wmem_default, 208 KiB on most systems) fails with EMSGSIZE,
// and the supervisor reads packets of up to 64 KiB: a policy with
// thousands of created files (FSPolicy.Created, from the record of
// earlier runs) could not be sent at all ("send policy to init stage:
// message too long"), and a msgExit naming more than ~1,400 was cut,
// the record of that run lost. A larger message goes as typePart
// packets (packets, parts).
const maxPacket = 32 << 10

// packets returns the packets that carry the encoded message b: b itself
// when it fits in one, else typePart packets of at most maxPacket of its
// bytes each, all but the last with Group set (more follow), each with the
// message's size in Code.
func packets(b []byte) [][]byte {
	if len(b) <= maxPacket {
		return [][]byte{b}
	}
	var out [][]byte
	total := len(b)
	for len(b) > 0 {
		n := min(len(b), maxPacket)
		out = append(out, encodeMessage(message{Type: typePart, Err: string(b[:n]), Group: n < len(b), Code: total}))
		b = b[n:]
	}
	return out
}

// parts reassembles a message sent as typePart packets. Other packets may
// come between them (PID 1's goroutines each send their own).
type parts struct{ b []byte }

// add takes the decoded packet m: a message of its own is returned as it
// is (done); a typePart packet is kept, and the last one returns the
// message they carry.
func (p *parts) add(m message) (whole message, done bool, err error) {
	if m.Type != typePart {
		return m, true, nil
	}
	if len(p.b)+len(m.Err) > maxMessage {
		p.b = nil
		return message{}, false, fmt.Errorf("control message exceeds %d bytes", maxMessage)
	}
	if p.b == nil && m.Code > 0 && m.Code <= maxMessage {
		p.b = make([]byte, 0, m.Code)
	}
	p.b = append(p.b, m.Err...)
	if m.Group {
		return message{}, false, nil
	}
	b := p.b
	p.b = nil
	whole, err = decodeMessage(b)
	if err == nil && whole.Type == typePart {
		err = errors.New("control message: a part inside a part")
	}
	return whole, err == nil, err
}

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
// A packet is a sequence of fields in the fixed order of encodeMessage:
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

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 || !minimal(d.b, n) {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// uint reads a length, which must fit in what is left of the packet (every
// element takes at least one byte), so a corrupt length cannot make the
// decoder allocate more than the packet's size.
func (d *decoder) uint() int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || !minimal(d.b, n) {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
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

func encodeMessage(m message) []byte {
	e := &encoder{b: make([]byte, 0, 256)}
	e.str(string(m.Type))
	e.bool(m.Options != nil)
	if o := m.Options; o != nil {
		e.str(o.Path)
		e.strs(o.Args)
		e.strs(o.Env)
		e.str(o.Dir)
		f := &o.FS
		e.bool(f.DefaultDenyRead)
		e.strs(f.ReadOnly)
		e.uint(len(f.Links))
		for _, l := range f.Links {
			e.str(l[0])
			e.str(l[1])
		}
		e.strs(f.Writable)
		e.bool(f.HostTmp)
		e.strs(f.Protected)
		e.strs(f.Guarded)
		e.strs(f.DenyWritePatterns)
		e.strs(f.Masked)
		e.strs(f.NoExec)
		e.strs(o.Listeners)
		e.bool(o.Unix.AllowAll)
		e.strs(o.Unix.Allow)
		e.bool(o.Unix.Abstract)
		e.bool(o.HostNetwork)
		e.bool(o.TTY)
		e.bool(o.NoLandlock)
		e.bool(o.Debug)
		e.bool(o.Monitor)
		e.bool(o.Timeline)
	}
	e.int(int64(m.Listeners))
	e.str(m.Err)
	e.int(int64(m.Signal))
	e.int(int64(m.Code))
	e.int(int64(m.Seq))
	e.int(int64(m.Port))
	e.uint(len(m.Stages))
	for _, s := range m.Stages {
		e.str(s.Name)
		e.int(s.Mono)
	}
	return e.b
}

func decodeMessage(b []byte) (message, error) {
	d := &decoder{b: b}
	var m message
	m.Type = msgType(d.str())
	if d.bool() {
		o := &Options{}
		o.Path = d.str()
		o.Args = d.strs()
		o.Env = d.strs()
		o.Dir = d.str()
		f := &o.FS
		f.DefaultDenyRead = d.bool()
		f.ReadOnly = d.strs()
		if n := d.uint(); n > 0 && d.err == nil {
			f.Links = make([][2]string, n)
			for i := range f.Links {
				f.Links[i] = [2]string{d.str(), d.str()}
			}
		}
		f.Writable = d.strs()
		f.HostTmp = d.bool()
		f.Protected = d.strs()
		f.Guarded = d.strs()
		f.DenyWritePatterns = d.strs()
		f.Masked = d.strs()
		f.NoExec = d.strs()
		o.Listeners = d.strs()
		o.Unix.AllowAll = d.bool()
		o.Unix.Allow = d.strs()
		o.Unix.Abstract = d.bool()
		o.HostNetwork = d.bool()
		o.TTY = d.bool()
		o.NoLandlock = d.bool()
		o.Debug = d.bool()
		o.Monitor = d.bool()
		o.Timeline = d.bool()
		m.Options = o
	}
	m.Listeners = int(d.int())
	m.Err = d.str()
	m.Signal = int(d.int())
	m.Code = int(d.int())
	m.Seq = int(d.int())
	m.Port = int(d.int())
	if n := d.uint(); n > 0 && d.err == nil {
		m.Stages = make([]Stage, n)
		for i := range m.Stages {
			m.Stages[i] = Stage{Name: d.str(), Mono: d.int()}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("control message: %d bytes of trailing data", len(d.b))
	}
	if d.err != nil {
		return message{}, d.err
	}
	return m, nil
}

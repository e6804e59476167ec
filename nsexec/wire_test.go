package nsexec

import (
	"fmt"
	"os"
	"reflect"
	"testing"
)

// fill sets every settable field reachable from v to a distinct non-zero
// value, so that a field the codec forgets cannot round-trip by luck.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d/ü", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n) * -1000003) // negative and multi-byte
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), n)
		}
	case reflect.Pointer:
		if v.Type() == reflect.TypeFor[*os.File]() {
			return // stdio is inherited, never sent
		}
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n)
		v.Set(p)
	case reflect.Func:
		return // the supervisor's own (Options.NoExecLater), never sent
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

func TestWireRoundTrip(t *testing.T) {
	var full message
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	for _, m := range []message{
		full,
		{Type: typeOptions, Options: &Options{Path: "true", Args: []string{"true"}}},
		{Type: typeExit, Code: 130},
		{Type: typeSignal, Signal: 15},
		{},
	} {
		got, err := decodeMessage(encodeMessage(m))
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip changed the message:\n got %+v\nwant %+v", got, m)
			if got.Options != nil && m.Options != nil {
				t.Errorf("options:\n got %+v\nwant %+v", *got.Options, *m.Options)
			}
		}
	}
	// Every proper prefix is an error, never a shorter valid message.
	b := encodeMessage(full)
	for i := 0; i < len(b); i++ {
		if _, err := decodeMessage(b[:i]); err == nil {
			t.Fatalf("a %d-byte prefix of a %d-byte message decoded without error", i, len(b))
		}
	}
	if _, err := decodeMessage(append(b, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
}

// The decoder faces packets from the other end of the control socket; it
// must reject garbage without panicking or allocating beyond its input.
func FuzzDecodeMessage(f *testing.F) {
	var full message
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	f.Add(encodeMessage(full))
	f.Add(encodeMessage(message{Type: typeReady, Listeners: 2}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes: one encoding per
		// message.
		if again := encodeMessage(m); string(again) != string(b) {
			t.Errorf("re-encoding %x gave %x", b, again)
		}
	})
}

// A message larger than maxPacket goes as typePart packets, each within
// maxPacket and the supervisor's 64 KiB read, and comes back whole, also
// with other packets between its parts; more than maxMessage is refused.
func TestWirePackets(t *testing.T) {
	var created []string
	for i := range 5000 {
		created = append(created, fmt.Sprintf("2049 %d /home/u/proj/node_modules/p%d/fixtures/key.pem", i, i))
	}
	want := message{Type: typeExit, Code: 3, Created: created}
	pks := packets(encodeMessage(want))
	if len(pks) < 2 {
		t.Fatalf("%d packets for a large message", len(pks))
	}
	var pt parts
	var got []message
	for i, b := range pks {
		if len(b) > maxPacket+64 {
			t.Fatalf("packet %d: %d bytes", i, len(b))
		}
		m, err := decodeMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []message{m, {Type: typeStopped, Signal: i}} {
			if w, done, err := pt.add(m); err != nil {
				t.Fatal(err)
			} else if done {
				got = append(got, w)
			}
		}
	}
	if len(got) != len(pks)+1 || got[len(pks)-1].Type != typeExit {
		t.Fatalf("got %d messages, the exit at %d", len(got), len(pks)-1)
	}
	if !reflect.DeepEqual(got[len(pks)-1], want) {
		t.Error("the reassembled message differs")
	}
	if small := packets(encodeMessage(message{Type: typeFrozen})); len(small) != 1 {
		t.Errorf("a small message in %d packets", len(small))
	}
	big := string(make([]byte, maxPacket))
	pt = parts{}
	var err error
	for i := 0; err == nil && i <= maxMessage/maxPacket; i++ {
		_, _, err = pt.add(message{Type: typePart, Err: big, Group: true})
	}
	if err == nil {
		t.Error("parts past maxMessage accepted")
	}
}

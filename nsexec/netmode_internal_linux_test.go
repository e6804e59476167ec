package nsexec

import (
	"errors"
	"io"
	"testing"

	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
)

// The init stage's network mode: the first packet on the control socket,
// which must be exactly one of the two mode bytes; a closed socket is
// io.EOF (the supervisor discarded the init stage), anything else an error
// that ends the set-up.
func TestNetworkMode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		packet  string // "" sends nothing and closes the supervisor's end
		want    bool
		wantErr string // "EOF", "error" or ""
	}{
		{name: "netns", packet: string(rune(spawn.ModeNetNS)), want: true},
		{name: "host", packet: string(rune(spawn.ModeHost))},
		{name: "closed", wantErr: "EOF"},
		{name: "unknown byte", packet: "x", wantErr: "error"},
		{name: "long packet", packet: "nn", wantErr: "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[1])
			if tc.packet != "" {
				if _, err := unix.Write(fds[0], []byte(tc.packet)); err != nil {
					t.Fatal(err)
				}
				// A policy packet behind it stays unread.
				if _, err := unix.Write(fds[0], []byte("policy")); err != nil {
					t.Fatal(err)
				}
			} else {
				unix.Close(fds[0])
				fds[0] = -1
			}
			if fds[0] >= 0 {
				defer unix.Close(fds[0])
			}
			got, err := networkMode(fds[1])
			switch tc.wantErr {
			case "EOF":
				if !errors.Is(err, io.EOF) {
					t.Fatalf("networkMode = %v, %v; want io.EOF", got, err)
				}
				return
			case "error":
				if err == nil || errors.Is(err, io.EOF) {
					t.Fatalf("networkMode = %v, %v; want an error", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("networkMode = %v, %v; want %v", got, err, tc.want)
			}
			if tc.packet != "" {
				b := make([]byte, 16)
				n, err := unix.Read(fds[1], b)
				if err != nil || string(b[:n]) != "policy" {
					t.Errorf("the packet after the mode reads %q, %v: want the policy's, untouched", b[:n], err)
				}
			}
		})
	}
}

// Init does nothing but exit unless it runs with the arguments fence
// starts it with (from the entry or from spawn.Start) as PID 1: argv[0]
// "fence-init" alone, which anyone may set, is not enough.
func TestOwnStage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pid  int
		ok   bool
	}{
		{[]string{spawn.InitArg0, spawn.AskNetArg}, 1, true},
		{[]string{spawn.InitArg0, spawn.StartArg}, 1, true},
		{[]string{spawn.InitArg0}, 1, false},
		{[]string{spawn.InitArg0, "net"}, 1, false},
		{[]string{spawn.InitArg0, "--", "true"}, 1, false},
		{[]string{spawn.InitArg0, spawn.StartArg}, 2, false},
		{[]string{spawn.InitArg0, spawn.AskNetArg}, 4242, false},
	} {
		err := ownStage(tc.args, tc.pid)
		if (err == nil) != tc.ok {
			t.Errorf("ownStage(%q, pid %d) = %v, want ok %v", tc.args, tc.pid, err, tc.ok)
		}
	}
}

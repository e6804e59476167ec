package nsexec

import (
	"errors"
	"io"
	"testing"

	"github.com/nsfence/fence/nsexec/spawn"
	"golang.org/x/sys/unix"
)

// The init stage's network mode: from argv, or, for one that fence's entry
// point spawned (spawn.AskNetArg), from the first packet on the control
// socket, which must be exactly one of the two mode bytes; a closed socket
// is io.EOF (the supervisor discarded the init stage), anything else an
// error that ends the set-up.
func TestNetworkMode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		packet  string // "" sends nothing and closes the supervisor's end
		want    bool
		wantErr string // "EOF", "error" or ""
	}{
		{name: "argv net", args: []string{spawn.InitArg0, spawn.NetArg}, want: true},
		{name: "argv host", args: []string{spawn.InitArg0}},
		{name: "ask netns", args: []string{spawn.InitArg0, spawn.AskNetArg}, packet: string(rune(spawn.ModeNetNS)), want: true},
		{name: "ask host", args: []string{spawn.InitArg0, spawn.AskNetArg}, packet: string(rune(spawn.ModeHost))},
		{name: "ask closed", args: []string{spawn.InitArg0, spawn.AskNetArg}, wantErr: "EOF"},
		{name: "ask unknown byte", args: []string{spawn.InitArg0, spawn.AskNetArg}, packet: "x", wantErr: "error"},
		{name: "ask long packet", args: []string{spawn.InitArg0, spawn.AskNetArg}, packet: "nn", wantErr: "error"},
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
			} else if tc.args[len(tc.args)-1] == spawn.AskNetArg {
				unix.Close(fds[0])
				fds[0] = -1
			}
			if fds[0] >= 0 {
				defer unix.Close(fds[0])
			}
			got, err := networkMode(tc.args, fds[1])
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

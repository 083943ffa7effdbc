package zmtp

import (
	"bytes"
	"errors"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 300)
	tests := []struct {
		name   string
		frames [][]byte
	}{
		{"one empty frame", [][]byte{{}}},
		{"topic and body", [][]byte{[]byte("AAPL"), []byte("body")}},
		{"255-byte body is short", [][]byte{[]byte("T"), long[:255]}},
		{"256-byte body is long", [][]byte{[]byte("T"), long[:256]}},
		{"three frames", [][]byte{[]byte("T"), long, []byte("tail")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b []byte
			for i, f := range tt.frames {
				var flags byte
				if i < len(tt.frames)-1 {
					flags = flagMore
				}
				b = appendFrame(b, flags, f)
			}
			// Every strict prefix is incomplete, with a need beyond it.
			for cut := range len(b) {
				_, n, need, err := parseMessage(b[:cut], 1<<20, 16)
				if err != nil || n != 0 || need <= cut {
					t.Fatalf("prefix %d/%d: n=%d need=%d err=%v", cut, len(b), n, need, err)
				}
			}
			m, n, _, err := parseMessage(append(b, 0xee), 1<<20, 16)
			if err != nil || n != len(b) {
				t.Fatalf("parse: n=%d of %d, err %v", n, len(b), err)
			}
			if m.frames != len(tt.frames) || !bytes.Equal(m.first, tt.frames[0]) {
				t.Fatalf("got %d frames, first %q", m.frames, m.first)
			}
			if len(tt.frames) > 1 && !bytes.Equal(m.second, tt.frames[1]) {
				t.Fatalf("second frame %q", m.second)
			}
		})
	}
}

func TestOversizedFramesAreRefusedBeforeTheyArrive(t *testing.T) {
	// A long header declaring 2^62 bytes: refused from the 9 header bytes.
	hdr := []byte{flagLong, 0x40, 0, 0, 0, 0, 0, 0, 0}
	if _, _, _, err := parseMessage(hdr, 1<<20, 16); !errors.Is(err, ErrFrameTooLong) {
		t.Fatalf("err = %v, want ErrFrameTooLong", err)
	}
	// The limit applies to the whole message, not only to each frame.
	var b []byte
	for range 5 {
		b = appendFrame(b, flagMore, make([]byte, 300))
	}
	if _, _, _, err := parseMessage(b, 1000, 16); !errors.Is(err, ErrFrameTooLong) {
		t.Fatalf("err = %v, want ErrFrameTooLong for 1500 bytes over 5 frames", err)
	}
}

func TestCommands(t *testing.T) {
	b := appendCommand(nil, "PING", []byte{0, 10, 'c', 't', 'x'})
	m, n, _, err := parseMessage(b, 1024, 16)
	if err != nil || n != len(b) || !m.command {
		t.Fatalf("parse: %+v n=%d err=%v", m, n, err)
	}
	name, data, err := parseCommand(m.first)
	if err != nil || name != "PING" || string(data[2:]) != "ctx" {
		t.Fatalf("command %q %q %v", name, data, err)
	}
	for _, bad := range [][]byte{{}, {5, 'a'}} {
		if _, _, err := parseCommand(bad); !errors.Is(err, ErrProtocol) {
			t.Fatalf("parseCommand(%q) = %v", bad, err)
		}
	}
	// A command may not sit inside a multipart message.
	b = appendFrame(nil, flagMore, []byte("T"))
	b = appendCommand(b, "PING", nil)
	if _, _, _, err := parseMessage(b, 1024, 16); !errors.Is(err, ErrProtocol) {
		t.Fatalf("err = %v", err)
	}
}

// Frames a peer declares cost it nothing to send: a message has a bound on
// its frames, not only on its bytes, and reserved flag bits or a command
// that claims more frames are protocol errors.
func TestMalformedFramingIsAProtocolError(t *testing.T) {
	var endless []byte
	for range 17 {
		endless = appendFrame(endless, flagMore, nil) // empty frames, MORE set
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"17 empty frames", endless},
		{"reserved flag bit on a data frame", []byte{0x08, 1, 'x'}},
		{"reserved flag bit, header incomplete", []byte{0x80}},
		{"reserved flag bit on a command", []byte{0x24, 1, 0}},
		{"a command with MORE", append([]byte{flagCommand | flagMore, 5, 4}, "PING"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := parseMessage(tt.b, 4096, 16); !errors.Is(err, ErrProtocol) {
				t.Fatalf("err = %v, want ErrProtocol", err)
			}
		})
	}
	// Sixteen frames are fine.
	if _, n, _, err := parseMessage(append(endless[:15*2], 0, 0), 4096, 16); err != nil || n != 32 {
		t.Fatalf("16 frames: n=%d err=%v", n, err)
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add(appendFrame(appendFrame(nil, flagMore, []byte("AAPL")), 0, []byte("body")))
	f.Add(appendCommand(nil, "SUBSCRIBE", []byte("A")))
	f.Add([]byte{flagLong, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			m, n, need, err := parseMessage(b, 4096, 16)
			if err != nil {
				return
			}
			if n == 0 {
				if need <= len(b) {
					t.Fatalf("incomplete with need %d ≤ %d", need, len(b))
				}
				return
			}
			if n > len(b) || m.size > 4096 {
				t.Fatalf("n=%d of %d, size %d", n, len(b), m.size)
			}
			if m.command {
				parseCommand(m.first)
			}
			b = b[n:]
		}
	})
}

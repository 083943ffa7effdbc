package zmtp

import (
	"bytes"
	"errors"
	"io"
	"net"
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

// chunkConn serves a stream in reads of the sizes chunks gives, cycling.
type chunkConn struct {
	net.Conn
	data   []byte
	chunks []byte
	i      int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if len(c.chunks) > 0 {
		n = min(n, int(c.chunks[c.i%len(c.chunks)])+1)
		c.i++
	}
	n = copy(p, c.data[:min(n, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

// A frameReader, whatever sizes the reads come in and whatever its buffer
// starts at, finds in a stream exactly the messages parseMessage finds in
// it whole, and fails where it fails; its buffer never grows beyond the
// bound. Swapping buffers between messages (as a binding Sub does) changes
// nothing.
func FuzzFrameReader(f *testing.F) {
	f.Add(appendFrame(appendFrame(nil, flagMore, []byte("AAPL")), 0, []byte("body")), []byte{0, 3}, uint8(16), false)
	f.Add(appendCommand(nil, "PING", []byte{0, 1}), []byte{}, uint8(1), true)
	f.Add(bytes.Repeat([]byte{0, 0}, 100), []byte{1}, uint8(2), true)
	f.Fuzz(func(t *testing.T, stream, chunks []byte, size uint8, swap bool) {
		const maxBody, maxFrames = 4096, 16
		var want []message
		wantErr := false
		for b := stream; len(b) > 0; {
			m, n, _, err := parseMessage(b, maxBody, maxFrames)
			if err != nil {
				wantErr = true
				break
			}
			if n == 0 {
				break
			}
			want = append(want, message{command: m.command, frames: m.frames, size: m.size,
				first: bytes.Clone(m.first), second: bytes.Clone(m.second)})
			b = b[n:]
		}
		fr := newFrameReader(int(size)+1, maxBody, maxFrames)
		c := &chunkConn{data: stream, chunks: chunks}
		var got []message
		for {
			m, _, ok, err := fr.next()
			if err != nil {
				if !wantErr {
					t.Fatalf("error %v, parseMessage had none", err)
				}
				break
			}
			if ok {
				got = append(got, message{command: m.command, frames: m.frames, size: m.size,
					first: bytes.Clone(m.first), second: bytes.Clone(m.second)})
				if swap {
					fr.swap(make([]byte, max(int(size)+1, fr.pending())))
				}
				continue
			}
			if len(fr.buf) > max(int(size)+1, fr.bound()) {
				t.Fatalf("buffer of %d bytes, bound %d", len(fr.buf), fr.bound())
			}
			if _, err := fr.fill(c); err != nil {
				break
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d messages, parseMessage found %d", len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.command != w.command || g.frames != w.frames || g.size != w.size || !bytes.Equal(g.first, w.first) || !bytes.Equal(g.second, w.second) {
				t.Fatalf("message %d: %+v, want %+v", i, g, w)
			}
		}
	})
}

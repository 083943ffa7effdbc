package zmtp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
)

// What libzmq 4.3.4 (Debian's libzmq5, through python3-zmq 24.0.1) sends
// when it connects as a SUB or binds as a PUB and meets a ZMTP 3.0 peer:
// its greeting (version 3.1, the padding holding its ZMTP 1.0 identity
// length) and its READY, captured from the wire.
const (
	libzmqSub = "\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x01NULL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03SUB"
	libzmqPub = "\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x01NULL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03PUB"
	// And as a REQ, a DEALER (both with an empty Identity) and a REP.
	libzmqReq = "\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x01NULL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x04\x26\x05READY\x0bSocket-Type\x00\x00\x00\x03REQ\x08Identity\x00\x00\x00\x00"
	libzmqDealer = "\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x01NULL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x04\x29\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00"
	libzmqRep = "\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x01NULL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REP"
)

// greeting returns a valid ZMTP 3.0 NULL greeting.
func greeting() []byte { return greetingWith(3, 0, "NULL") }

// greetingWith returns a greeting with the version and mechanism given.
func greetingWith(major, minor byte, mechanism string) []byte {
	g := make([]byte, greetingSize)
	g[0], g[9], g[10], g[11] = 0xff, 0x7f, major, minor
	copy(g[12:32], mechanism)
	return g
}

// props returns metadata: name, value, name, value...
func props(nv ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(nv); i += 2 {
		b = appendProperty(b, nv[i], []byte(nv[i+1]))
	}
	return b
}

// ready returns a READY command with the metadata given.
func ready(metadata []byte) []byte { return appendCommand(nil, "READY", metadata) }

// cat concatenates.
func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

// longCommand returns a command frame in the long form, whatever its size.
func longCommand(body []byte) []byte {
	b := binary.BigEndian.AppendUint64([]byte{flagCommand | flagLong}, uint64(len(body)))
	return append(b, body...)
}

// scriptedConn is a peer that has sent script: reads return its bytes, a
// few at a time, then io.EOF, or with hold nothing until the deadline.
// Writes are recorded, one slice a write.
type scriptedConn struct {
	net.Conn // nil: the handshake uses only the methods below
	script   []byte
	hold     bool
	writes   [][]byte
	deadline time.Time
}

func (c *scriptedConn) Read(p []byte) (int, error) {
	if len(c.script) == 0 {
		if c.hold {
			time.Sleep(time.Until(c.deadline))
			return 0, os.ErrDeadlineExceeded
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 7)], c.script) // short reads, as TCP gives
	c.script = c.script[n:]
	return n, nil
}

func (c *scriptedConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *scriptedConn) SetDeadline(t time.Time) error { c.deadline = t; return nil }

// exchanged is what a handshake against a scripted peer did.
type exchanged struct {
	err      error
	writes   [][]byte  // what the handshake wrote, one slice a write
	rest     []byte    // the peer's bytes the handshake did not read
	deadline time.Time // the connection's deadline afterwards
}

// scripted runs the handshake as self against a peer that sends peer (then
// closes, unless hold).
func scripted(self socketType, peer []byte, hold bool) exchanged {
	c := &scriptedConn{script: peer, hold: hold}
	err := handshakeUntil(c, self, time.Now().Add(10*time.Second))
	return exchanged{err: err, writes: c.writes, rest: c.script, deadline: c.deadline}
}

// readyOfSize returns a READY command from a SUB of n bytes, in a long
// frame, padded with an X-Pad property.
func readyOfSize(n int) []byte {
	body := cat([]byte("\x05READY"), props("Socket-Type", "SUB"))
	body = cat(body, props("X-Pad", strings.Repeat("x", n-len(body)-1-len("X-Pad")-4)))
	if len(body) != n {
		panic("readyOfSize")
	}
	return longCommand(body)
}

// after is the data frame peers send after their READY in the tests: the
// handshake must leave it to be read.
var after = appendFrame(appendFrame(nil, flagMore, []byte("AAPL")), 0, []byte("after the handshake"))

func TestHandshakeWithPeers(t *testing.T) {
	u32 := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	readySub := ready(props("Socket-Type", "SUB"))
	tests := []struct {
		name     string
		self     socketType
		peer     []byte // what the peer sends (then, on success, after)
		hold     bool   // the peer keeps the connection open after that
		err      error  // nil: success
		contains string // in the error
	}{
		// Peers that are accepted.
		{"libzmq 4.3.4 SUB, to a PUB", typePub, []byte(libzmqSub), false, nil, ""},
		{"libzmq 4.3.4 PUB, to a SUB", typeSub, []byte(libzmqPub), false, nil, ""},
		{"zmq4 SUB (Socket-Type and an empty Identity), to a PUB", typePub,
			cat(greeting(), ready(props("Identity", "", "Socket-Type", "SUB"))), false, nil, ""},
		{"an XSUB, to a PUB", typePub, cat(greeting(), ready(props("Socket-Type", "XSUB"))), false, nil, ""},
		{"an XPUB, to a SUB", typeSub, cat(greeting(), ready(props("Socket-Type", "XPUB"))), false, nil, ""},
		{"a SUB, to an XPUB", typeXPub, cat(greeting(), readySub), false, nil, ""},
		{"a PUB, to an XSUB", typeXSub, cat(greeting(), ready(props("Socket-Type", "PUB"))), false, nil, ""},
		{"any minor version: 3.1", typePub, cat(greetingWith(3, 1, "NULL"), readySub), false, nil, ""},
		{"a higher major version: 4.0 (spec 37: MUST accept higher versions)", typePub, cat(greetingWith(4, 0, "NULL"), readySub), false, nil, ""},
		{"any padding, as-server and filler", typePub,
			cat(func() []byte { g := greeting(); g[1], g[8], g[32], g[63] = 0xaa, 0x55, 1, 0xee; return g }(), readySub), false, nil, ""},
		{"READY in a long frame", typePub, cat(greeting(), longCommand(readySub[2:])), false, nil, ""},
		{"property names in lower case", typePub, cat(greeting(), ready(props("socket-type", "SUB"))), false, nil, ""},
		{"property names in upper case", typePub, cat(greeting(), ready(props("SOCKET-TYPE", "SUB"))), false, nil, ""},
		{"unknown properties ignored", typePub,
			cat(greeting(), ready(props("X-Trader", "ABC", "Resource", "feed", "Socket-Type", "SUB", "Identity", "\x01id"))), false, nil, ""},
		{"a READY of exactly maxHandshakeFrame bytes", typePub, cat(greeting(), readyOfSize(maxHandshakeFrame)), false, nil, ""},
		{"libzmq 4.3.4 REQ, to a REP", typeRep, []byte(libzmqReq), false, nil, ""},
		{"libzmq 4.3.4 DEALER, to a REP", typeRep, []byte(libzmqDealer), false, nil, ""},
		{"libzmq 4.3.4 REP, to a REQ", typeReq, []byte(libzmqRep), false, nil, ""},
		{"libzmq 4.3.4 REP, to a DEALER", typeDealer, []byte(libzmqRep), false, nil, ""},
		{"a ROUTER, to a REQ", typeReq, cat(greeting(), ready(props("Socket-Type", "ROUTER", "Identity", ""))), false, nil, ""},

		// Peers whose socket type cannot talk to ours.
		{"a PUB, to a PUB", typePub, cat(greeting(), ready(props("Socket-Type", "PUB"))), false, ErrProtocol, `"PUB"`},
		{"a SUB, to a SUB", typeSub, []byte(libzmqSub), false, ErrProtocol, `"SUB"`},
		{"an XPUB, to a PUB", typePub, cat(greeting(), ready(props("Socket-Type", "XPUB"))), false, ErrProtocol, `"XPUB"`},
		{"a REQ, to a PUB", typePub, cat(greeting(), ready(props("Socket-Type", "REQ"))), false, ErrProtocol, `"REQ"`},
		{"libzmq 4.3.4 REQ, to a REQ", typeReq, []byte(libzmqReq), false, ErrProtocol, `"REQ"`},
		{"libzmq 4.3.4 DEALER, to a REQ", typeReq, []byte(libzmqDealer), false, ErrProtocol, `"DEALER"`},
		{"libzmq 4.3.4 SUB, to a REP", typeRep, []byte(libzmqSub), false, ErrProtocol, `"SUB"`},
		{"a ROUTER, to a REP", typeRep, cat(greeting(), ready(props("Socket-Type", "ROUTER"))), false, ErrProtocol, `"ROUTER"`},
		{"a PUB, to a REQ", typeReq, []byte(libzmqPub), false, ErrProtocol, `"PUB"`},
		{"socket type values are exact: req", typeRep, cat(greeting(), ready(props("Socket-Type", "req"))), false, ErrProtocol, `"req"`},
		{"socket type values are exact, as libzmq compares them", typePub, cat(greeting(), ready(props("Socket-Type", "sub"))), false, ErrProtocol, `"sub"`},
		{"no Socket-Type", typePub, cat(greeting(), ready(props("Identity", "x"))), false, ErrProtocol, "no Socket-Type"},
		{"an empty READY", typePub, cat(greeting(), ready(nil)), false, ErrProtocol, "no Socket-Type"},
		{"two Socket-Types", typePub, cat(greeting(), ready(props("Socket-Type", "SUB", "socket-type", "PUB"))), false, ErrProtocol, "two Socket-Type"},

		// Greetings that are refused.
		{"ZMTP 2.0 (version byte 1), refused at once", typePub,
			cat(greetingWith(1, 0, "")[:11], []byte{0x02, 0x00, 0x00}), true, ErrProtocol, "ZMTP 2.0"},
		{"version 2", typePub, cat(greetingWith(2, 0, "NULL"), readySub), false, ErrProtocol, "major version 2"},
		{"CURVE", typePub, cat(greetingWith(3, 0, "CURVE"), readySub), false, ErrProtocol, `"CURVE"`},
		{"PLAIN", typePub, cat(greetingWith(3, 1, "PLAIN"), readySub), false, ErrProtocol, `"PLAIN"`},
		{"NULL followed by garbage", typePub, cat(greetingWith(3, 0, "NULL\x00X"), readySub), false, ErrProtocol, `"NULL\x00X"`},
		{"signature without 0xFF", typePub, cat(func() []byte { g := greeting(); g[0] = 0; return g }(), readySub), false, ErrProtocol, "signature"},
		{"signature without 0x7F", typePub, cat(func() []byte { g := greeting(); g[9] = 0x7e; return g }(), readySub), false, ErrProtocol, "signature"},
		{"an HTTP request, refused at once", typePub, []byte("GET / HTTP/1.1\r\n\r\n"), true, ErrProtocol, "signature"},

		// Frames that are not a well-formed READY.
		{"reserved flag bit 5 (the fuzzer's find)", typePub,
			cat(greeting(), []byte("$\x19\x05READY\vSocket-Type\x00\x00\x00\x03SUB0")), false, ErrProtocol, "reserved"},
		{"reserved flag bit 7", typePub, cat(greeting(), []byte{0x84}, readySub[1:]), false, ErrProtocol, "reserved"},
		{"reserved flag bit 3", typePub, cat(greeting(), []byte{0x0c}, readySub[1:]), false, ErrProtocol, "reserved"},
		{"MORE flag on READY", typePub, cat(greeting(), []byte{flagCommand | flagMore}, readySub[1:]), false, ErrProtocol, "MORE"},
		{"a data frame instead of a command", typePub, cat(greeting(), appendFrame(nil, 0, readySub[2:])), false, ErrProtocol, "message"},
		{"a command other than READY", typePub, cat(greeting(), appendCommand(nil, "PING", []byte{0, 0})), false, ErrProtocol, `"PING"`},
		{"a command with its name cut", typePub, cat(greeting(), []byte{flagCommand, 3, 5, 'R', 'E'}), false, ErrProtocol, "malformed command"},
		{"an empty command", typePub, cat(greeting(), []byte{flagCommand, 0}), false, ErrProtocol, "malformed command"},
		{"ERROR with its reason", typePub, cat(greeting(), appendCommand(nil, "ERROR", []byte("\x13Invalid socket type"))), false, errRefused, `"Invalid socket type"`},
		{"ERROR with an empty reason", typePub, cat(greeting(), appendCommand(nil, "ERROR", []byte{0})), false, errRefused, `""`},
		{"ERROR whose reason length is past the end", typePub, cat(greeting(), appendCommand(nil, "ERROR", []byte("\xffshort"))), false, ErrProtocol, "malformed ERROR"},
		{"ERROR without a reason length", typePub, cat(greeting(), appendCommand(nil, "ERROR", nil)), false, ErrProtocol, "malformed ERROR"},
		{"metadata: name length past the end", typePub, cat(greeting(), ready([]byte("\x0cSocket-Type"))), false, ErrProtocol, "name of 12 bytes"},
		{"metadata: name length equal to what is left (zmq4 v0.17.0 panicked on it)", typePub,
			cat(greeting(), ready([]byte("\x06Socke"))), false, ErrProtocol, "name of 6 bytes"},
		{"metadata: value size cut", typePub, cat(greeting(), ready([]byte("\x0bSocket-Type\x00\x00"))), false, ErrProtocol, "no value size"},
		{"metadata: value length past the end", typePub, cat(greeting(), ready(cat([]byte("\x0bSocket-Type"), u32(4), []byte("SUB")))), false, ErrProtocol, "value of 4 bytes"},
		{"metadata: value length 2^32-1", typePub, cat(greeting(), ready(cat([]byte("\x0bSocket-Type"), u32(1<<32-1), []byte("SUB")))), false, ErrProtocol, "value of 4294967295 bytes"},
		{"metadata: an empty name", typePub, cat(greeting(), ready(cat(props("Socket-Type", "SUB"), []byte{0}, u32(0)))), false, ErrProtocol, "empty property name"},
		{"metadata: a byte after the last property", typePub, cat(greeting(), ready(cat(props("Socket-Type", "SUB"), []byte{1}))), false, ErrProtocol, "name of 1 bytes"},
		{"a READY one byte over the limit", typePub, cat(greeting(), readyOfSize(maxHandshakeFrame+1)), false, ErrFrameTooLong, "65537"},
		{"a frame over the limit, refused from its header", typePub,
			cat(greeting(), binary.BigEndian.AppendUint64([]byte{flagCommand | flagLong}, maxHandshakeFrame+1)), true, ErrFrameTooLong, "65537"},
		{"a frame of 2^63-1 bytes declared", typePub,
			cat(greeting(), binary.BigEndian.AppendUint64([]byte{flagCommand | flagLong}, 1<<63-1)), true, ErrFrameTooLong, ""},
		{"a frame of 2^64-1 bytes declared", typePub,
			cat(greeting(), binary.BigEndian.AppendUint64([]byte{flagCommand | flagLong}, 1<<64-1)), true, ErrFrameTooLong, ""},

		// Peers that stop early.
		{"the peer closes after its greeting", typePub, greeting(), false, io.EOF, "READY"},
		{"the peer closes in its greeting", typePub, greeting()[:40], false, io.ErrUnexpectedEOF, "greeting"},
		{"the peer closes in its READY", typePub, cat(greeting(), readySub[:10]), false, io.ErrUnexpectedEOF, "READY"},
		{"the peer closes in a long header", typePub, cat(greeting(), longCommand(readySub[2:])[:5]), false, io.ErrUnexpectedEOF, "READY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := tt.peer
			if tt.err == nil {
				peer = cat(peer, after)
			}
			start := time.Now()
			x := scripted(tt.self, peer, tt.hold)
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %v: the handshake waited for bytes the peer had no reason to send", time.Since(start))
			}
			if tt.err == nil {
				if x.err != nil {
					t.Fatalf("err = %v, want success", x.err)
				}
				if !bytes.Equal(x.rest, after) {
					t.Fatalf("after the handshake the peer's next bytes are %q, want %q", x.rest, after)
				}
				if !x.deadline.IsZero() {
					t.Fatalf("deadline %v left after the handshake", x.deadline)
				}
				return
			}
			t.Log(x.err)
			if !errors.Is(x.err, tt.err) || !strings.Contains(x.err.Error(), tt.contains) {
				t.Fatalf("err = %v, want %v containing %q", x.err, tt.err, tt.contains)
			}
			if tt.err == errRefused && errors.Is(x.err, ErrProtocol) {
				t.Fatalf("err = %v: a well-formed ERROR is no protocol error", x.err)
			}
		})
	}
}

func TestHandshakeSendsItsGreetingThenReady(t *testing.T) {
	for _, self := range []socketType{typePub, typeSub} {
		t.Run(string(self), func(t *testing.T) {
			x := scripted(self, []byte(libzmqPub), false)
			want := [][]byte{
				// ZMTP 3.0, NULL, as-server 0, zero padding and filler: in one write.
				cat([]byte("\xff\x00\x00\x00\x00\x00\x00\x00\x00\x7f\x03\x00NULL"), make([]byte, 16+32)),
				// Socket-Type and nothing else.
				cat([]byte("\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03"), []byte(self)),
			}
			if len(x.writes) != 2 || !bytes.Equal(x.writes[0], want[0]) || !bytes.Equal(x.writes[1], want[1]) {
				t.Fatalf("the handshake wrote\n%q\nwant\n%q", x.writes, want)
			}
		})
	}
}

// bufferedPipe is net.Pipe with a send buffer at each end: a Write returns
// once its bytes are queued, as on a socket. Two handshakes that each send
// their greeting before reading the other's, as ZMTP peers do, would wait
// for each other forever on a plain net.Pipe, whose Write waits for the
// reader.
func bufferedPipe(t *testing.T) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	return sendBuffered(t, a), sendBuffered(t, b)
}

type bufferedConn struct {
	net.Conn
	queue chan []byte
}

func sendBuffered(t *testing.T, c net.Conn) net.Conn {
	bc := &bufferedConn{Conn: c, queue: make(chan []byte, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		for p := range bc.queue {
			if err == nil {
				_, err = c.Write(p)
			}
		}
	}()
	t.Cleanup(func() {
		c.Close()
		close(bc.queue)
		<-done
	})
	return bc
}

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.queue <- bytes.Clone(p)
	return len(p), nil
}

func TestHandshakeBetweenOurSockets(t *testing.T) {
	tests := []struct {
		a, b socketType
		ok   bool
	}{
		{typePub, typeSub, true},
		{typeSub, typePub, true},
		{typePub, typeXSub, true},
		{typeXPub, typeSub, true},
		{typeXPub, typeXSub, true},
		{typePub, typePub, false},
		{typeSub, typeSub, false},
		{typePub, typeXPub, false},
		{typeSub, typeXSub, false},
		{typeReq, typeRep, true},
		{typeRep, typeDealer, true},
		{typeDealer, typeDealer, true},
		{typeReq, typeRouter, true},
		{typeDealer, typeRouter, true},
		{typeRouter, typeRouter, true},
		{typeReq, typeReq, false},
		{typeRep, typeRep, false},
		{typeReq, typeDealer, false},
		{typeRep, typeRouter, false},
		{typeReq, typePub, false},
		{typeRep, typeSub, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.a)+"-"+string(tt.b), func(t *testing.T) {
			a, b := bufferedPipe(t)
			errb := make(chan error, 1)
			go func() { errb <- handshakeUntil(b, tt.b, time.Now().Add(10*time.Second)) }()
			erra := handshakeUntil(a, tt.a, time.Now().Add(10*time.Second))
			errB := <-errb
			if !tt.ok {
				if !errors.Is(erra, ErrProtocol) || !errors.Is(errB, ErrProtocol) {
					t.Fatalf("errors %v and %v, want protocol errors on both sides", erra, errB)
				}
				return
			}
			if erra != nil || errB != nil {
				t.Fatalf("errors %v and %v", erra, errB)
			}
			// Each side reads exactly what the other sends next.
			for _, dir := range []struct{ from, to net.Conn }{{a, b}, {b, a}} {
				dir.from.Write(after)
				got := make([]byte, len(after))
				if _, err := io.ReadFull(dir.to, got); err != nil || !bytes.Equal(got, after) {
					t.Fatalf("read %q, %v; want %q", got, err, after)
				}
			}
		})
	}
}

// Which socket types may talk to which: spec 37's table, for the types we
// know. It is symmetric: a pair either side refuses, both do.
func TestSocketTypeCompatibility(t *testing.T) {
	types := []socketType{typePub, typeSub, typeXPub, typeXSub, typeReq, typeRep, typeDealer, typeRouter}
	talks := map[socketType][]socketType{
		typePub:    {typeSub, typeXSub},
		typeXPub:   {typeSub, typeXSub},
		typeSub:    {typePub, typeXPub},
		typeXSub:   {typePub, typeXPub},
		typeReq:    {typeRep, typeRouter},
		typeRep:    {typeReq, typeDealer},
		typeDealer: {typeRep, typeDealer, typeRouter},
		typeRouter: {typeReq, typeDealer, typeRouter},
	}
	for _, a := range types {
		for _, b := range types {
			want := slices.Contains(talks[a], b)
			if got := a.accepts(b); got != want {
				t.Errorf("%s accepts %s: %v, want %v", a, b, got, want)
			}
			if a.accepts(b) != b.accepts(a) {
				t.Errorf("%s and %s disagree", a, b)
			}
		}
		if a.accepts("PAIR") || a.accepts("") {
			t.Errorf("%s accepts PAIR or an empty type", a)
		}
	}
}

func TestHandshakeWithZmq4(t *testing.T) {
	tests := []struct {
		ours   socketType
		theirs zmq4.SocketType
		ok     bool
	}{
		{typePub, zmq4.Sub, true},
		{typeSub, zmq4.Pub, true},
		{typePub, zmq4.XSub, true},
		{typeSub, zmq4.Sub, false},
		{typeReq, zmq4.Rep, true},
		{typeRep, zmq4.Req, true},
		{typeRep, zmq4.Dealer, true},
		{typeReq, zmq4.Req, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.ours)+"-"+string(tt.theirs), func(t *testing.T) {
			a, b := bufferedPipe(t)
			b.SetDeadline(time.Now().Add(10 * time.Second))
			errb := make(chan error, 1)
			go func() {
				_, err := zmq4.Open(b, null.Security(), tt.theirs, zmq4.SocketIdentity(nil), false, nil)
				errb <- err
			}()
			err := handshakeUntil(a, tt.ours, time.Now().Add(10*time.Second))
			if tt.ok && err != nil || !tt.ok && !errors.Is(err, ErrProtocol) {
				t.Fatalf("err = %v", err)
			}
			if errZ := <-errb; tt.ok && errZ != nil {
				t.Fatalf("zmq4: %v", errZ)
			}
		})
	}
}

func TestHandshakeDeadline(t *testing.T) {
	tests := []struct {
		name  string
		reads bool   // the peer reads what we send
		peer  []byte // what it sends before falling silent
	}{
		{"a silent peer that does not even read", false, nil},
		{"a silent peer", true, nil},
		{"a peer that stops in its greeting", true, greeting()[:20]},
		{"a peer that sends no READY", true, greeting()},
		{"a peer that stops in its READY", true, cat(greeting(), ready(props("Socket-Type", "SUB"))[:9])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			defer a.Close()
			if tt.reads {
				go io.Copy(io.Discard, b)
			}
			if tt.peer != nil {
				go b.Write(tt.peer)
			}
			start := time.Now()
			err := handshakeUntil(a, typePub, start.Add(50*time.Millisecond))
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("err = %v, want the deadline", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestHandshakeClearsItsDeadline(t *testing.T) {
	a, b := bufferedPipe(t)
	deadline := time.Now().Add(200 * time.Millisecond)
	errb := make(chan error, 1)
	go func() { errb <- handshakeUntil(b, typeSub, deadline) }()
	if err := handshakeUntil(a, typePub, deadline); err != nil {
		t.Fatal(err)
	}
	if err := <-errb; err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(deadline) + 100*time.Millisecond)
	a.Write(after)
	got := make([]byte, len(after))
	if _, err := io.ReadFull(b, got); err != nil || !bytes.Equal(got, after) {
		t.Fatalf("read %q, %v past the handshake's deadline", got, err)
	}
}

func TestHandshakeKeepsNetworkErrors(t *testing.T) {
	a, b := net.Pipe()
	b.Close()
	err := handshakeUntil(a, typePub, time.Now().Add(time.Second))
	if !errors.Is(err, io.ErrClosedPipe) || errors.Is(err, ErrProtocol) {
		t.Fatalf("err = %v, want io.ErrClosedPipe", err)
	}
}

func TestHandshakeRefusesAnOversizedFrameBeforeAllocatingIt(t *testing.T) {
	for _, size := range []uint64{1 << 30, 1 << 40} {
		peer := cat(greeting(), binary.BigEndian.AppendUint64([]byte{flagCommand | flagLong}, size))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		x := scripted(typePub, peer, true)
		runtime.ReadMemStats(&after)
		if !errors.Is(x.err, ErrFrameTooLong) {
			t.Fatalf("size %d: err = %v, want ErrFrameTooLong", size, x.err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Fatalf("size %d: %d bytes allocated meanwhile", size, n)
		}
	}
}

// wellFormedReady is the fuzz oracle, written apart from the parser: b
// starts with a READY command frame (flags exactly %x04 or %x06, no larger
// than maxHandshakeFrame) whose metadata is a sequence of properties with
// non-empty names, one of them Socket-Type (in any case) with one of the
// values in accept. It returns the frame's size.
func wellFormedReady(b []byte, accept ...string) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	hdr, size := 2, uint64(b[1])
	switch b[0] {
	case 0x04:
	case 0x06:
		if len(b) < 9 {
			return 0, false
		}
		hdr, size = 9, binary.BigEndian.Uint64(b[1:9])
	default:
		return 0, false
	}
	if size > maxHandshakeFrame || size > uint64(len(b)-hdr) {
		return 0, false
	}
	body := b[hdr : hdr+int(size)]
	if !bytes.HasPrefix(body, []byte("\x05READY")) {
		return 0, false
	}
	var types []string
	for md := body[6:]; len(md) > 0; {
		nameLen := int(md[0])
		if nameLen == 0 || len(md) < 1+nameLen+4 {
			return 0, false
		}
		name := string(md[1 : 1+nameLen])
		valueLen := uint64(binary.BigEndian.Uint32(md[1+nameLen:]))
		md = md[1+nameLen+4:]
		if valueLen > uint64(len(md)) {
			return 0, false
		}
		if strings.ToLower(name) == "socket-type" {
			types = append(types, string(md[:valueLen]))
		}
		md = md[valueLen:]
	}
	return hdr + int(size), len(types) == 1 && slices.Contains(accept, types[0])
}

// FuzzHandshake feeds a PUB's handshake the peer's bytes after a valid
// greeting. It must succeed exactly when they start with a well-formed
// READY from a SUB or XSUB (the oracle), and then leave the rest unread;
// otherwise fail with a protocol error, or an end of file when the bytes
// stop short; never panic, allocate without bound or hang.
func FuzzHandshake(f *testing.F) {
	f.Add(ready(props("Socket-Type", "SUB")))
	f.Add(cat(ready(props("Identity", "", "socket-type", "XSUB")), after))
	f.Add(longCommand(ready(props("Socket-Type", "SUB"))[2:]))
	f.Add([]byte(libzmqPub)[greetingSize:])
	f.Add(ready([]byte("\x0bSocket-Type\x00\x00\x00\xffSUB")))
	f.Add(ready([]byte("\x05abcd")))
	f.Add(ready([]byte("\x06Socke")))
	f.Add(appendCommand(nil, "ERROR", []byte("\x05nope!")))
	f.Add([]byte{flagCommand | flagLong, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, peer []byte) {
		x := scripted(typePub, cat(greeting(), peer), false)
		n, ok := wellFormedReady(peer, "SUB", "XSUB")
		switch {
		case ok && x.err != nil:
			t.Fatalf("handshake refused a good READY %q: %v", peer, x.err)
		case !ok && x.err == nil:
			t.Fatalf("handshake accepted %q", peer)
		case ok && !bytes.Equal(x.rest, peer[n:]):
			t.Fatalf("after the handshake %q is left, want %q", x.rest, peer[n:])
		case ok && !x.deadline.IsZero():
			t.Fatalf("deadline %v left after the handshake", x.deadline)
		case !ok && !errors.Is(x.err, ErrProtocol) && !errors.Is(x.err, errRefused) &&
			!errors.Is(x.err, io.EOF) && !errors.Is(x.err, io.ErrUnexpectedEOF):
			t.Fatalf("handshake of %q: %v", peer, x.err)
		}
	})
}

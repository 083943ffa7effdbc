package zmtp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The ZMTP 3.x connection handshake with the NULL security mechanism
// (rfc.zeromq.org/spec/23 for ZMTP 3.0, spec/37 for 3.1): each peer sends a
// 64-byte greeting, then a READY command whose metadata names its socket
// type; a peer may send an ERROR command instead of READY. The parse
// functions below take the peer's bytes as they come, check every length
// before using it, and return errors wrapping ErrProtocol, never panic.

// handshakeTimeout bounds a peer's greeting and READY exchange.
const handshakeTimeout = 5 * time.Second

// maxHandshakeFrame bounds the frame a peer sends in the handshake (the
// READY command and its metadata are a few dozen bytes from libzmq and
// zmq4): a larger one is refused from its header, before it is allocated.
const maxHandshakeFrame = 64 << 10

// Greeting layout (spec 23 and 37, "Formal Grammar").
const (
	greetingSize     = 64
	signatureSize    = 10 // %xFF, 8 bytes of padding, %x7F
	versionMajorAt   = 10
	versionMinorAt   = 11
	mechanismAt      = 12
	mechanismSize    = 20
	asServerAt       = mechanismAt + mechanismSize
	greetingPrefix   = versionMajorAt + 1 // signature and major version
	greetingMajor    = 3
	greetingMinor    = 0
	frameHeaderShort = 2 // flags, size
	frameHeaderLong  = 9 // flags, 8-byte size
)

// We announce ZMTP 3.0, as zmq4 did for us before. The version tells a
// libzmq SUB how to subscribe: a 3.1 peer gets SUBSCRIBE/CANCEL commands, a
// 3.0 peer 3.0 subscription messages (a frame starting with 1 or 0; checked
// with libzmq 4.3.4). Our Pub reads both (pub.go, handle), but our Sub sends
// only 3.0 messages (appendSubscription), which a peer announcing 3.1 must
// not do; and 3.0 is what zmq4 speaks. The PING/PONG heartbeats of 3.1 are
// answered anyway, as libzmq sends them whatever the version.

// nullMechanism is the mechanism field of a NULL greeting.
var nullMechanism = [mechanismSize]byte{'N', 'U', 'L', 'L'}

// socketType is a ZeroMQ socket type as the Socket-Type property names it.
type socketType string

// The socket types of the publish-subscribe pattern.
const (
	typePub  socketType = "PUB"
	typeSub  socketType = "SUB"
	typeXPub socketType = "XPUB"
	typeXSub socketType = "XSUB"
)

// The socket types of the request-reply pattern (rfc.zeromq.org/spec/28).
const (
	typeReq    socketType = "REQ"
	typeRep    socketType = "REP"
	typeDealer socketType = "DEALER"
	typeRouter socketType = "ROUTER"
)

// accepts says whether a socket of type t may talk to a peer of type peer
// (spec 37, "The Socket-Type Property"; the publish-subscribe and
// request-reply parts of its table, as spec 28 has the latter: a REQ talks
// to a REP or a ROUTER, a REP to a REQ or a DEALER, a DEALER to a REP, a
// DEALER or a ROUTER, a ROUTER to a REQ, a DEALER or a ROUTER).
func (t socketType) accepts(peer socketType) bool {
	switch t {
	case typePub, typeXPub:
		return peer == typeSub || peer == typeXSub
	case typeSub, typeXSub:
		return peer == typePub || peer == typeXPub
	case typeReq:
		return peer == typeRep || peer == typeRouter
	case typeRep:
		return peer == typeReq || peer == typeDealer
	case typeDealer:
		return peer == typeRep || peer == typeDealer || peer == typeRouter
	case typeRouter:
		return peer == typeReq || peer == typeDealer || peer == typeRouter
	}
	return false
}

// errRefused is wrapped by the error for a peer's ERROR command: a refusal,
// not a protocol violation.
var errRefused = errors.New("zmtp: handshake: the peer refused the connection")

// handshake runs the ZMTP 3 greeting and NULL-mechanism READY exchange on c
// as a socket of type self, and checks the peer's socket type. It reads
// exactly the peer's greeting and READY command: after it, c is positioned
// at the peer's first frame. The exchange must end within handshakeTimeout;
// the deadline is cleared after a success (after a failure the caller
// closes c).
//
// The NULL mechanism has no client and server roles on the wire (as-server
// is zero for both, spec 37), and both peers send READY at once, as libzmq
// does, so whether c was accepted or dialled changes nothing here.
func handshake(c net.Conn, self socketType) error {
	return handshakeUntil(c, self, time.Now().Add(handshakeTimeout))
}

// handshakeUntil is handshake with the deadline given.
func handshakeUntil(c net.Conn, self socketType, deadline time.Time) error {
	if err := c.SetDeadline(deadline); err != nil {
		return fmt.Errorf("zmtp: handshake: %w", err)
	}
	if err := exchange(c, self); err != nil {
		return err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("zmtp: handshake: %w", err)
	}
	return nil
}

// exchange is the handshake proper.
func exchange(c net.Conn, self socketType) error {
	// Our whole greeting at once, then the peer's (spec 37, "Version
	// Negotiation", second case). The peer's is read in two steps so that
	// an older ZMTP peer, whose greeting is shorter, is told apart at once
	// rather than at the deadline.
	if _, err := c.Write(appendGreeting(make([]byte, 0, greetingSize))); err != nil {
		return fmt.Errorf("zmtp: handshake: sending the greeting: %w", err)
	}
	var g [greetingSize]byte
	if _, err := io.ReadFull(c, g[:greetingPrefix]); err != nil {
		return fmt.Errorf("zmtp: handshake: reading the peer's greeting: %w", err)
	}
	if err := parseGreetingPrefix(g[:greetingPrefix]); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, g[greetingPrefix:]); err != nil {
		return fmt.Errorf("zmtp: handshake: reading the peer's greeting: %w", err)
	}
	if err := parseGreeting(g[:]); err != nil {
		return err
	}

	if _, err := c.Write(appendReady(nil, self)); err != nil {
		return fmt.Errorf("zmtp: handshake: sending READY: %w", err)
	}
	body, err := readCommand(c)
	if err != nil {
		return err
	}
	name, data, err := parseCommand(body)
	if err != nil {
		return fmt.Errorf("%w: handshake: malformed command (% x)", ErrProtocol, body[:min(len(body), 32)])
	}
	switch name {
	case "READY":
		peer, err := parseReady(data)
		if err != nil {
			return err
		}
		if !self.accepts(peer) {
			return fmt.Errorf("%w: handshake: a %s cannot talk to the peer's socket type %q", ErrProtocol, self, peer)
		}
		return nil
	case "ERROR":
		reason, err := parseError(data)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %q", errRefused, reason)
	}
	return fmt.Errorf("%w: handshake: the peer sent %q, want READY or ERROR", ErrProtocol, name)
}

// appendGreeting appends our greeting: ZMTP 3.0, NULL, as-server zero
// (which the NULL mechanism requires of both peers), zero padding and
// filler.
func appendGreeting(b []byte) []byte {
	b = append(b, 0xff)
	b = append(b, make([]byte, signatureSize-2)...)
	b = append(b, 0x7f, greetingMajor, greetingMinor)
	b = append(b, nullMechanism[:]...)
	return append(b, make([]byte, greetingSize-asServerAt)...) // as-server, filler
}

// parseGreetingPrefix checks the signature and major version at the start
// of a greeting (greetingPrefix bytes).
func parseGreetingPrefix(b []byte) error {
	if len(b) < greetingPrefix {
		return fmt.Errorf("%w: handshake: greeting of %d bytes", ErrProtocol, len(b))
	}
	// The padding between the two signature bytes means nothing (libzmq
	// puts a ZMTP 1.0 identity length there).
	if b[0] != 0xff || b[signatureSize-1] != 0x7f {
		return fmt.Errorf("%w: handshake: no ZMTP signature (the peer sent % x)", ErrProtocol, b[:signatureSize])
	}
	// Higher versions are valid: their peers talk down to us (spec 37,
	// "Version Negotiation").
	switch major := b[versionMajorAt]; {
	case major == 1:
		return fmt.Errorf("%w: handshake: the peer speaks ZMTP 2.0 (major version 1, libzmq 3.x): ZMTP 3 is required", ErrProtocol)
	case major < greetingMajor:
		return fmt.Errorf("%w: handshake: the peer's greeting has major version %d: ZMTP 3 is required", ErrProtocol, major)
	}
	return nil
}

// parseGreeting checks a peer's whole greeting: the ZMTP 3 signature and
// version (any minor: libzmq 4.3 sends 3.1, zmq4 3.0) and the NULL
// mechanism. As-server means nothing with NULL, and the filler nothing at
// all: neither is checked, as libzmq does not.
func parseGreeting(b []byte) error {
	if len(b) < greetingSize {
		return fmt.Errorf("%w: handshake: greeting of %d bytes", ErrProtocol, len(b))
	}
	if err := parseGreetingPrefix(b); err != nil {
		return err
	}
	// The mechanism must match ours exactly (spec 37).
	if m := b[mechanismAt:asServerAt]; !bytes.Equal(m, nullMechanism[:]) {
		return fmt.Errorf("%w: handshake: the peer's security mechanism is %q: only NULL is supported", ErrProtocol, bytes.TrimRight(m, "\x00"))
	}
	return nil
}

// readCommand reads the frame that follows the greeting, which must be a
// command, and returns its body. It reads the header first and refuses a
// frame over maxHandshakeFrame before allocating it.
func readCommand(r io.Reader) ([]byte, error) {
	var hdr [frameHeaderLong]byte
	if _, err := io.ReadFull(r, hdr[:frameHeaderShort]); err != nil {
		return nil, fmt.Errorf("zmtp: handshake: reading the peer's READY: %w", err)
	}
	flags := hdr[0]
	if err := checkCommandFlags(flags); err != nil {
		return nil, err
	}
	n := frameHeaderShort
	if flags&flagLong != 0 {
		if _, err := io.ReadFull(r, hdr[frameHeaderShort:]); err != nil {
			return nil, fmt.Errorf("zmtp: handshake: reading the peer's READY: %w", err)
		}
		n = frameHeaderLong
	}
	_, size, hn, _ := frameHeader(hdr[:n])
	if hn != n {
		return nil, fmt.Errorf("%w: handshake: frame header", ErrProtocol)
	}
	if size > maxHandshakeFrame {
		return nil, fmt.Errorf("%w: handshake: a command of %d bytes (limit %d)", ErrFrameTooLong, size, maxHandshakeFrame)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("zmtp: handshake: reading the peer's READY: %w", err)
	}
	return body, nil
}

// checkCommandFlags checks the flags of a handshake frame: a command (the
// handshake holds only commands), which is one frame (no MORE), with the
// reserved bits zero. Short and long sizes are both valid.
func checkCommandFlags(flags byte) error {
	switch {
	case flags&flagReserved != 0:
		return fmt.Errorf("%w: handshake: frame flags %#02x have reserved bits set", ErrProtocol, flags)
	case flags&flagCommand == 0:
		return fmt.Errorf("%w: handshake: the peer sent a message (flags %#02x) before READY", ErrProtocol, flags)
	case flags&flagMore != 0:
		return fmt.Errorf("%w: handshake: command frame with the MORE flag (flags %#02x)", ErrProtocol, flags)
	}
	return nil
}

// Metadata properties (spec 37, "The NULL Security Mechanism"): a name of
// 1 to 255 bytes after a 1-byte length, a value after a 4-byte big-endian
// length. Names are case-insensitive.
const propSocketType = "Socket-Type"

// appendReady appends a READY command announcing socket type t, the only
// property a PUB or SUB peer needs. libzmq's REQ, DEALER and ROUTER also
// send an Identity (empty unless set); ours send none, which a ROUTER
// takes as an empty one: it names the connection itself.
func appendReady(b []byte, t socketType) []byte {
	return appendCommand(b, "READY", appendProperty(nil, propSocketType, []byte(t)))
}

// appendProperty appends a metadata property. name is 1 to 255 bytes.
func appendProperty(b []byte, name string, value []byte) []byte {
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

// parseProperty parses the metadata property at the start of b and returns
// it and the bytes it took.
func parseProperty(b []byte) (name, value []byte, n int, err error) {
	if len(b) < 1 {
		return nil, nil, 0, fmt.Errorf("%w: handshake: metadata: no property", ErrProtocol)
	}
	nameLen := int(b[0])
	if nameLen == 0 {
		return nil, nil, 0, fmt.Errorf("%w: handshake: metadata: empty property name", ErrProtocol)
	}
	if nameLen > len(b)-1 {
		return nil, nil, 0, fmt.Errorf("%w: handshake: metadata: a name of %d bytes with %d left", ErrProtocol, nameLen, len(b)-1)
	}
	name, b = b[1:1+nameLen], b[1+nameLen:]
	if len(b) < 4 {
		return nil, nil, 0, fmt.Errorf("%w: handshake: metadata: property %q has no value size", ErrProtocol, name)
	}
	valueLen := uint64(binary.BigEndian.Uint32(b))
	if valueLen > uint64(len(b)-4) {
		return nil, nil, 0, fmt.Errorf("%w: handshake: metadata: property %q: a value of %d bytes with %d left", ErrProtocol, name, valueLen, len(b)-4)
	}
	value = b[4 : 4+int(valueLen)]
	return name, value, 1 + nameLen + 4 + int(valueLen), nil
}

// parseReady parses the data of a READY command (its metadata) and returns
// the peer's socket type. The metadata must hold exactly one Socket-Type
// property; other properties (Identity, Resource, X-...) are ignored.
func parseReady(data []byte) (socketType, error) {
	var typ []byte
	found := false
	for len(data) > 0 {
		name, value, n, err := parseProperty(data)
		if err != nil {
			return "", err
		}
		data = data[n:]
		if !bytes.EqualFold(name, []byte(propSocketType)) {
			continue
		}
		if found {
			return "", fmt.Errorf("%w: handshake: READY has two Socket-Type properties", ErrProtocol)
		}
		typ, found = value, true
	}
	if !found {
		return "", fmt.Errorf("%w: handshake: READY has no Socket-Type", ErrProtocol)
	}
	return socketType(typ), nil
}

// parseError parses the data of an ERROR command: a 1-byte length and the
// reason (spec 37: "error-reason = short-size 0*255VCHAR").
func parseError(data []byte) (reason string, err error) {
	if len(data) < 1 || int(data[0]) != len(data)-1 {
		return "", fmt.Errorf("%w: handshake: malformed ERROR command (% x)", ErrProtocol, data[:min(len(data), 32)])
	}
	return string(data[1:]), nil
}

// appendSubscription appends the ZMTP 3.0 subscription message for prefix:
// one frame, 1 then the prefix (0 then the prefix cancels).
func appendSubscription(dst []byte, subscribe bool, prefix []byte) []byte {
	var first byte
	if subscribe {
		first = 1
	}
	size := 1 + len(prefix)
	if size > 255 {
		dst = append(dst, flagLong)
		dst = binary.BigEndian.AppendUint64(dst, uint64(size))
	} else {
		dst = append(dst, 0, byte(size))
	}
	dst = append(dst, first)
	return append(dst, prefix...)
}

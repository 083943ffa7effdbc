package zmtp

// The REP side of ZeroMQ's request-reply pattern (rfc.zeromq.org/spec/28),
// for services such as a feed's recovery (retransmission) service: libzmq
// REQ and DEALER sockets (pyzmq's, say) and our Requester ask, a Handler
// answers.
//
// Wire: a request is a message [envelope..., request frames...], where the
// envelope is every frame up to and including the first empty one (the
// delimiter: a REQ sends it by itself, a DEALER must send it first, as
// pyzmq's dealer.send_multipart([b"", request])); the reply is [the same
// envelope..., reply frames...], on the connection the request came from and
// on no other.
//
// Each connection has one goroutine, which reads a request, calls the
// Handler, writes the reply, and only then reads the next request: a client
// that does not read its replies holds up only itself, and is cut off once
// a write stalls for WithReplierStallTimeout. Everything a peer can make a
// Replier hold is bounded: connections (WithReplierMaxPeers), the bytes of
// one request (WithMaxRequest) and its frames (maxRequestFrames after an
// envelope of at most maxEnvelopeFrames), one PONG at a time; a connection
// that sends no request for WithIdleTimeout is closed.
//
// A message that is no request (no delimiter, say: a DEALER that forgot
// it) is dropped and counted, as libzmq's REP drops it, and the connection
// kept: it costs no more than a request. It does not count as a request for
// the idle timeout, so a peer that sends nothing else is closed all the
// same. A request beyond the bytes or the frames a request and its envelope
// may have is a protocol error, as in the Pub: its peer is cut off.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/internal/ratelog"
)

// Replier defaults.
const (
	// DefaultMaxRequest bounds the bytes of one request message, envelope
	// included: a recovery request names a topic and a range, a few dozen
	// bytes. A peer that sends a larger one is cut off, from the frame
	// header that declares it, before it is read.
	DefaultMaxRequest = 64 << 10
	// DefaultReplierMaxPeers bounds a Replier's connections, handshakes
	// included. One beyond is closed at once, counted and logged.
	DefaultReplierMaxPeers = 256
	// DefaultIdleTimeout is how long a connection may stay without sending
	// a request (counted from its handshake or its last reply, until the
	// next request has arrived in full) before it is closed. libzmq's REQ and DEALER reconnect by themselves, and so
	// does our Requester.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultReplierStallTimeout is how long a requester may take to
	// accept a write of up to writeGroup bytes of its reply (or a PONG)
	// before it is cut off.
	DefaultReplierStallTimeout = 10 * time.Second
	// maxRequestFrames bounds the frames of a request after its envelope,
	// and maxEnvelopeFrames the envelope's, delimiter included (a REQ's or
	// a DEALER's is the delimiter alone; each ROUTER-DEALER proxy on the
	// way adds a routing frame). A message within the total of both whose
	// parts break either bound is dropped as malformed; one beyond the
	// total is a protocol error, and its peer is cut off.
	maxRequestFrames  = 16
	maxEnvelopeFrames = 8
	// requestBuffer is a connection's first read buffer; it grows for a
	// larger request, up to WithMaxRequest and the frame headers.
	requestBuffer = 4 << 10
	// copyFrame is the largest frame body copied next to the frame headers
	// to be written: larger ones are written from where they are (writev),
	// never copied.
	copyFrame = 1 << 10
	// scratchKeep and iovKeep bound what a connection keeps, between
	// replies, of the buffers it lays a reply out in.
	scratchKeep = 64 << 10
	iovKeep     = 1024
)

// Handler answers one request. req holds the request's frames, the
// envelope removed; they are views into the connection's read buffer,
// valid only during the call (copy what must outlive it). reply is an empty
// slice with room, the Replier's own: the Handler appends the reply's
// frames to it and returns the result, or returns a slice of its own.
//
// The Replier writes the frames returned, in one message after the
// request's envelope, before it reads that connection's next request, and
// keeps no reference to them afterwards; until then neither they nor the
// slice may change (a Handler that returns frames shared between calls, a
// cache say, must not modify them while they may be in use). A reply may
// include req's frames: they stay valid until it is written. A reply of no
// frames is sent as one empty frame (a ZeroMQ message has at least one).
//
// A Replier calls its Handler from each connection's goroutine: it may be
// called by several at once, and must be safe for that. A panic in it is not
// recovered.
type Handler func(req [][]byte, reply [][]byte) [][]byte

// ReplierOption configures a Replier.
type ReplierOption func(*Replier)

// WithMaxRequest sets the most bytes one request message may hold, its
// envelope included (default 64 KiB); a peer that sends a larger one is cut
// off.
func WithMaxRequest(n int) ReplierOption { return func(r *Replier) { r.maxRequest = max(n, 1) } }

// WithReplierMaxPeers sets how many connections the Replier takes at once
// (default 256); one beyond is closed at once, counted and logged.
func WithReplierMaxPeers(n int) ReplierOption { return func(r *Replier) { r.maxPeers = max(n, 1) } }

// WithIdleTimeout sets how long a connection may go without sending a
// request before it is closed (default five minutes).
func WithIdleTimeout(d time.Duration) ReplierOption {
	return func(r *Replier) { r.idleTimeout = max(d, time.Millisecond) }
}

// WithReplierStallTimeout sets how long a requester may take to accept a
// write (of up to a megabyte of its reply) before it is cut off (default
// 10s).
func WithReplierStallTimeout(d time.Duration) ReplierOption {
	return func(r *Replier) { r.stallTimeout = max(d, time.Millisecond) }
}

// WithReplierLogger sets the logger (default slog.Default()).
func WithReplierLogger(l *slog.Logger) ReplierOption { return func(r *Replier) { r.log = l } }

// Replier is the REP side of a ZeroMQ endpoint: it binds, accepts REQ and
// DEALER peers (libzmq, or our Requester), and answers each request with
// its Handler's reply. See the top of rep.go for the wire and the bounds.
type Replier struct {
	endpoint     string
	ln           net.Listener
	handler      Handler
	maxRequest   int
	maxPeers     int
	idleTimeout  time.Duration
	stallTimeout time.Duration
	log          *slog.Logger
	cutLog       ratelog.Limiter
	malformedLog ratelog.Limiter

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // every open connection, handshakes included
	peers  int                   // connections past the handshake
	closed bool
	wg     sync.WaitGroup // the accept loop and every connection's goroutine

	requests, replies, malformed, cut, idle, refused, handshakeErrors atomic.Uint64
}

// ReplierStats are a Replier's counters.
type ReplierStats struct {
	Endpoint        string
	Peers           int    // connections past the handshake now
	Requests        uint64 // requests passed to the Handler
	Replies         uint64 // replies written in full
	Malformed       uint64 // messages dropped, the connection kept: no empty delimiter, no frame after it, too many frames before or after it; commands other than PING, PONG, SUBSCRIBE and CANCEL
	Cut             uint64 // connections cut off: a request over WithMaxRequest or of too many frames, another protocol error, or replies (or PONGs) not read for WithReplierStallTimeout
	Idle            uint64 // connections closed after WithIdleTimeout without a request
	Refused         uint64 // connections closed at once: over WithReplierMaxPeers
	HandshakeErrors uint64 // connections that failed the ZMTP handshake (a socket type other than REQ or DEALER included)
}

// ListenReplier binds endpoint (tcp://host:port, tcp://*:port, ipc://path)
// and starts answering requests with h.
func ListenReplier(endpoint string, h Handler, opts ...ReplierOption) (*Replier, error) {
	if h == nil {
		return nil, errors.New("zmtp: ListenReplier: nil Handler")
	}
	network, addr, err := parseEndpoint(endpoint, true)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := removeStaleSocket(addr); err != nil {
			return nil, fmt.Errorf("zmtp: listen %s: %w", endpoint, err)
		}
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("zmtp: listen %s: %w", endpoint, err)
	}
	r := &Replier{endpoint: endpointOf(ln.Addr()), ln: ln, handler: h,
		maxRequest: DefaultMaxRequest, maxPeers: DefaultReplierMaxPeers,
		idleTimeout: DefaultIdleTimeout, stallTimeout: DefaultReplierStallTimeout, log: slog.Default(),
		cutLog: ratelog.Limiter{Every: 10 * time.Second}, malformedLog: ratelog.Limiter{Every: 10 * time.Second},
		conns: make(map[net.Conn]struct{})}
	for _, o := range opts {
		o(r)
	}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Endpoint returns the bound endpoint, with the port the system chose.
func (r *Replier) Endpoint() string { return r.endpoint }

// Stats returns the Replier's counters.
func (r *Replier) Stats() ReplierStats {
	r.mu.Lock()
	peers := r.peers
	r.mu.Unlock()
	return ReplierStats{Endpoint: r.endpoint, Peers: peers, Requests: r.requests.Load(), Replies: r.replies.Load(),
		Malformed: r.malformed.Load(), Cut: r.cut.Load(), Idle: r.idle.Load(), Refused: r.refused.Load(),
		HandshakeErrors: r.handshakeErrors.Load()}
}

// Close stops accepting, closes every connection and waits for their
// goroutines. A Handler call in progress is not interrupted: Close waits for
// it to return, and its reply is not sent. A second Close returns ErrClosed.
func (r *Replier) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.closed = true
	conns := make([]net.Conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	err := r.ln.Close()
	for _, c := range conns {
		c.Close() // a read or write in progress returns
	}
	r.wg.Wait()
	if err != nil {
		return fmt.Errorf("zmtp: close %s: %w", r.endpoint, err)
	}
	return nil
}

func (r *Replier) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *Replier) accept() {
	defer r.wg.Done()
	acc := newAcceptor(r.ln, r.endpoint, r.log, "WithReplierMaxPeers", &r.refused)
	acc.run(func() int { return r.maxPeers }, func(c net.Conn) admission {
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case r.closed:
			return closing
		case len(r.conns) >= r.maxPeers:
			return full
		}
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		return admitted
	}, r.serve)
}

// serve runs one connection: the handshake, then requests until the peer
// goes, breaks a bound, or the Replier closes.
func (r *Replier) serve(c net.Conn) {
	defer r.wg.Done()
	defer r.forget(c)
	if err := handshake(c, typeRep); err != nil {
		if !r.isClosed() {
			r.handshakeErrors.Add(1)
			r.log.Debug("zmtp: handshake failed", "endpoint", r.endpoint, "peer", c.RemoteAddr(), "err", err)
		}
		return
	}
	r.mu.Lock()
	r.peers++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.peers--
		r.mu.Unlock()
	}()
	rc := &repConn{r: r, conn: c, addr: c.RemoteAddr().String()}
	rc.run()
}

// forget closes c and gives up its place under the limit.
func (r *Replier) forget(c net.Conn) {
	c.Close()
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// repConn is one connection's state, used by its goroutine only.
type repConn struct {
	r           *Replier
	conn        net.Conn
	addr        string
	frames      [][]byte // the request being served, envelope included
	reply       [][]byte // the Handler's reply slice, ours to reuse
	out         frameWriter
	pingCtx     []byte // the context of the last PING not yet answered
	pingPending bool
	wbuf        []byte
}

// run reads requests and answers them, one at a time, until the connection
// ends.
func (rc *repConn) run() {
	r := rc.r
	// A request may not hold more than maxRequest bytes of bodies, nor its
	// headers more than one per frame: the buffer never grows beyond.
	fr := newFrameReader(requestBuffer, r.maxRequest, maxEnvelopeFrames+maxRequestFrames)
	rc.conn.SetReadDeadline(time.Now().Add(r.idleTimeout))
	for {
		for {
			m, msg, ok, err := fr.next()
			if err != nil {
				rc.cutOff(err)
				return
			}
			if !ok {
				break
			}
			if m.command {
				if err := rc.command(m.first); err != nil {
					rc.cutOff(err)
					return
				}
				continue
			}
			if !rc.serve(msg) {
				return
			}
		}
		if rc.pingPending && !rc.pong() {
			return
		}
		if _, err := fr.fill(rc.conn); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				r.idle.Add(1)
				r.log.Debug("zmtp: closing an idle connection", "endpoint", r.endpoint, "peer", rc.addr,
					"idle_timeout", r.idleTimeout)
				return
			}
			rc.gone(err)
			return
		}
	}
}

// serve answers the request msg (one whole message, parsed already). It
// reports whether the connection is still up.
func (rc *repConn) serve(msg []byte) bool {
	r := rc.r
	rc.frames = splitFrames(msg, rc.frames[:0])
	delim, reason := envelopeOf(rc.frames)
	if reason != "" {
		rc.dropMalformed(reason)
		return true
	}
	// A PONG owed goes first: the Handler may take a while.
	if rc.pingPending && !rc.pong() {
		return false
	}
	r.requests.Add(1)
	out := r.handler(rc.frames[delim+1:], rc.reply[:0])
	err := rc.write(rc.frames[:delim+1], out)
	// Keep no reference to the reply, nor to the request, past the write;
	// reuse our own slice only (the Handler may have returned one of its
	// own), grown to the size the Handler needed.
	clear(rc.reply[:cap(rc.reply)])
	clear(rc.frames[:cap(rc.frames)])
	if cap(out) > cap(rc.reply) && cap(out) <= iovKeep {
		rc.reply = make([][]byte, 0, cap(out))
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			rc.cutOff(fmt.Errorf("it stopped reading its replies: no write accepted for %v", r.stallTimeout))
		} else {
			rc.gone(err)
		}
		return false
	}
	r.replies.Add(1)
	rc.conn.SetReadDeadline(time.Now().Add(r.idleTimeout))
	return true
}

// envelopeOf finds the delimiter that ends a request's envelope: the first
// empty frame, within maxEnvelopeFrames, followed by one to maxRequestFrames
// frames. reason says why a request is malformed ("" if it is not), as
// libzmq's REP drops a message without a delimiter.
func envelopeOf(frames [][]byte) (delim int, reason string) {
	delim = -1
	for i, f := range frames[:min(len(frames), maxEnvelopeFrames)] {
		if len(f) == 0 {
			delim = i
			break
		}
	}
	switch {
	case delim < 0 && len(frames) > maxEnvelopeFrames:
		return 0, fmt.Sprintf("no empty delimiter frame within the first %d frames", maxEnvelopeFrames)
	case delim < 0:
		return 0, "no empty delimiter frame (a DEALER must send one before the request: send_multipart([b\"\", request]))"
	case delim == len(frames)-1:
		return 0, "no request frame after the empty delimiter"
	case len(frames)-delim-1 > maxRequestFrames:
		return 0, fmt.Sprintf("a request of %d frames (limit %d)", len(frames)-delim-1, maxRequestFrames)
	}
	return delim, ""
}

// command takes one command from the peer: a PING is answered (by one
// PONG for all those read together, before the next read); PONG, SUBSCRIBE
// and CANCEL are ignored, other commands dropped as malformed.
func (rc *repConn) command(body []byte) error {
	name, data, err := parseCommand(body)
	if err != nil {
		return err
	}
	switch name {
	case "PING":
		if len(data) < 2 || len(data)-2 > maxPingContext {
			return fmt.Errorf("%w: PING with a context of %d bytes", ErrProtocol, len(data)-2)
		}
		rc.pingCtx = append(rc.pingCtx[:0], data[2:]...)
		rc.pingPending = true
	case "PONG", "SUBSCRIBE", "CANCEL":
	default:
		rc.dropMalformed(fmt.Sprintf("an unexpected command %q", name))
	}
	return nil
}

// pong answers the last PING. It reports whether the connection is still
// up.
func (rc *repConn) pong() bool {
	rc.pingPending = false
	rc.wbuf = appendCommand(rc.wbuf[:0], "PONG", rc.pingCtx)
	rc.conn.SetWriteDeadline(time.Now().Add(rc.r.stallTimeout))
	if _, err := rc.conn.Write(rc.wbuf); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			rc.cutOff(fmt.Errorf("it does not read: a PONG not accepted for %v", rc.r.stallTimeout))
		} else {
			rc.gone(err)
		}
		return false
	}
	return true
}

// write sends the reply [envelope..., frames...].
func (rc *repConn) write(envelope, frames [][]byte) error {
	if len(frames) == 0 {
		frames = emptyMessage
	}
	rc.out.build(envelope, frames)
	return rc.out.writeTo(rc.conn, rc.r.stallTimeout)
}

// emptyMessage is a message of one empty frame.
var emptyMessage = [][]byte{{}}

// dropMalformed counts a malformed message, dropped, and logs it at Warn,
// at most every 10 s with the count since.
func (rc *repConn) dropMalformed(reason string) {
	r := rc.r
	r.malformed.Add(1)
	if ok, more := r.malformedLog.Allow(time.Now()); ok {
		r.log.Warn("zmtp: malformed request dropped", "endpoint", r.endpoint, "peer", rc.addr, "reason", reason,
			"others_since_last_log", more)
	}
}

// cutOff counts a peer cut off for breaking the protocol or a bound, and
// logs it at Warn, at most every 10 s with the count since (a hostile
// client can reconnect at will). The caller then returns, which closes the
// connection.
func (rc *repConn) cutOff(reason error) {
	r := rc.r
	if r.isClosed() {
		return
	}
	r.cut.Add(1)
	if ok, more := r.cutLog.Allow(time.Now()); ok {
		r.log.Warn("zmtp: requester disconnected", "endpoint", r.endpoint, "peer", rc.addr, "reason", reason,
			"others_since_last_log", more)
	}
}

// gone logs a connection that ended by the peer's doing or by Close.
func (rc *repConn) gone(err error) {
	rc.r.log.Debug("zmtp: requester gone", "endpoint", rc.r.endpoint, "peer", rc.addr, "err", err)
}

// grow returns a buffer of size bytes that starts with b's.
func grow(b []byte, size int) []byte {
	nb := make([]byte, size)
	copy(nb, b)
	return nb
}

// splitFrames appends to dst the frame bodies of msg, one well-formed
// message (parseMessage checked it), each capped at its length so that an
// append to one cannot overwrite the next.
func splitFrames(msg []byte, dst [][]byte) [][]byte {
	for len(msg) > 0 {
		_, size, hn, _ := frameHeader(msg)
		end := hn + int(size)
		dst = append(dst, msg[hn:end:end])
		msg = msg[end:]
	}
	return dst
}

// frameWriter lays a message out for writing without copying its large
// frames: frame headers, and bodies of up to copyFrame bytes, are copied
// into one buffer; larger bodies are written from where they are, in the
// same writev.
type frameWriter struct {
	scratch []byte
	iov     [][]byte
	group   net.Buffers
}

// build lays out the message made of a's frames then b's (with MORE on
// every frame but the last). a and b must not both be empty.
func (fw *frameWriter) build(a, b [][]byte) {
	// The iovecs point into scratch: size it first, so that it never moves.
	size := 0
	for _, part := range [2][][]byte{a, b} {
		for _, f := range part {
			size += frameHeaderLong
			if len(f) <= copyFrame {
				size += len(f)
			}
		}
	}
	if cap(fw.scratch) < size {
		fw.scratch = make([]byte, 0, size)
	}
	s, start := fw.scratch[:0], 0
	fw.iov = fw.iov[:0]
	last := len(a) + len(b) - 1
	i := 0
	for _, part := range [2][][]byte{a, b} {
		for _, f := range part {
			var flags byte
			if i < last {
				flags = flagMore
			}
			i++
			if len(f) > 255 {
				s = append(s, flags|flagLong)
				s = binary.BigEndian.AppendUint64(s, uint64(len(f)))
			} else {
				s = append(s, flags, byte(len(f)))
			}
			if len(f) <= copyFrame {
				s = append(s, f...)
				continue
			}
			fw.iov = append(fw.iov, s[start:len(s):len(s)], f)
			start = len(s)
		}
	}
	if start < len(s) {
		fw.iov = append(fw.iov, s[start:len(s):len(s)])
	}
	fw.scratch = s
}

// writeTo writes the message laid out by build to c, at most writeGroup
// bytes per system call; with stall > 0 each under a write deadline of
// stall from its start (without, under the deadline c has). It keeps no
// reference to the message's frames afterwards.
func (fw *frameWriter) writeTo(c net.Conn, stall time.Duration) error {
	defer fw.release()
	iov := fw.iov
	for len(iov) > 0 {
		g, size := fw.group[:0], 0
		for len(iov) > 0 && size < writeGroup {
			b := iov[0]
			if room := writeGroup - size; len(b) > room {
				g = append(g, b[:room])
				iov[0] = b[room:]
				break
			}
			g = append(g, b)
			size += len(b)
			iov = iov[1:]
		}
		fw.group = g[:0] // WriteTo consumes g: keep the array's start
		if stall > 0 {
			c.SetWriteDeadline(time.Now().Add(stall))
		}
		if _, err := g.WriteTo(c); err != nil {
			return err
		}
	}
	return nil
}

// release drops the references to the frames written, and buffers grown
// beyond what is worth keeping.
func (fw *frameWriter) release() {
	clear(fw.iov[:cap(fw.iov)])
	clear(fw.group[:cap(fw.group)])
	fw.iov, fw.group = fw.iov[:0], fw.group[:0]
	if cap(fw.scratch) > scratchKeep {
		fw.scratch = nil
	}
	if cap(fw.iov) > iovKeep {
		fw.iov, fw.group = nil, nil
	}
}

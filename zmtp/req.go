package zmtp

// The REQ side of ZeroMQ's request-reply pattern (rfc.zeromq.org/spec/28):
// a client of a Replier, or of a libzmq REP (or ROUTER).
//
// A Requester connects lazily: the first Request dials, and so does the
// next one after a connection is lost or dropped. A Request that cannot
// connect fails at once with the reason (connection refused, say): it does
// not wait for the server to come up, as a libzmq REQ would, so that the
// caller learns why and chooses when to try again.
//
// While connected, a reader goroutine reads the connection: it answers the
// server's PINGs (libzmq's ZMQ_HEARTBEAT_IVL) between requests too, and
// notices at once a connection the server closed (a Replier closes idle
// ones), so that the next Request dials afresh rather than failing on it.
// It hands each reply to the Request waiting for it: a small one copied
// out of the read buffer, a large one with the buffer it is in (the reader
// goes on in a new one), so that a reply's memory is never reused and its
// frames are the caller's, whatever other goroutines' Requests come after.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/tickcast/tickcast/internal/ratelog"
)

// Requester defaults.
const (
	// DefaultMaxReply bounds one reply message, envelope included. A
	// larger one fails its Request and drops the connection, from the
	// frame header that declares it, before it is read.
	DefaultMaxReply = 64 << 20
	// maxReplyFrames bounds the frames of a reply (its delimiter
	// included): a reply of more fails its Request and drops the
	// connection.
	maxReplyFrames = 1 << 16
	// replyBuffer is the read buffer a connection starts with and keeps;
	// it grows for a larger reply, which takes it. A reply of up to
	// copyReply bytes is copied out of it instead.
	replyBuffer = 64 << 10
	copyReply   = 16 << 10
	// requesterPongTimeout bounds the write of a PONG: a server that pings
	// and does not read is dropped.
	requesterPongTimeout = time.Second
)

// RequesterOption configures a Requester.
type RequesterOption func(*Requester)

// WithMaxReply sets the most bytes a reply may hold (default 64 MiB); a
// larger one fails its Request, which drops the connection.
func WithMaxReply(n int) RequesterOption { return func(q *Requester) { q.maxReply = max(n, 1) } }

// WithRequesterLogger sets the logger (default slog.Default()). A
// Requester's failures are its Requests' errors, and logged at Debug only,
// but for an endpoint it cannot connect to (refused, unreachable, failing
// the handshake): that is logged at Warn, at once and then at most every
// 30 s with the count of failed attempts, and so is the first connection
// after failures.
func WithRequesterLogger(l *slog.Logger) RequesterOption { return func(q *Requester) { q.log = l } }

// Requester is the REQ side of a ZeroMQ endpoint: it sends requests to a
// REP (a Replier, or libzmq's) and returns their replies, one at a time.
type Requester struct {
	endpoint      string
	network, addr string
	maxReply      int
	log           *slog.Logger
	sem           chan struct{} // held by the Request in progress, and by Close for ever
	closedCh      chan struct{}
	life          context.Context // ends at Close: dials in progress stop
	endLife       context.CancelFunc

	mu     sync.Mutex // guards conn and closed; never held during I/O
	conn   *reqConn
	closed bool

	out     frameWriter // the Request's (it holds sem)
	dialLog dialFailures
}

// DialRequester returns a Requester for endpoint (tcp://host:port or
// ipc://path). It checks the endpoint's syntax only: the first Request
// connects.
func DialRequester(endpoint string, opts ...RequesterOption) (*Requester, error) {
	network, addr, err := parseEndpoint(endpoint, false)
	if err != nil {
		return nil, err
	}
	q := &Requester{endpoint: endpoint, network: network, addr: addr, maxReply: DefaultMaxReply,
		log: slog.Default(), sem: make(chan struct{}, 1), closedCh: make(chan struct{}),
		dialLog: dialFailures{limit: ratelog.Limiter{Every: failLogEvery}}}
	for _, o := range opts {
		o(q)
	}
	q.life, q.endLife = context.WithCancel(context.Background())
	return q, nil
}

// Endpoint returns the endpoint the Requester connects to.
func (q *Requester) Endpoint() string { return q.endpoint }

// Request sends req (its frames: none sends one empty frame) and returns
// the reply's frames, envelope removed. They are the caller's: the
// Requester never reuses their memory (so they stay valid after the next
// Request too, whichever goroutine makes it).
//
// Requests are one at a time: concurrent callers wait their turn (while
// their ctx lets them). When ctx ends first, Request returns ctx.Err(); when
// the connection fails, or the reply breaks the protocol or WithMaxReply,
// an error saying why (wrapping the OS error, or ErrProtocol). Either way
// the connection is dropped, as REQ's strict alternation of request and
// reply cannot resume on it, and the next Request connects anew. After
// Close, Request returns ErrClosed.
//
// A request is sent once, never again by the Requester: whether a failed
// one reached the server is unknown, and a caller that retries must know
// the request can be repeated. (A connection the server closes while idle
// is noticed and replaced before the next Request; one it closes at the
// very moment a request goes out fails that Request.)
func (q *Requester) Request(ctx context.Context, req ...[]byte) ([][]byte, error) {
	select {
	case q.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-q.closedCh:
		return nil, ErrClosed
	}
	defer func() { <-q.sem }()
	switch {
	case q.isClosed():
		return nil, ErrClosed
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	if len(req) == 0 {
		req = emptyMessage
	}
	q.mu.Lock()
	rc := q.conn
	q.mu.Unlock()
	if rc != nil {
		select {
		case <-rc.done: // lost while idle: say why, and dial again
			q.drop(rc, rc.err)
			rc = nil
		default:
		}
	}
	if rc == nil {
		var err error
		if rc, err = q.connect(ctx); err != nil {
			return nil, err
		}
	}

	rc.mu.Lock()
	rc.expecting = true
	rc.mu.Unlock()
	q.out.build(emptyMessage, req) // the delimiter, then the request
	rc.wmu.Lock()
	deadline, _ := ctx.Deadline()
	rc.c.SetWriteDeadline(deadline)
	// After our deadline is set: ctx's end, from now on, moves it.
	stop := context.AfterFunc(ctx, func() { rc.c.SetWriteDeadline(aLongTimeAgo) })
	err := q.out.writeTo(rc.c, 0)
	rc.wmu.Unlock()
	if !stop() || err != nil {
		q.drop(rc, err)
		return nil, q.failure(ctx, err)
	}

	select {
	case <-rc.replies:
		return rc.reply(), nil
	case <-rc.done:
		select {
		case <-rc.replies: // the reply came, then the connection went
			return rc.reply(), nil
		default:
		}
		q.drop(rc, rc.err)
		return nil, q.failure(ctx, rc.err)
	case <-ctx.Done():
		q.drop(rc, ctx.Err())
		return nil, ctx.Err()
	case <-q.closedCh:
		return nil, ErrClosed // Close drops the connection
	}
}

// aLongTimeAgo is a deadline that has passed: I/O under it returns at once.
var aLongTimeAgo = time.Unix(1, 0)

// failure is the error a Request returns for err: ErrClosed after Close,
// ctx's error once it has ended (the connection fails because of it), else
// err.
func (q *Requester) failure(ctx context.Context, err error) error {
	switch {
	case q.isClosed():
		return ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("zmtp: request %s: %w", q.endpoint, err)
}

func (q *Requester) isClosed() bool {
	select {
	case <-q.closedCh:
		return true
	default:
		return false
	}
}

// connect dials, runs the handshake within ctx and handshakeTimeout, and
// starts the connection's reader.
func (q *Requester) connect(ctx context.Context) (*reqConn, error) {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopLife := context.AfterFunc(q.life, cancel) // Close stops the dial
	defer stopLife()
	dialer := net.Dialer{Timeout: dialTimeout}
	c, err := dialer.DialContext(dctx, q.network, q.addr)
	if err != nil {
		q.connectFailed(ctx, err)
		return nil, q.failure(ctx, fmt.Errorf("connect: %w", err))
	}
	deadline := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	stop := context.AfterFunc(dctx, func() { c.Close() }) // ctx or Close ends the handshake
	err = handshakeUntil(c, typeReq, deadline)
	if !stop() && err == nil {
		err = net.ErrClosed
	}
	if err != nil {
		c.Close()
		q.connectFailed(ctx, err)
		return nil, q.failure(ctx, err)
	}
	rc := &reqConn{q: q, c: c, replies: make(chan struct{}, 1), done: make(chan struct{})}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		c.Close()
		return nil, ErrClosed
	}
	q.conn = rc
	q.mu.Unlock()
	q.dialLog.succeeded(q.log, q.endpoint)
	go rc.read()
	return rc, nil
}

// connectFailed logs a failed attempt to connect (dialFailures), unless it
// failed because ctx ended or the Requester closed: those are the caller's.
func (q *Requester) connectFailed(ctx context.Context, err error) {
	if ctx.Err() != nil || q.isClosed() {
		return
	}
	q.dialLog.failed(q.log, q.endpoint, err, 0)
}

// drop closes rc, a failed or abandoned connection, and waits for its
// reader.
func (q *Requester) drop(rc *reqConn, why error) {
	q.mu.Lock()
	if q.conn == rc {
		q.conn = nil
	}
	q.mu.Unlock()
	rc.c.Close()
	<-rc.done
	q.log.Debug("zmtp: request connection dropped", "endpoint", q.endpoint, "reason", why)
}

// Close closes the connection, makes a Request in progress return
// ErrClosed, and waits for it and for the connection's reader. A second
// Close returns ErrClosed.
func (q *Requester) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	q.closed = true
	rc := q.conn
	q.mu.Unlock()
	close(q.closedCh)
	q.endLife()
	if rc != nil {
		rc.c.Close() // a write in progress returns
	}
	q.sem <- struct{}{} // the Request in progress has returned; no other starts
	q.mu.Lock()
	rc, q.conn = q.conn, nil
	q.mu.Unlock()
	if rc != nil {
		rc.c.Close()
		<-rc.done
	}
	return nil
}

// reqConn is one connection of a Requester.
type reqConn struct {
	q       *Requester
	c       net.Conn
	wmu     sync.Mutex    // serialises writes: the Request's, and the reader's PONGs
	replies chan struct{} // a reply is ready (buffered: the reader never waits)
	done    chan struct{} // closed when the reader has returned; err says why
	err     error
	pongBuf []byte // the reader's

	mu        sync.Mutex // guards below
	expecting bool       // a request was sent and its reply has not come
	frames    [][]byte   // the reply handed over
}

// reply returns the reply the reader handed over.
func (rc *reqConn) reply() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	frames := rc.frames
	rc.frames = nil
	return frames
}

// read is the connection's reader goroutine: it parses what the server
// sends, answers PINGs, and hands the reply to the Request that expects
// one; a reply nobody expects, a malformed one, or one beyond the bounds
// ends it, as does any read error (the connection is then dropped).
func (rc *reqConn) read() {
	defer close(rc.done)
	q := rc.q
	fr := newFrameReader(replyBuffer, q.maxReply, maxReplyFrames)
	for {
		for {
			m, msg, ok, err := fr.next()
			if err != nil {
				rc.err = err
				return
			}
			if !ok {
				break
			}
			if m.command {
				if err := rc.command(m.first); err != nil {
					rc.err = err
					return
				}
				continue
			}
			// A REP's reply starts with the empty delimiter our request
			// had (a libzmq REQ drops one that does not; we fail the
			// Request rather than wait for nothing).
			if m.frames < 2 || len(m.first) != 0 {
				rc.err = fmt.Errorf("%w: a reply without the empty delimiter frame first (%d frames)", ErrProtocol, m.frames)
				return
			}
			rc.mu.Lock()
			expecting := rc.expecting
			rc.expecting = false
			rc.mu.Unlock()
			if !expecting {
				rc.err = fmt.Errorf("%w: a message when no request was waiting for a reply", ErrProtocol)
				return
			}
			// The reply's memory becomes the caller's: a small reply is
			// copied out of the buffer; a large one takes the buffer, and
			// the reader goes on in a new one.
			if len(msg) <= copyReply {
				msg = bytes.Clone(msg)
			} else {
				fr.swap(make([]byte, max(replyBuffer, fr.pending())))
			}
			frames := splitFrames(msg, make([][]byte, 0, m.frames))[1:]
			rc.mu.Lock()
			rc.frames = frames
			rc.mu.Unlock()
			rc.replies <- struct{}{}
		}
		if _, err := fr.fill(rc.c); err != nil {
			rc.err = fmt.Errorf("connection lost: %w", err)
			return
		}
	}
}

// command handles a command from the server: a PING is answered at once,
// others are ignored.
func (rc *reqConn) command(body []byte) error {
	name, data, err := parseCommand(body)
	if err != nil || name != "PING" {
		return err
	}
	if len(data) < 2 || len(data)-2 > maxPingContext {
		return fmt.Errorf("%w: PING with a context of %d bytes", ErrProtocol, len(data)-2)
	}
	rc.pongBuf = appendCommand(rc.pongBuf[:0], "PONG", data[2:])
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	rc.c.SetWriteDeadline(time.Now().Add(requesterPongTimeout))
	if _, err := rc.c.Write(rc.pongBuf); err != nil {
		return fmt.Errorf("the server does not take our PONGs: %w", err)
	}
	return nil
}

package zmtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/internal/ratelog"
	"github.com/tickcast/tickcast/port"
)

// Defaults.
const (
	// DefaultReconnect is ZeroMQ's default ZMQ_RECONNECT_IVL.
	DefaultReconnect = 100 * time.Millisecond
	// DefaultMaxMessage bounds one received message (all its frames).
	DefaultMaxMessage = 16 << 20
	// maxMessageFrames bounds the frames of one received message: tickcast
	// messages have two; a libzmq publisher's may have more, which are
	// foreign to a feed and skipped, but not without end.
	maxMessageFrames = 256
	readBuffer       = 256 << 10
	dialTimeout      = 2 * time.Second
	// writeTimeout bounds a subscription's write: a publisher that does not
	// read what its subscribers send is dropped and dialled again.
	writeTimeout = time.Second
	// pongTimeout is how long a PONG may take to go: a publisher that
	// sends PINGs and does not read our PONGs is dropped, rather than
	// blocking Next. PINGs read together get one PONG (the last one's
	// context), so a flood of them costs one write per read.
	pongTimeout = 50 * time.Millisecond
	// failLogEvery is how often an unreachable publisher is logged.
	failLogEvery = 30 * time.Second
)

// SubOption configures a Sub.
type SubOption func(*Sub)

// WithReconnect sets the pause between connection attempts (default 100ms).
func WithReconnect(d time.Duration) SubOption {
	return func(s *Sub) { s.reconnect = max(d, time.Millisecond) }
}

// WithMaxMessage bounds the size of one message (default 16 MiB); a peer
// that sends a larger one is disconnected.
func WithMaxMessage(n int) SubOption { return func(s *Sub) { s.maxMsg = max(n, 1024) } }

// WithSubLogger sets the logger (default slog.Default()).
func WithSubLogger(l *slog.Logger) SubOption { return func(s *Sub) { s.log = l } }

// Sub is the SUB side of a ZeroMQ endpoint: it connects to a PUB (libzmq,
// zmq4 or tickcast), reconnecting whenever the connection is lost, sends its
// subscriptions, and reads messages; or it binds, and publishers connect to
// it (ListenSub). It implements port.Source.
//
// A background goroutine connects (from Dial on, as a ZeroMQ socket does, so
// nothing published after Dial is missed for want of a connection), while
// Next reads the socket in the caller's goroutine: no hand-off between
// goroutines stands between the kernel and the application.
type Sub struct {
	endpoint      string
	network, addr string
	reconnect     time.Duration
	maxMsg        int
	log           *slog.Logger
	closedCh      chan struct{}
	ctx           context.Context // done when closed
	cancel        context.CancelFunc
	closeOnce     sync.Once
	ready         chan net.Conn // connections the connector has set up
	redial        chan struct{} // Next asks the connector for a new connection
	connectorDone chan struct{}
	woken         atomic.Bool   // Wake was called: Next returns
	wakeCh        chan struct{} // Wake's signal to a Next waiting for a connection

	mu      sync.Mutex // guards conn, subs and closed; held briefly, never during I/O
	conn    net.Conn
	subs    [][]byte
	closed  bool
	wmu     sync.Mutex // serialises writes to the connection (they have deadlines); a binding Sub's changes of subscriptions
	wbuf    []byte
	dialLog dialFailures // connection failures, logged at Warn

	// A Sub that binds (ListenSub): its publishers' connections, and the
	// most it takes at once.
	srv      *subServer
	maxPeers int

	// Next's own state.
	cur          net.Conn
	buf          []byte // read buffer; buf[r:w] not yet parsed
	r, w         int
	need         int       // bytes buf[r:w] must hold before parsing again
	pingCtx      []byte    // the context of the last PING not yet answered
	pingPending  bool      // a PING waits for its PONG
	readAt       time.Time // when buf[r:w] was read
	readDeadline time.Time
	wait         *time.Timer
	batch        port.Batch
}

var _ port.Source = (*Sub)(nil)

// Dial returns a Sub for endpoint (tcp://host:port or ipc://path) and starts
// connecting in the background; a publisher that is not up yet is not an
// error.
func Dial(endpoint string, opts ...SubOption) (*Sub, error) {
	network, addr, err := parseEndpoint(endpoint, false)
	if err != nil {
		return nil, err
	}
	s := newSub(endpoint, opts)
	s.network, s.addr = network, addr
	s.ready, s.redial = make(chan net.Conn, 1), make(chan struct{}, 1)
	s.connectorDone = make(chan struct{})
	s.buf = make([]byte, readBuffer)
	go s.connector()
	return s, nil
}

func newSub(endpoint string, opts []SubOption) *Sub {
	s := &Sub{
		endpoint: endpoint, reconnect: DefaultReconnect, maxMsg: DefaultMaxMessage, maxPeers: DefaultMaxPublishers,
		log: slog.Default(), closedCh: make(chan struct{}), wakeCh: make(chan struct{}, 1),
		dialLog: dialFailures{limit: ratelog.Limiter{Every: failLogEvery}},
	}
	for _, o := range opts {
		o(s)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wait = time.NewTimer(time.Hour)
	s.wait.Stop()
	return s
}

// Endpoint returns the endpoint the Sub connects to; or, for a Sub that
// binds, the bound endpoint, with the port the system chose.
func (s *Sub) Endpoint() string { return s.endpoint }

// SubStats are a Sub's counters.
type SubStats struct {
	Endpoint   string // as Endpoint returns it
	Publishers int    // connections to publishers now (a Sub that connects: 0 or 1)
	// A Sub that binds counts the connections it refused, over
	// WithMaxPublishers; those that failed the ZMTP handshake (a socket
	// type other than PUB or XPUB included); and those it cut off for
	// breaking the protocol or its bounds (a message over WithMaxMessage,
	// say).
	Refused, HandshakeErrors, Cut uint64
}

// Stats returns the Sub's counters. It may be called from any goroutine.
func (s *Sub) Stats() SubStats {
	if s.srv != nil {
		return s.srv.stats()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SubStats{Endpoint: s.endpoint}
	if s.conn != nil {
		st.Publishers = 1
	}
	return st
}

// Subscribe sends a subscription for prefix now if connected, and on every
// reconnection. It may be called while Next runs.
func (s *Sub) Subscribe(prefix []byte) error { return s.SubscribeAll([][]byte{prefix}) }

// SubscribeAll subscribes to every prefix, in one write if connected (or
// with the others at connection): a publisher reads them together, so that
// its WaitSubscribers counts this subscriber with all of them, not with the
// first alone. It may be called while Next runs.
func (s *Sub) SubscribeAll(prefixes [][]byte) error {
	if s.srv != nil {
		return s.srv.subscribe(prefixes)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	for _, p := range prefixes {
		s.subs = append(s.subs, bytes.Clone(p))
	}
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		s.wmu.Lock()
		s.wbuf = s.wbuf[:0]
		for _, p := range prefixes {
			s.wbuf = appendSubscription(s.wbuf, true, p)
		}
		err := s.writeTo(c, s.wbuf, writeTimeout)
		s.wmu.Unlock()
		if err != nil {
			// The connection is dropped: Next sees it and reconnects,
			// resubscribing to everything.
			s.log.Debug("zmtp: subscribe write failed", "endpoint", s.endpoint, "err", err)
		}
	}
	return nil
}

// Unsubscribe undoes one Subscribe of prefix: the publisher is told now if
// connected, and reconnections no longer ask for it. It may be called while
// Next runs.
func (s *Sub) Unsubscribe(prefix []byte) error {
	if s.srv != nil {
		return s.srv.unsubscribe(prefix)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	i := slices.IndexFunc(s.subs, func(p []byte) bool { return bytes.Equal(p, prefix) })
	if i < 0 {
		s.mu.Unlock()
		return nil
	}
	s.subs = slices.Delete(s.subs, i, i+1)
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		s.wmu.Lock()
		s.wbuf = appendSubscription(s.wbuf[:0], false, prefix)
		err := s.writeTo(c, s.wbuf, writeTimeout)
		s.wmu.Unlock()
		if err != nil {
			s.log.Debug("zmtp: unsubscribe write failed", "endpoint", s.endpoint, "err", err)
		}
	}
	return nil
}

// Wake makes a Next in progress return soon with what it has (perhaps
// nothing); if none is, the next call may return at once. It may be called
// from any goroutine.
func (s *Sub) Wake() {
	s.woken.Store(true)
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
	if s.srv != nil {
		return // its Next waits on wakeCh alone
	}
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		c.SetReadDeadline(time.Now()) // a Read in progress returns
	}
}

// unsetDeadline marks the connection's read deadline as unknown (Wake may
// have moved it): the next read sets it again.
var unsetDeadline = time.Unix(0, 1)

// writeTo writes b to c within timeout. A write that fails, even in part,
// leaves the stream unusable: c is closed (Next then reconnects).
func (s *Sub) writeTo(c net.Conn, b []byte, timeout time.Duration) error {
	c.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.Write(b)
	if err != nil {
		c.Close()
	}
	return err
}

// connector makes connections: one at start, and another each time Next
// reports the current one lost, after the reconnect pause.
func (s *Sub) connector() {
	defer close(s.connectorDone)
	for {
		c := s.connect()
		if c == nil {
			return // closed
		}
		select {
		case s.ready <- c:
		case <-s.closedCh:
			c.Close()
			return
		}
		select {
		case <-s.redial:
		case <-s.closedCh:
			return
		}
	}
}

// connect dials until a connection is up, handshaken and subscribed, or
// the Sub is closed (nil).
func (s *Sub) connect() net.Conn {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(s.reconnect)
			select {
			case <-t.C:
			case <-s.closedCh:
				t.Stop()
				return nil
			}
		}
		d := net.Dialer{Timeout: dialTimeout}
		c, err := d.DialContext(s.ctx, s.network, s.addr)
		if err == nil {
			stop := context.AfterFunc(s.ctx, func() { c.Close() }) // Close interrupts the handshake
			err = handshake(c, typeSub)
			stop()
			if err != nil {
				c.Close()
			}
		}
		if err != nil {
			s.connectFailed(err)
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 20) // absorb bursts while the application works
		}
		// The subscriptions go out before any Subscribe or Unsubscribe
		// that sees the connection can write its own: wmu is taken
		// before the connection is published. (An UNSUBSCRIBE written
		// first would be ignored by the publisher, which would then take
		// the subscription it undoes, and keep it.) Nothing holds mu
		// while it waits for wmu.
		s.wmu.Lock()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.wmu.Unlock()
			c.Close()
			return nil
		}
		var subs []byte
		for _, p := range s.subs {
			subs = appendSubscription(subs, true, p)
		}
		s.conn = c
		s.mu.Unlock()
		err = s.writeTo(c, subs, writeTimeout)
		s.wmu.Unlock()
		if err != nil {
			s.mu.Lock()
			if s.conn == c {
				s.conn = nil
			}
			s.mu.Unlock()
			s.connectFailed(err)
			continue
		}
		s.dialLog.succeeded(s.log, s.endpoint)
		return c
	}
}

// connectFailed logs a failed connection attempt: at Warn, the first and
// then one every failLogEvery with the count, so that a publisher that is
// down, or an endpoint that names the wrong thing, is visible without
// flooding the log (dialFailures).
func (s *Sub) connectFailed(err error) {
	if s.isClosed() {
		return
	}
	s.dialLog.failed(s.log, s.endpoint, err, s.reconnect)
}

// Next returns the messages that are complete in the read buffer, reading
// the socket if there are none, waiting for a connection if need be.
func (s *Sub) Next(deadline time.Time) (*port.Batch, error) {
	if s.srv != nil {
		return s.srv.next(deadline)
	}
	b := &s.batch
	b.Reset()
	for {
		if s.cur == nil {
			var timeout <-chan time.Time
			if !deadline.IsZero() {
				s.wait.Reset(time.Until(deadline))
				timeout = s.wait.C
			}
			select {
			case c := <-s.ready:
				s.wait.Stop()
				s.cur, s.r, s.w, s.readDeadline = c, 0, 0, unsetDeadline
				b.Events = append(b.Events, port.LineEvent{Kind: port.LineUp, Detail: c.RemoteAddr().String()})
			case <-timeout:
				return b, nil
			case <-s.wakeCh:
				s.wait.Stop()
				s.woken.Store(false)
				return b, nil
			case <-s.closedCh:
				return nil, ErrClosed
			}
		}
		if err := s.parse(); err != nil {
			s.drop(err)
			return b, nil
		}
		if len(b.Msgs) > 0 || len(b.Events) > 0 {
			b.Time = s.readAt
			return b, nil
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return b, nil
		}
		if err := s.read(deadline); err != nil {
			if s.isClosed() {
				return nil, ErrClosed
			}
			// A timeout is the caller's deadline or a Wake's, never a
			// failure: Wake raises woken before it moves the read
			// deadline, so its move can land after the Next it meant to
			// end has returned, and end a later read, with no deadline
			// of its own and woken already cleared. Either way the
			// deadline on the connection is no longer the one recorded:
			// the next read sets it again.
			if errors.Is(err, os.ErrDeadlineExceeded) || err == errWoken {
				s.woken.Store(false)
				s.readDeadline = unsetDeadline
				return b, nil
			}
			s.drop(err)
			return b, nil
		}
	}
}

func (s *Sub) isClosed() bool {
	select {
	case <-s.closedCh:
		return true
	default:
		return false
	}
}

// errWoken is read's answer to a Wake.
var errWoken = errors.New("zmtp: woken")

// read reads more bytes into the buffer, making room first.
func (s *Sub) read(deadline time.Time) error {
	if s.r == s.w {
		s.r, s.w = 0, 0
	} else if s.r > 0 && len(s.buf)-s.w < readBuffer/4 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	c := s.cur
	if !deadline.Equal(s.readDeadline) {
		if err := c.SetReadDeadline(deadline); err != nil {
			return err
		}
		s.readDeadline = deadline
	}
	// After setting the deadline: a Wake before this point is seen here,
	// one after it has moved the deadline and ends the Read.
	if s.woken.Swap(false) {
		return errWoken
	}
	n, err := c.Read(s.buf[s.w:])
	if n > 0 {
		s.w += n
		s.readAt = time.Now()
		return nil
	}
	return err
}

// parse appends every complete message in the buffer to the batch. A
// message larger than the buffer grows it, up to the message limit. A
// partial message is parsed again only once the bytes it needs are in.
// PINGs among them get one PONG.
func (s *Sub) parse() error {
	err := s.parseMessages()
	if err == nil && s.pingPending {
		s.pingPending = false
		s.wmu.Lock()
		s.wbuf = appendCommand(s.wbuf[:0], "PONG", s.pingCtx)
		err = s.writeTo(s.cur, s.wbuf, pongTimeout)
		s.wmu.Unlock()
		if err != nil {
			err = fmt.Errorf("zmtp: the publisher does not take our PONGs: %w", err)
		}
	}
	return err
}

func (s *Sub) parseMessages() error {
	b := &s.batch
	for {
		if s.w-s.r < s.need {
			if s.need > len(s.buf)-s.r && len(b.Msgs) == 0 {
				// Grow, keeping the unparsed bytes (and nothing the
				// batch refers to: it is empty). With messages in the
				// batch, this waits for the next call.
				nb := make([]byte, max(s.need, readBuffer))
				s.w = copy(nb, s.buf[s.r:s.w])
				s.r = 0
				s.buf = nb
			}
			return nil
		}
		m, n, need, err := parseMessage(s.buf[s.r:s.w], s.maxMsg, maxMessageFrames)
		if err != nil {
			return err
		}
		if n == 0 {
			s.need = need
			continue
		}
		s.r, s.need = s.r+n, 0
		if m.command {
			if err := s.command(m.first); err != nil {
				return err
			}
			continue
		}
		b.Msgs = append(b.Msgs, port.Raw{Topic: m.first, Body: m.second, Frames: m.frames, Size: m.size})
	}
}

// command handles a command from the PUB: a PING is answered once the
// messages read with it are parsed; others are ignored. An error drops the
// connection.
func (s *Sub) command(body []byte) error {
	name, data, err := parseCommand(body)
	if err != nil || name != "PING" {
		return err
	}
	if len(data) < 2 || len(data)-2 > maxPingContext {
		return fmt.Errorf("%w: PING with a context of %d bytes", ErrProtocol, len(data)-2)
	}
	s.pingCtx = append(s.pingCtx[:0], data[2:]...)
	s.pingPending = true
	return nil
}

// drop closes a failed connection, reports the line down and asks the
// connector for another.
func (s *Sub) drop(err error) {
	s.mu.Lock()
	if s.conn == s.cur {
		s.conn = nil
	}
	s.mu.Unlock()
	s.cur.Close()
	s.cur, s.r, s.w, s.need = nil, 0, 0, 0
	if s.isClosed() {
		return
	}
	s.log.Debug("zmtp: connection lost", "endpoint", s.endpoint, "err", err)
	s.batch.Events = append(s.batch.Events, port.LineEvent{Kind: port.LineDown, Detail: err.Error()})
	select {
	case s.redial <- struct{}{}:
	default:
	}
}

// Close closes the connection (a binding Sub: the listener and every
// connection, and waits for their goroutines) and makes a blocked Next
// return ErrClosed.
func (s *Sub) Close() error {
	s.closeOnce.Do(func() {
		close(s.closedCh)
		s.cancel()
		s.mu.Lock()
		s.closed = true
		if s.conn != nil {
			s.conn.Close() // makes a blocked Read in Next, or a write, return
			s.conn = nil
		}
		s.mu.Unlock()
		if s.srv != nil {
			s.srv.close()
			return
		}
		<-s.connectorDone
		select {
		case c := <-s.ready: // made but never taken
			c.Close()
		default:
		}
	})
	return nil
}

package zmtp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/tickcast/tickcast/subscriber"
)

// Defaults.
const (
	// DefaultReconnect is ZeroMQ's default ZMQ_RECONNECT_IVL.
	DefaultReconnect = 100 * time.Millisecond
	// DefaultMaxMessage bounds one received message (all its frames).
	DefaultMaxMessage = 16 << 20
	readBuffer        = 256 << 10
	dialTimeout       = 2 * time.Second
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
// subscriptions, and reads messages. It implements subscriber.Source.
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

	wmu    sync.Mutex // guards conn, subs, closed, and writes to conn
	conn   net.Conn
	subs   [][]byte
	closed bool
	wbuf   []byte

	// Next's own state.
	cur          net.Conn
	buf          []byte // read buffer; buf[r:w] not yet parsed
	r, w         int
	readAt       time.Time // when buf[r:w] was read
	readDeadline time.Time
	wait         *time.Timer
	batch        subscriber.Batch
}

var _ subscriber.Source = (*Sub)(nil)

// Dial returns a Sub for endpoint (tcp://host:port or ipc://path) and starts
// connecting in the background; a publisher that is not up yet is not an
// error.
func Dial(endpoint string, opts ...SubOption) (*Sub, error) {
	network, addr, err := parseEndpoint(endpoint, false)
	if err != nil {
		return nil, err
	}
	s := &Sub{
		endpoint: endpoint, network: network, addr: addr,
		reconnect: DefaultReconnect, maxMsg: DefaultMaxMessage, log: slog.Default(),
		closedCh: make(chan struct{}), ready: make(chan net.Conn, 1), redial: make(chan struct{}, 1),
		connectorDone: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.buf = make([]byte, readBuffer)
	s.wait = time.NewTimer(time.Hour)
	s.wait.Stop()
	go s.connector()
	return s, nil
}

// Endpoint returns the endpoint the Sub connects to.
func (s *Sub) Endpoint() string { return s.endpoint }

// Subscribe sends a subscription for prefix now if connected, and on every
// reconnection.
func (s *Sub) Subscribe(prefix []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.subs = append(s.subs, bytes.Clone(prefix))
	if s.conn != nil {
		s.wbuf = appendSubscription(s.wbuf[:0], true, prefix)
		if _, err := s.conn.Write(s.wbuf); err != nil {
			// The reader sees the failure and reconnects, resubscribing.
			s.log.Debug("zmtp: subscribe write failed", "endpoint", s.endpoint, "err", err)
		}
	}
	return nil
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
			s.log.Debug("zmtp: connect failed", "endpoint", s.endpoint, "err", err)
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 20) // absorb bursts while the application works
		}
		s.wmu.Lock()
		if s.closed {
			s.wmu.Unlock()
			c.Close()
			return nil
		}
		s.wbuf = s.wbuf[:0]
		for _, p := range s.subs {
			s.wbuf = appendSubscription(s.wbuf, true, p)
		}
		_, err = c.Write(s.wbuf)
		if err == nil {
			s.conn = c
		}
		s.wmu.Unlock()
		if err != nil {
			c.Close()
			continue
		}
		return c
	}
}

// Next returns the messages that are complete in the read buffer, reading
// the socket if there are none, waiting for a connection if need be.
func (s *Sub) Next(deadline time.Time) (*subscriber.Batch, error) {
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
				s.cur, s.r, s.w, s.readDeadline = c, 0, 0, time.Time{}
				b.Events = append(b.Events, subscriber.LineEvent{Kind: subscriber.LineUp, Detail: c.RemoteAddr().String()})
			case <-timeout:
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
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !deadline.IsZero() {
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
	n, err := c.Read(s.buf[s.w:])
	if n > 0 {
		s.w += n
		s.readAt = time.Now()
		return nil
	}
	return err
}

// parse appends every complete message in the buffer to the batch. A
// message larger than the buffer grows it, up to the message limit.
func (s *Sub) parse() error {
	b := &s.batch
	for {
		m, n, need, err := parseMessage(s.buf[s.r:s.w], s.maxMsg)
		if err != nil {
			return err
		}
		if n == 0 {
			if need > len(s.buf)-s.r {
				// Grow, keeping the unparsed bytes (and nothing the
				// batch refers to: the batch is empty when we get here
				// with a partial message too big for the room left).
				if len(b.Msgs) > 0 {
					return nil
				}
				nb := make([]byte, max(need, readBuffer))
				s.w = copy(nb, s.buf[s.r:s.w])
				s.r = 0
				s.buf = nb
			}
			return nil
		}
		s.r += n
		if m.command {
			s.command(m.first)
			continue
		}
		b.Msgs = append(b.Msgs, subscriber.Raw{Topic: m.first, Body: m.second, Frames: m.frames, Size: m.size})
	}
}

// command handles a command from the PUB: PING is answered, others ignored.
func (s *Sub) command(body []byte) {
	name, data, err := parseCommand(body)
	if err != nil || name != "PING" || len(data) < 2 {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.conn != nil {
		s.wbuf = appendCommand(s.wbuf[:0], "PONG", data[2:])
		s.conn.Write(s.wbuf)
	}
}

// drop closes a failed connection, reports the line down and asks the
// connector for another.
func (s *Sub) drop(err error) {
	s.wmu.Lock()
	if s.conn == s.cur {
		s.conn = nil
	}
	s.wmu.Unlock()
	s.cur.Close()
	s.cur, s.r, s.w = nil, 0, 0
	if s.isClosed() {
		return
	}
	s.log.Debug("zmtp: connection lost", "endpoint", s.endpoint, "err", err)
	s.batch.Events = append(s.batch.Events, subscriber.LineEvent{Kind: subscriber.LineDown, Detail: err.Error()})
	select {
	case s.redial <- struct{}{}:
	default:
	}
}

// Close closes the connection and makes a blocked Next return ErrClosed.
func (s *Sub) Close() error {
	s.closeOnce.Do(func() {
		close(s.closedCh)
		s.cancel()
		s.wmu.Lock()
		s.closed = true
		if s.conn != nil {
			s.conn.Close() // makes a blocked Read in Next return
			s.conn = nil
		}
		s.wmu.Unlock()
		<-s.connectorDone
		select {
		case c := <-s.ready: // made but never taken
			c.Close()
		default:
		}
	})
	return nil
}

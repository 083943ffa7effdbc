package zmtp

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"

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
// Next reads the socket in the caller's goroutine: no hand-off between
// goroutines stands between the kernel and the application.
type Sub struct {
	endpoint      string
	network, addr string
	reconnect     time.Duration
	maxMsg        int
	log           *slog.Logger
	closedCh      chan struct{}
	closeOnce     sync.Once
	wmu           sync.Mutex // guards conn, subs, closed, and writes to conn
	conn          net.Conn
	subs          [][]byte
	closed        bool
	wbuf          []byte
	nextDial      time.Time // when the next connection attempt may start (Next only)
	buf           []byte    // read buffer; buf[r:w] not yet parsed
	r, w          int
	readAt        time.Time // when buf[r:w] was read
	readDeadline  time.Time
	batch         subscriber.Batch
}

var _ subscriber.Source = (*Sub)(nil)

// Dial returns a Sub for endpoint (tcp://host:port or ipc://path). It
// connects on the first Next and again after every failure, as a ZeroMQ
// socket does; a publisher that is not up yet is not an error.
func Dial(endpoint string, opts ...SubOption) (*Sub, error) {
	network, addr, err := parseEndpoint(endpoint, false)
	if err != nil {
		return nil, err
	}
	s := &Sub{
		endpoint: endpoint, network: network, addr: addr,
		reconnect: DefaultReconnect, maxMsg: DefaultMaxMessage, log: slog.Default(),
		closedCh: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.buf = make([]byte, readBuffer)
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

// Next returns the messages that are complete in the read buffer, reading
// the socket if there are none, connecting first if need be.
func (s *Sub) Next(deadline time.Time) (*subscriber.Batch, error) {
	b := &s.batch
	b.Reset()
	for {
		if s.isClosed() {
			return nil, ErrClosed
		}
		if s.current() == nil {
			if err := s.connect(deadline); err != nil {
				if errors.Is(err, ErrClosed) {
					return nil, err
				}
				return b, nil // deadline
			}
			continue
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
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !deadline.IsZero() {
				return b, nil
			}
			s.drop(err)
			return b, nil
		}
	}
}

func (s *Sub) current() net.Conn {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn
}

func (s *Sub) isClosed() bool {
	select {
	case <-s.closedCh:
		return true
	default:
		return false
	}
}

// connect waits for the reconnect pause, dials, runs the handshake and
// sends the subscriptions. It returns nil once connected, ErrClosed, or
// errDeadline when deadline came first.
func (s *Sub) connect(deadline time.Time) error {
	for {
		if wait := time.Until(s.nextDial); wait > 0 {
			if !deadline.IsZero() && s.nextDial.After(deadline) {
				wait = time.Until(deadline)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.closedCh:
				t.Stop()
				return ErrClosed
			}
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return errDeadline
		}
		s.nextDial = time.Now().Add(s.reconnect)
		d := net.Dialer{Timeout: dialTimeout}
		if !deadline.IsZero() {
			d.Deadline = deadline
		}
		c, err := d.Dial(s.network, s.addr)
		if err == nil {
			err = handshake(c, zmq4.Sub, false)
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
			return ErrClosed
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
		s.r, s.w, s.readDeadline = 0, 0, time.Time{}
		s.batch.Events = append(s.batch.Events, subscriber.LineEvent{Kind: subscriber.LineUp, Detail: c.RemoteAddr().String()})
		return nil
	}
}

var errDeadline = errors.New("zmtp: deadline")

// read reads more bytes into the buffer, making room first.
func (s *Sub) read(deadline time.Time) error {
	if s.r == s.w {
		s.r, s.w = 0, 0
	} else if s.r > 0 && len(s.buf)-s.w < readBuffer/4 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	c := s.current()
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

// drop closes a failed connection and reports the line down; Next
// reconnects after the reconnect pause.
func (s *Sub) drop(err error) {
	s.wmu.Lock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.wmu.Unlock()
	s.r, s.w = 0, 0
	if s.isClosed() {
		return
	}
	s.log.Debug("zmtp: connection lost", "endpoint", s.endpoint, "err", err)
	s.batch.Events = append(s.batch.Events, subscriber.LineEvent{Kind: subscriber.LineDown, Detail: err.Error()})
}

// Close closes the connection and makes a blocked Next return ErrClosed.
func (s *Sub) Close() error {
	s.closeOnce.Do(func() {
		close(s.closedCh)
		s.wmu.Lock()
		s.closed = true
		if s.conn != nil {
			s.conn.Close()
			s.conn = nil
		}
		s.wmu.Unlock()
	})
	return nil
}

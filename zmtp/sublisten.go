package zmtp

// The SUB side of an endpoint that binds (ListenSub): publishers connect to
// it — tickcast Pubs from DialPub, libzmq PUB or XPUB sockets that connect —
// and it sends each of them its subscriptions, at connection and at every
// change, and merges their messages into Next's batches.
//
// Each connection has one goroutine, which reads the socket into a segment
// (a read buffer), parses the whole messages in it, and hands the segment
// to Next, going on in another of its own: segmentsPerConn of them, so
// that a publisher is read while Next holds what it sent before. Next
// gives a segment back at its next call, when the batch it returned (views
// into the segment) is done with. Nothing is copied but the partial message
// at the end of a segment. A connection whose segments are all taken is
// not read: TCP holds its publisher back, and the publisher's own high-water
// mark decides what it drops, as when a Sub that connects is slow.
//
// Everything a publisher can make a binding Sub hold is bounded:
// connections (WithMaxPublishers, handshakes included), and per connection
// segmentsPerConn buffers, each of listenBuffer bytes, or as much as the
// largest message allows (WithMaxMessage) while one that large is read,
// and each with at most maxSegmentMessages messages. A connection that
// sends nothing holds its place until it closes: WithMaxPublishers of them
// keep other publishers out (a publisher with nothing to say may be silent
// for as long as it likes, as libzmq's are).
// A connection that breaks the protocol or the bounds is cut off, counted
// and logged (at Warn, at most every 10 s).

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/internal/ratelog"
	"github.com/tickcast/tickcast/port"
)

// Binding Sub defaults.
const (
	// DefaultMaxPublishers bounds a binding Sub's connections, handshakes
	// included. One beyond is closed at once, counted and logged.
	DefaultMaxPublishers = 64
	// listenBuffer is the size of a segment's read buffer; it grows for a
	// larger message, up to WithMaxMessage.
	listenBuffer = 64 << 10
	// segmentsPerConn is how many read buffers one connection has: one
	// being read, the others with Next or waiting for it.
	segmentsPerConn = 3
	// segmentKeep: a segment's buffer, grown beyond this for a large
	// message, is not kept once Next is done with it.
	segmentKeep = 1 << 20
	// maxBatchSegments bounds the segments one Next merges into its batch
	// (and holds until the next call).
	maxBatchSegments = 64
	// maxSegmentMessages bounds the messages one segment carries: a
	// message costs its port.Raw (64 bytes) on top of its bytes, and a
	// publisher can send messages of 2 bytes. Feed messages are far
	// larger: a 64 KiB segment holds a few hundred of them.
	maxSegmentMessages = 2048
	// inQueue is how many segments and line events may wait for Next,
	// across connections, before their readers wait.
	inQueue = 256
)

// WithMaxPublishers sets how many connections a binding Sub (ListenSub)
// takes at once, handshakes included (default 64); one beyond is closed at
// once, counted and logged.
func WithMaxPublishers(n int) SubOption { return func(s *Sub) { s.maxPeers = max(n, 1) } }

// ListenSub binds endpoint (tcp://host:port, tcp://*:port, ipc://path) and
// returns a Sub that publishers connect to: tickcast Pubs from DialPub,
// libzmq PUBs that connect, any number of them up to WithMaxPublishers. It
// sends each one its subscriptions when it connects (so Subscribe before
// the first publisher comes, as with Dial), and every Subscribe and
// Unsubscribe to all of them; Next returns their messages merged, each
// publisher's in its order.
//
// Line events: LineUp for every publisher that connects (Detail: its
// address); LineDown when the last one connected goes, so that the line is
// down exactly while no publisher can send on it (one of several going is
// logged at Debug, and the others keep the line up). WithReconnect does not
// apply: publishers connect. Stats counts the connections refused, cut off,
// and failing the handshake.
func ListenSub(endpoint string, opts ...SubOption) (*Sub, error) {
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
	s := newSub(endpointOf(ln.Addr()), opts)
	l := &subServer{s: s, ln: ln, in: make(chan *segment, inQueue), conns: make(map[net.Conn]struct{}),
		cutLog: ratelog.Limiter{Every: 10 * time.Second}}
	s.srv = l
	l.wg.Add(1)
	go l.accept()
	return s, nil
}

// subServer is a binding Sub's own state.
type subServer struct {
	s      *Sub
	ln     net.Listener
	in     chan *segment  // to Next: segments and line events, each connection's in order
	wg     sync.WaitGroup // the accept loop and each connection's goroutine
	cutLog ratelog.Limiter

	// Guarded by s.mu, with s.subs and s.closed.
	conns map[net.Conn]struct{} // every connection, handshakes included
	peers []*pubConn            // connections past the handshake: they get subscriptions

	lineMu sync.Mutex // held while a line event is counted and sent: they leave in order
	up     int        // connections whose LineUp has been sent and that have not gone

	held []*segment // Next's: the segments its last batch refers to

	refused, handshakeErrors, cut atomic.Uint64
}

// segment is a read buffer and the messages parsed in it, or a line event.
type segment struct {
	pc     *pubConn // whose it is; nil for a line event
	buf    []byte
	msgs   []port.Raw
	events []port.LineEvent
	readAt time.Time
}

// pubConn is one publisher's connection.
type pubConn struct {
	l    *subServer
	conn net.Conn
	addr string
	free chan *segment // its segments Next is done with (room for all of them)
	wmu  sync.Mutex    // serialises writes: subscriptions and PONGs

	// The reader's own.
	pingCtx     []byte
	pingPending bool
	pong        []byte
}

func (l *subServer) stats() SubStats {
	l.s.mu.Lock()
	n := len(l.peers)
	l.s.mu.Unlock()
	return SubStats{Endpoint: l.s.endpoint, Publishers: n, Refused: l.refused.Load(),
		HandshakeErrors: l.handshakeErrors.Load(), Cut: l.cut.Load()}
}

func (l *subServer) accept() {
	defer l.wg.Done()
	s := l.s
	acc := newAcceptor(l.ln, s.endpoint, s.log, "WithMaxPublishers", &l.refused)
	acc.run(func() int { return s.maxPeers }, func(c net.Conn) admission {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case s.closed:
			return closing
		case len(l.conns) >= s.maxPeers:
			return full
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		return admitted
	}, l.serve)
}

// serve runs one connection: the handshake, the subscriptions, then its
// messages to Next until it ends or the Sub closes.
func (l *subServer) serve(c net.Conn) {
	defer l.wg.Done()
	defer l.forget(c)
	s := l.s
	if err := handshake(c, typeSub); err != nil {
		if !s.isClosed() {
			l.handshakeErrors.Add(1)
			s.log.Debug("zmtp: handshake failed", "endpoint", s.endpoint, "peer", c.RemoteAddr(), "err", err)
		}
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 20) // absorb bursts while the application works
	}
	pc := &pubConn{l: l, conn: c, addr: c.RemoteAddr().String(), free: make(chan *segment, segmentsPerConn)}
	for range segmentsPerConn {
		pc.free <- &segment{pc: pc}
	}
	ok := l.register(pc)
	defer l.unregister(pc)
	if !ok {
		return
	}
	s.log.Debug("zmtp: publisher connected", "endpoint", s.endpoint, "peer", pc.addr)
	if !l.lineEvent(port.LineEvent{Kind: port.LineUp, Detail: pc.addr}, 1) {
		return // closed
	}
	err := pc.read()
	l.unregister(pc) // no more subscriptions for it
	if s.isClosed() {
		return
	}
	s.log.Debug("zmtp: publisher gone", "endpoint", s.endpoint, "peer", pc.addr, "err", err)
	l.lineEvent(port.LineEvent{Kind: port.LineDown, Detail: pc.addr + ": " + err.Error()}, -1)
}

// forget closes c and gives up its place under the limit.
func (l *subServer) forget(c net.Conn) {
	c.Close()
	l.s.mu.Lock()
	delete(l.conns, c)
	l.s.mu.Unlock()
}

// register sends pc the subscriptions and adds it to those that get every
// change from now on; false means it cannot be used (the Sub closed, or
// the write failed). pc's write lock is taken before the list is read, so
// that a Subscribe or Unsubscribe that sees pc writes after these.
func (l *subServer) register(pc *pubConn) bool {
	s := l.s
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	var subs []byte
	for _, p := range s.subs {
		subs = appendSubscription(subs, true, p)
	}
	l.peers = append(l.peers, pc)
	s.mu.Unlock()
	if len(subs) == 0 {
		return true
	}
	pc.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := pc.conn.Write(subs); err != nil {
		s.log.Debug("zmtp: subscribe write failed", "endpoint", s.endpoint, "peer", pc.addr, "err", err)
		return false
	}
	return true
}

func (l *subServer) unregister(pc *pubConn) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if i := slices.Index(l.peers, pc); i >= 0 {
		l.peers = slices.Delete(l.peers, i, i+1)
	}
}

// lineEvent counts a connection up (delta 1) or gone (-1) and sends Next
// the event: every LineUp, and the LineDown of the last connection. false
// means the Sub closed first.
func (l *subServer) lineEvent(e port.LineEvent, delta int) bool {
	l.lineMu.Lock()
	defer l.lineMu.Unlock()
	l.up += delta
	if e.Kind == port.LineDown && l.up > 0 {
		return true // others keep the line up
	}
	select {
	case l.in <- &segment{events: []port.LineEvent{e}}:
		return true
	case <-l.s.closedCh:
		return false
	}
}

// read is the connection's reader: it parses what the publisher sends into
// segments and hands them to Next, answering PINGs, until the connection
// fails (the error says why) or the Sub closes (ErrClosed).
func (pc *pubConn) read() error {
	l := pc.l
	s := l.s
	cur := <-pc.free // they are all there
	cur.buf = make([]byte, listenBuffer)
	fr := frameReader{buf: cur.buf, max: s.maxMsg, maxFrames: maxMessageFrames}
	var readAt time.Time
	for {
		full := false // the segment has maxSegmentMessages: more may be parsed
		for {
			if len(cur.msgs) == maxSegmentMessages {
				full = true
				break
			}
			m, _, ok, err := fr.next()
			if err != nil {
				return l.cutOff(pc, err)
			}
			if !ok {
				break
			}
			if m.command {
				if err := pc.command(m.first); err != nil {
					return l.cutOff(pc, err)
				}
				continue
			}
			cur.msgs = append(cur.msgs, port.Raw{Topic: m.first, Body: m.second, Frames: m.frames, Size: m.size})
		}
		if pc.pingPending {
			if err := pc.sendPong(); err != nil {
				return err
			}
		}
		if len(cur.msgs) > 0 {
			// Hand the messages over with their buffer, and go on with
			// the partial message after them in another segment.
			var next *segment
			select {
			case next = <-pc.free:
			case <-s.closedCh:
				return ErrClosed
			}
			size := max(listenBuffer, fr.pending())
			if len(next.buf) < size || len(next.buf) > max(segmentKeep, size) {
				next.buf = make([]byte, size)
			}
			cur.buf = fr.swap(next.buf)
			cur.readAt = readAt
			select {
			case l.in <- cur:
			case <-s.closedCh:
				return ErrClosed
			}
			cur = next
			if full {
				continue // parse what the buffer holds before reading more
			}
		}
		n, err := fr.fill(pc.conn)
		if n > 0 {
			readAt = time.Now()
		}
		if err != nil {
			return err
		}
	}
}

// command handles a command from the publisher: a PING is answered once
// the messages read with it are parsed; others are ignored.
func (pc *pubConn) command(body []byte) error {
	name, data, err := parseCommand(body)
	if err != nil || name != "PING" {
		return err
	}
	if len(data) < 2 || len(data)-2 > maxPingContext {
		return fmt.Errorf("%w: PING with a context of %d bytes", ErrProtocol, len(data)-2)
	}
	pc.pingCtx = append(pc.pingCtx[:0], data[2:]...)
	pc.pingPending = true
	return nil
}

// sendPong answers the last PING; a publisher that does not take it within
// pongTimeout is dropped.
func (pc *pubConn) sendPong() error {
	pc.pingPending = false
	pc.pong = appendCommand(pc.pong[:0], "PONG", pc.pingCtx)
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	pc.conn.SetWriteDeadline(time.Now().Add(pongTimeout))
	if _, err := pc.conn.Write(pc.pong); err != nil {
		return fmt.Errorf("zmtp: the publisher does not take our PONGs: %w", err)
	}
	return nil
}

// cutOff counts a publisher cut off for breaking the protocol or a bound,
// and logs it at Warn, at most every 10 s with the count since. It returns
// err; the caller then returns, which closes the connection.
func (l *subServer) cutOff(pc *pubConn, err error) error {
	l.cut.Add(1)
	if ok, more := l.cutLog.Allow(time.Now()); ok {
		l.s.log.Warn("zmtp: publisher disconnected", "endpoint", l.s.endpoint, "peer", pc.addr, "reason", err,
			"others_since_last_log", more)
	}
	return err
}

// subscribe is SubscribeAll for a binding Sub. s.wmu orders changes: they
// reach every publisher in the order they were made.
func (l *subServer) subscribe(prefixes [][]byte) error {
	s := l.s
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	for _, p := range prefixes {
		s.subs = append(s.subs, bytes.Clone(p))
	}
	peers := slices.Clone(l.peers)
	s.mu.Unlock()
	s.wbuf = s.wbuf[:0]
	for _, p := range prefixes {
		s.wbuf = appendSubscription(s.wbuf, true, p)
	}
	l.writeAll(peers, s.wbuf)
	return nil
}

// unsubscribe is Unsubscribe for a binding Sub.
func (l *subServer) unsubscribe(prefix []byte) error {
	s := l.s
	s.wmu.Lock()
	defer s.wmu.Unlock()
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
	peers := slices.Clone(l.peers)
	s.mu.Unlock()
	s.wbuf = appendSubscription(s.wbuf[:0], false, prefix)
	l.writeAll(peers, s.wbuf)
	return nil
}

// writeAll writes b to every connection in peers, all within writeTimeout:
// a publisher that does not read what its subscribers send is dropped (its
// reader then sees the connection closed).
func (l *subServer) writeAll(peers []*pubConn, b []byte) {
	for _, pc := range peers {
		pc.wmu.Lock()
		// A deadline per publisher: one that has stopped reading costs
		// the others a wait, not their connections.
		pc.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := pc.conn.Write(b)
		pc.wmu.Unlock()
		if err != nil {
			pc.conn.Close()
			l.s.log.Debug("zmtp: subscription write failed", "endpoint", l.s.endpoint, "peer", pc.addr, "err", err)
		}
	}
}

// next is Next for a binding Sub: it gives back the segments of the last
// batch, waits for one segment or line event (until deadline, a Wake, or
// Close), and takes what else is waiting, up to maxBatchSegments.
func (l *subServer) next(deadline time.Time) (*port.Batch, error) {
	s := l.s
	for i, seg := range l.held {
		seg.msgs = seg.msgs[:0]
		seg.pc.free <- seg // never blocks: there is room for all of pc's
		l.held[i] = nil
	}
	l.held = l.held[:0]
	b := &s.batch
	b.Reset()
	if s.isClosed() {
		return nil, ErrClosed
	}
	var first *segment
	select {
	case first = <-l.in:
	default:
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return b, nil
			}
			s.wait.Reset(d)
			timeout = s.wait.C
		}
		select {
		case first = <-l.in:
		case <-timeout:
			return b, nil
		case <-s.wakeCh:
			s.wait.Stop()
			return b, nil
		case <-s.closedCh:
			s.wait.Stop()
			return nil, ErrClosed
		}
		s.wait.Stop()
	}
	l.take(first)
	for range maxBatchSegments - 1 {
		select {
		case seg := <-l.in:
			l.take(seg)
		default:
			return b, nil
		}
	}
	return b, nil
}

// take adds seg's messages and events to the batch.
func (l *subServer) take(seg *segment) {
	b := &l.s.batch
	b.Msgs = append(b.Msgs, seg.msgs...)
	b.Events = append(b.Events, seg.events...)
	if seg.readAt.After(b.Time) {
		b.Time = seg.readAt
	}
	if seg.pc != nil {
		l.held = append(l.held, seg)
	}
}

// close stops accepting, closes every connection, and waits for their
// goroutines; Close has marked the Sub closed already.
func (l *subServer) close() {
	l.ln.Close()
	l.s.mu.Lock()
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.s.mu.Unlock()
	for _, c := range conns {
		c.Close() // a read, write or handshake in progress returns
	}
	l.wg.Wait()
}

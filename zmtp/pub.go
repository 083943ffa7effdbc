// Package zmtp carries tickcast feeds over ZeroMQ's tcp:// and ipc://
// transports (ZMTP 3.0), wire-compatible with libzmq and go-zeromq/zmq4
// PUB/SUB sockets.
//
// Everything is this package's own, the handshake (greeting and NULL
// mechanism, handshake.go) included. go-zeromq/zmq4's PUB socket (v0.17.0)
// does not suit a feed: one unbounded queue and one writer goroutine for all
// subscribers (a stalled subscriber stalls all and memory grows), Send keeps
// the caller's buffers, one write system call per frame, and no limit on the
// frame sizes a peer may declare. Here every subscriber has its own bounded
// queue and writer: a slow one loses messages (counted) and nobody else
// notices; many messages leave in one write; Send copies; read sizes are
// bounded.
//
// Either side may bind, as in ZeroMQ. Listen (a Pub that binds) and Dial
// (a Sub that connects) are the usual pair; DialPub (a Pub that connects:
// to a Sub that binds, or into a zmq_proxy's XSUB) and ListenSub (a Sub
// that binds, for any number of publishers) are the other way round, with
// the same queues, bounds, counters and reconnection.
//
// Everything a peer can make a Pub hold is bounded: connections
// (WithMaxPeers), bytes queued per subscriber (WithSendBuffer) and across
// all of them (WithMaxQueued), subscriptions per connection, frames per
// message, the replies to its PINGs (one at a time, counted in its queue);
// a connection that never subscribes is closed after a while, and one that
// stops reading is cut off. A Pub's work per message is proportional to the
// connections that subscribed, not to those that are merely connected.
package zmtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tickcast/tickcast/internal/peerset"
	"github.com/tickcast/tickcast/internal/ratelog"
	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/topic"
)

// ErrClosed is returned by operations on a closed socket.
var ErrClosed = errors.New("zmtp: closed")

// Defaults.
const (
	// DefaultSendHWM is how many messages may queue for one subscriber
	// before new ones are dropped for it. ZeroMQ's default ZMQ_SNDHWM is
	// 1,000; tickcast's messages are batches that shrink to a few ticks when
	// a feed is busy across many topics, and then 1,000 of them is about a
	// millisecond: a scheduling hiccup. 10,000 rides those out.
	DefaultSendHWM = 10_000
	// DefaultSendBuffer bounds the bytes queued for one subscriber, whatever
	// the number of messages: the memory a slow subscriber can cost.
	DefaultSendBuffer = 16 << 20
	// DefaultMaxQueued bounds the bytes queued for all subscribers
	// together. Beyond it, a subscriber with more than fairShare queued
	// gets no more data (dropped, counted): the slow ones stop growing,
	// while those that keep up, whose queues stay short, are untouched.
	DefaultMaxQueued = 256 << 20
	// DefaultMaxPeers bounds the connections, handshakes included. A
	// connection beyond it is closed at once, and the refusal logged.
	DefaultMaxPeers = 1024
	// DefaultSubscribeTimeout is how long a connection may stay without
	// any subscription before it is closed (it costs a descriptor and two
	// goroutines, and receives nothing).
	DefaultSubscribeTimeout = time.Minute
	// DefaultStallTimeout is how long a subscriber may take to accept a
	// write of up to writeGroup bytes before it is cut off: a peer that has
	// stopped reading (a reader of less than 64 KiB/s) holds its queue and
	// its descriptor for nothing.
	DefaultStallTimeout = 15 * time.Second
	// DefaultLinger bounds how long Close waits for queued messages to leave.
	DefaultLinger = time.Second
	// writeEarly is the queued size at which a subscriber's writer is woken
	// before the publisher's Flush, so large bursts start moving sooner.
	writeEarly = 256 << 10
	// writeGroup is the most bytes one write system call takes, under one
	// write deadline.
	writeGroup = 1 << 20
	// fairShare is what a subscriber may always have queued, whatever the
	// total queued across subscribers.
	fairShare = 1 << 20
	// maxSubscription bounds a subscription message from a peer; a SUB
	// sends single-frame messages and commands, so a few frames are plenty.
	maxSubscription = 64 << 10
	maxSubFrames    = 4
	// DefaultMaxSubscriptions and maxSubscriptionBytes bound what one
	// connection may subscribe to (distinct prefixes, and their bytes
	// together): prefixes are for groups of topics, and a hostile client
	// reconnecting in a loop costs a Pub the work of each subscription.
	DefaultMaxSubscriptions = 10_000
	maxSubscriptionBytes    = 1 << 20
	// maxPingContext is the most a PING's context may hold (ZMTP 3.1: 16
	// octets).
	maxPingContext = 16
	// controlReserve is how many control messages (heartbeats, session
	// ends) may queue for a subscriber beyond its high-water mark: they
	// tell it exactly what the dropped data was, so they are dropped only
	// when a peer is hopelessly behind. reserveBytes bounds their bytes
	// beyond the byte limit.
	controlReserve = 1000
	reserveBytes   = 1 << 20
)

// PubOption configures a Pub.
type PubOption func(*Pub)

// WithSendHWM sets how many messages may wait for one subscriber (default
// 10,000; ZMQ_SNDHWM's role); beyond it, messages for that subscriber are
// dropped and counted.
func WithSendHWM(n int) PubOption { return func(p *Pub) { p.hwm = max(n, 1) } }

// WithSendBuffer sets how many bytes may wait for one subscriber (default
// 16 MiB); beyond it, messages for that subscriber are dropped and counted.
func WithSendBuffer(n int) PubOption { return func(p *Pub) { p.maxBytes = max(n, 1) } }

// WithMaxQueued sets how many bytes may wait for all subscribers together
// (default 256 MiB): beyond it, subscribers with more than a megabyte
// queued get no more data until theirs drains.
func WithMaxQueued(n int64) PubOption { return func(p *Pub) { p.maxQueued = max(n, 1) } }

// WithMaxPeers sets how many connections the Pub takes at once (default
// 1024); one beyond is closed at once, and the refusal logged.
func WithMaxPeers(n int) PubOption { return func(p *Pub) { p.maxPeers = max(n, 1) } }

// WithSubscribeTimeout sets how long a connection may go without any
// subscription before it is closed (default one minute). It does not apply
// to the connection of a Pub that connects (DialPub).
func WithSubscribeTimeout(d time.Duration) PubOption {
	return func(p *Pub) { p.subscribeTimeout = max(d, time.Millisecond) }
}

// WithStallTimeout sets how long a subscriber may take to accept a write
// (of up to a megabyte) before it is cut off (default 15s).
func WithStallTimeout(d time.Duration) PubOption {
	return func(p *Pub) { p.stallTimeout = max(d, time.Millisecond) }
}

// WithMaxSubscriptions sets how many distinct prefixes one connection may
// subscribe to (default 10,000); one that subscribes to more is cut off.
func WithMaxSubscriptions(n int) PubOption { return func(p *Pub) { p.maxSubs = max(n, 1) } }

// WithLinger sets how long Close waits for queued messages (default 1s).
func WithLinger(d time.Duration) PubOption { return func(p *Pub) { p.linger = d } }

// WithPubReconnect sets the pause between a dialling Pub's connection
// attempts (DialPub; default 100ms, ZeroMQ's ZMQ_RECONNECT_IVL).
func WithPubReconnect(d time.Duration) PubOption {
	return func(p *Pub) { p.reconnect = max(d, time.Millisecond) }
}

// WithPubLogger sets the logger (default slog.Default()).
func WithPubLogger(l *slog.Logger) PubOption { return func(p *Pub) { p.log = l } }

// Pub is the PUB side of a ZeroMQ endpoint: it binds and accepts
// subscribers (Listen), or connects to one that binds (DialPub) — libzmq,
// zmq4 or tickcast SUB sockets, or a libzmq XSUB — and sends each of them
// the messages whose topic matches its subscriptions. It implements
// port.Sink and port.SubscriberWaiter.
type Pub struct {
	nextID           atomic.Uint64 // numbers the connections
	endpoint         string
	ln               net.Listener
	hwm              int
	maxBytes         int
	maxQueued        int64
	maxPeers         int
	maxSubs          int
	subscribeTimeout time.Duration
	stallTimeout     time.Duration
	linger           time.Duration
	log              *slog.Logger
	cutLog           ratelog.Limiter // peers cut off: a hostile client can make many

	mu     sync.Mutex         // guards peers, conns, and changes to active
	peers  []*peer            // every connected peer, subscribed or not
	conns  int                // connections: peers and handshakes in progress
	active peerset.Set[*peer] // the peers with a subscription: what Send goes through
	closed atomic.Bool
	wg     sync.WaitGroup

	// A Pub that connects (DialPub) has no listener: its connector dials
	// network and addr, and again reconnect after the connection fails or
	// is lost, until life ends (at Close).
	network, addr string
	reconnect     time.Duration
	life          context.Context
	endLife       context.CancelFunc
	dialLog       dialFailures

	chunks chunkPool
	queued atomic.Int64 // bytes queued across peers

	messages, bytes, dropped atomic.Uint64
	handshakeErrors          atomic.Uint64
	refused                  atomic.Uint64 // connections over the limit
	cut                      atomic.Uint64 // peers disconnected for misbehaving: too slow, idle, protocol errors
}

var (
	_ port.Sink             = (*Pub)(nil)
	_ port.SubscriberWaiter = (*Pub)(nil)
)

// Listen binds endpoint (tcp://host:port, tcp://*:port, ipc://path) and
// starts accepting subscribers.
func Listen(endpoint string, opts ...PubOption) (*Pub, error) {
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
	p := newPub(endpointOf(ln.Addr()), opts)
	p.ln = ln
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// DialPub returns a Pub that connects to endpoint (tcp://host:port or
// ipc://path), where a subscriber binds: a Sub from ListenSub, a libzmq SUB
// that binds, or a zmq_proxy's XSUB, whose XPUB serves the subscribers. It
// connects in the background from now on, as a ZeroMQ socket does (an
// endpoint where nobody listens yet is not an error), and again after the
// connection fails or is lost, WithPubReconnect apart (100ms by default);
// an endpoint it cannot reach is logged at Warn, at once and then at most
// every 30 s with the count of failed attempts.
//
// Everything else is as with Listen: the subscriber at the other end gets
// what matches the subscriptions it sends, from its own bounded queue
// (WithSendHWM, WithSendBuffer, drops counted); WaitSubscribers counts it
// once it has subscribed; Stats().Endpoint is endpoint as given, and
// Stats().Peers 1 while connected. The connection has no subscribe timeout
// (WithSubscribeTimeout): a proxy subscribes only once a subscriber of its
// own has.
func DialPub(endpoint string, opts ...PubOption) (*Pub, error) {
	network, addr, err := parseEndpoint(endpoint, false)
	if err != nil {
		return nil, err
	}
	p := newPub(endpoint, opts)
	p.network, p.addr = network, addr
	p.life, p.endLife = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.connector()
	return p, nil
}

func newPub(endpoint string, opts []PubOption) *Pub {
	p := &Pub{endpoint: endpoint, hwm: DefaultSendHWM, maxBytes: DefaultSendBuffer,
		maxQueued: DefaultMaxQueued, maxPeers: DefaultMaxPeers, maxSubs: DefaultMaxSubscriptions,
		subscribeTimeout: DefaultSubscribeTimeout,
		stallTimeout:     DefaultStallTimeout, linger: DefaultLinger, log: slog.Default(),
		cutLog: ratelog.Limiter{Every: 10 * time.Second}, reconnect: DefaultReconnect,
		dialLog: dialFailures{limit: ratelog.Limiter{Every: failLogEvery}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// connector is a dialling Pub's: it connects, serves the connection until
// it is lost, and connects again, reconnect apart, until Close.
func (p *Pub) connector() {
	defer p.wg.Done()
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !p.pause() {
			return
		}
		c, err := p.dial()
		if err != nil {
			if p.life.Err() != nil {
				return
			}
			p.dialLog.failed(p.log, p.endpoint, err, p.reconnect)
			continue
		}
		p.mu.Lock()
		p.conns++
		p.mu.Unlock()
		pe := p.serve(c, true)
		if pe == nil {
			return // closed
		}
		p.dialLog.succeeded(p.log, p.endpoint)
		select {
		case <-pe.done:
			p.log.Debug("zmtp: connection lost; reconnecting", "endpoint", p.endpoint, "every", p.reconnect)
		case <-p.life.Done():
			return // Close lingers, then closes the peer
		}
	}
}

// pause waits the reconnect interval; false means the Pub closed.
func (p *Pub) pause() bool {
	t := time.NewTimer(p.reconnect)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.life.Done():
		return false
	}
}

// dial connects and runs the handshake; Close interrupts both.
func (p *Pub) dial() (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(p.life, p.network, p.addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(p.life, func() { c.Close() })
	err = handshake(c, typePub)
	if !stop() && err == nil {
		err = net.ErrClosed
	}
	if err != nil {
		c.Close()
		if p.life.Err() == nil {
			p.handshakeErrors.Add(1)
		}
		return nil, err
	}
	return c, nil
}

// removeStaleSocket removes the socket file at path if nothing listens on
// it any more, as libzmq replaces a stale one from an earlier run; if a
// process does listen on it, the path is in use (EADDRINUSE), as a bound TCP
// port would be: a second publisher must not take the first one's
// subscribers over.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return nil // nothing there, or not a socket: Listen says what is wrong
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: another process listens on it: %w", path, syscall.EADDRINUSE)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		os.Remove(path) // stale: no listener
	}
	return nil
}

// Endpoint returns the bound endpoint, with the port the system chose; or,
// for a Pub that connects, the endpoint as given.
func (p *Pub) Endpoint() string { return p.endpoint }

func (p *Pub) accept() {
	defer p.wg.Done()
	acc := newAcceptor(p.ln, p.endpoint, p.log, "WithMaxPeers", &p.refused)
	acc.run(func() int { return p.maxPeers }, func(net.Conn) admission {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.conns >= p.maxPeers {
			return full
		}
		p.conns++
		p.wg.Add(1)
		return admitted
	}, p.open)
}

// open runs the handshake with a new connection and starts serving it.
func (p *Pub) open(c net.Conn) {
	defer p.wg.Done()
	if err := handshake(c, typePub); err != nil {
		p.handshakeErrors.Add(1)
		p.log.Debug("zmtp: handshake failed", "endpoint", p.endpoint, "peer", c.RemoteAddr(), "err", err)
		c.Close()
		p.release()
		return
	}
	p.serve(c, false)
}

// serve starts serving c, a connection past its handshake that the caller
// has counted in conns: it returns its peer, or nil if the Pub has closed
// (c is closed then).
func (p *Pub) serve(c net.Conn, dialled bool) *peer {
	pe := &peer{pub: p, conn: c, addr: c.RemoteAddr().String(), id: p.nextID.Add(1), dialled: dialled, seen: make(map[string]struct{}),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.mu.Lock()
	if p.closed.Load() {
		p.conns--
		p.mu.Unlock()
		c.Close()
		return nil
	}
	p.peers = append(p.peers, pe)
	p.wg.Add(2)
	p.mu.Unlock()
	p.log.Debug("zmtp: subscriber connected", "endpoint", p.endpoint, "peer", pe.addr)
	go pe.write()
	go pe.read()
	return pe
}

// release gives up a connection's place under the limit.
func (p *Pub) release() {
	p.mu.Lock()
	p.conns--
	p.mu.Unlock()
}

// remove forgets pe: a closed peer.
func (p *Pub) remove(pe *peer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, q := range p.peers {
		if q == pe {
			p.peers = append(p.peers[:i], p.peers[i+1:]...)
			p.conns--
			break
		}
	}
	p.setActiveLocked(pe, false)
}

// setActive puts pe in the list Send goes through, or takes it out: only
// peers with at least one subscription are in it.
func (p *Pub) setActive(pe *peer, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && pe.isClosed() {
		return
	}
	p.setActiveLocked(pe, on)
}

func (p *Pub) setActiveLocked(pe *peer, on bool) { p.active.Update(pe, on) }

// WaitSubscribers blocks until at least n peers have subscribed to
// something, so that what is sent from then on reaches them if it matches;
// until ctx is done, returning its error; or until the Pub is closed
// (ErrClosed). A peer counts once it has sent every subscription that
// arrived with its first, so a subscriber that asked for several topics at
// once is counted with all of them. This is the answer to ZeroMQ's
// slow-joiner problem: a message sent before a subscription arrives is not
// sent to that subscriber.
func (p *Pub) WaitSubscribers(ctx context.Context, n int) error {
	return p.active.Wait(ctx, &p.mu, n, p.closed.Load, ErrClosed)
}

// Send queues the message [topic, body] for every subscriber whose
// subscriptions match the topic. It copies it and never blocks on the
// network. Connections without subscriptions cost it nothing.
func (p *Pub) Send(m port.Message) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.messages.Add(1)
	p.bytes.Add(uint64(len(m.Topic) + len(m.Body)))
	for _, pe := range p.active.Load() {
		pe.send(m.Topic, m.Body, m.Control)
	}
	return nil
}

// Flush wakes the writers of subscribers that have messages queued.
func (p *Pub) Flush() error {
	for _, pe := range p.active.Load() {
		pe.mu.Lock()
		queued := pe.q.bytes > 0
		pe.mu.Unlock()
		if queued {
			pe.signal()
		}
	}
	return nil
}

// Stats returns the socket's counters.
func (p *Pub) Stats() port.SinkStats {
	p.mu.Lock()
	n := len(p.peers)
	p.mu.Unlock()
	return port.SinkStats{
		Endpoint:   p.endpoint,
		Peers:      n,
		Subscribed: p.active.Len(),
		Messages:   p.messages.Load(),
		Bytes:      p.bytes.Load(),
		Dropped:    p.dropped.Load(),
	}
}

// PubStats are the Pub's own counters beyond the sink's.
type PubStats struct {
	Queued          int64  // bytes queued across subscribers now
	HandshakeErrors uint64 // connections that failed the ZMTP handshake
	Refused         uint64 // connections closed at once: over WithMaxPeers
	Cut             uint64 // subscribers disconnected: too slow, never subscribed, or broke the protocol
}

// PubStats returns the Pub's own counters.
func (p *Pub) PubStats() PubStats {
	return PubStats{Queued: p.queued.Load(), HandshakeErrors: p.handshakeErrors.Load(),
		Refused: p.refused.Load(), Cut: p.cut.Load()}
}

// PeerStats describe one connected subscriber.
type PeerStats struct {
	Addr          string // the peer's address (a unix socket's peers have none to tell them apart)
	ID            uint64 // the connection's number at this Pub, from 1
	Subscriptions int    // distinct prefixes
	Queued        int    // messages waiting for it
	QueuedBytes   int    // their bytes
	Dropped       uint64 // messages dropped for it at the high-water mark
}

// Peers returns the connected subscribers: the one dropping messages is the
// slow consumer.
func (p *Pub) Peers() []PeerStats {
	p.mu.Lock()
	peers := append([]*peer(nil), p.peers...)
	p.mu.Unlock()
	var out []PeerStats
	for _, pe := range peers {
		pe.mu.Lock()
		out = append(out, PeerStats{Addr: pe.addr, ID: pe.id, Subscriptions: pe.subs.Len(),
			Queued: pe.q.msgs + pe.writingMsgs, QueuedBytes: pe.q.bytes + pe.writingBytes, Dropped: pe.dropped})
		pe.mu.Unlock()
	}
	return out
}

// Close stops accepting (or connecting), waits up to the linger time for
// queued messages to leave, and closes every connection.
func (p *Pub) Close() error {
	p.mu.Lock()
	if p.closed.Swap(true) {
		p.mu.Unlock()
		return ErrClosed
	}
	p.active.Wake() // WaitSubscribers returns
	p.mu.Unlock()
	var err error
	if p.ln != nil {
		err = p.ln.Close()
	} else {
		p.endLife() // no more connections; the one up keeps its linger
	}
	p.Flush()
	deadline := time.Now().Add(p.linger)
	for time.Now().Before(deadline) {
		queued := 0
		for _, q := range p.Peers() {
			queued += q.Queued
		}
		if queued == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	p.mu.Lock()
	peers := append([]*peer(nil), p.peers...)
	p.mu.Unlock()
	for _, pe := range peers {
		pe.close()
	}
	p.wg.Wait()
	return err
}

// peer is one connected subscriber.
type peer struct {
	pub     *Pub
	conn    net.Conn
	addr    string
	id      uint64 // the connection's number at this Pub, from 1
	dialled bool   // the Pub connected to it (DialPub)
	wake    chan struct{}
	done    chan struct{}
	once    sync.Once

	mu           sync.Mutex // guards below
	subs         topic.Set
	subBytes     int                 // bytes of the distinct prefixes in subs
	seen         map[string]struct{} // topics sent to this peer
	q            sendQueue           // frames queued for the writer
	writing      sendQueue           // frames being written
	writingMsgs  int
	writingBytes int // of writing, not yet written
	pongQueued   bool
	dropped      uint64
	kick         error // set by send: the writer disconnects the peer
	closed       bool
}

func (pe *peer) isClosed() bool {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	return pe.closed
}

func (pe *peer) send(topic, body []byte, control bool) {
	pe.mu.Lock()
	if pe.closed || pe.kick != nil || !pe.subs.Match(topic) {
		pe.mu.Unlock()
		return
	}
	p := pe.pub
	// The first message on a topic is where the subscriber joins the
	// topic: lose it and the subscriber cannot know what it missed before
	// the next one. So it queues like a control message.
	_, seen := pe.seen[string(topic)]
	reserve := control || !seen
	queued, bytes := pe.q.msgs+pe.writingMsgs, pe.q.bytes+pe.writingBytes
	var over bool
	if reserve {
		over = queued >= p.hwm+controlReserve || bytes >= p.maxBytes+reserveBytes
	} else {
		over = queued >= p.hwm || bytes >= p.maxBytes ||
			(bytes >= fairShare && p.queued.Load() >= p.maxQueued)
	}
	if over {
		pe.dropped++
		if reserve {
			// Even what tells it about its losses cannot reach this
			// peer: disconnect it (its writer does). It reconnects and
			// rejoins, and its sequence numbers tell it exactly what it
			// lost.
			pe.kick = fmt.Errorf("too slow: %d messages, %d bytes queued", queued, bytes)
		}
		pe.mu.Unlock()
		p.dropped.Add(1)
		if reserve {
			// Its writer is likely blocked on the socket: closing the
			// connection makes it return and see why.
			pe.conn.Close()
			pe.signal()
		}
		return
	}
	if !seen {
		pe.seen[string(topic)] = struct{}{}
	}
	before := pe.q.bytes
	pe.q.writeFrame(&p.chunks, flagMore, topic)
	pe.q.writeFrame(&p.chunks, 0, body)
	pe.q.msgs++
	p.queued.Add(int64(pe.q.bytes - before))
	early := pe.q.bytes >= writeEarly
	pe.mu.Unlock()
	if early {
		pe.signal()
	}
}

func (pe *peer) signal() {
	select {
	case pe.wake <- struct{}{}:
	default:
	}
}

// write is the peer's writer goroutine: it takes the queued chunks and
// writes them, up to writeGroup bytes per system call, each under the stall
// timeout.
func (pe *peer) write() {
	defer pe.pub.wg.Done()
	p := pe.pub
	var group [writeGroup / chunkSize][]byte // WriteTo consumes its slice: refill this array
	for {
		select {
		case <-pe.wake:
		case <-pe.done:
			return
		}
		for {
			if pe.kicked() {
				return
			}
			pe.mu.Lock()
			if pe.q.bytes == 0 {
				pe.mu.Unlock()
				break
			}
			// The queues trade places; while one is written, Send appends
			// to the other.
			pe.q, pe.writing = pe.writing, pe.q
			pe.writingMsgs, pe.writingBytes = pe.writing.msgs, pe.writing.bytes
			pe.pongQueued = false
			pe.mu.Unlock()
			chunks := pe.writing.chunks
			for len(chunks) > 0 {
				n := min(len(chunks), writeGroup/chunkSize)
				size := 0
				bufs := net.Buffers(group[:0])
				for _, c := range chunks[:n] {
					bufs = append(bufs, c)
					size += len(c)
				}
				pe.conn.SetWriteDeadline(time.Now().Add(p.stallTimeout))
				if _, err := bufs.WriteTo(pe.conn); err != nil {
					if pe.kicked() {
						return
					}
					if errors.Is(err, os.ErrDeadlineExceeded) {
						p.cutOff(pe.addr, fmt.Errorf("it stopped reading: no write accepted for %v", p.stallTimeout))
					}
					pe.fail(err)
					return
				}
				for i, c := range chunks[:n] {
					p.chunks.put(c)
					chunks[i] = nil
				}
				chunks = chunks[n:]
				pe.mu.Lock()
				if !pe.closed { // close has taken what was left off the total
					pe.writingBytes -= size
					p.queued.Add(-int64(size))
				}
				pe.mu.Unlock()
			}
			pe.mu.Lock()
			pe.writing.chunks, pe.writing.bytes, pe.writing.msgs = pe.writing.chunks[:0], 0, 0
			pe.writingMsgs, pe.writingBytes = 0, 0
			pe.mu.Unlock()
		}
	}
}

// kicked disconnects the peer if send said it must go, and reports whether
// it did.
func (pe *peer) kicked() bool {
	pe.mu.Lock()
	err := pe.kick
	pe.mu.Unlock()
	if err == nil {
		return false
	}
	pe.pub.cutOff(pe.addr, err)
	pe.close()
	return true
}

// read is the peer's reader goroutine: it takes subscriptions (ZMTP 3.0
// messages and 3.1 commands) and answers PINGs. Until the peer subscribes
// to something, the read has a deadline: a connection that never does is
// closed.
func (pe *peer) read() {
	defer pe.pub.wg.Done()
	p := pe.pub
	fr := newFrameReader(4096, maxSubscription, maxSubFrames)
	subscribed, on := false, false
	pe.awaitSubscription(true)
	for {
		for {
			m, _, ok, err := fr.next()
			if err != nil {
				pe.cutOff(err)
				return
			}
			if !ok {
				break
			}
			if on, err = pe.handle(m); err != nil {
				pe.cutOff(err)
				return
			}
		}
		// Subscriptions that arrived together take effect together: a
		// peer that asked for several topics is active with all of them.
		if on != subscribed {
			subscribed = on
			p.setActive(pe, on)
			pe.awaitSubscription(!on)
		}
		if _, err := fr.fill(pe.conn); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !subscribed {
				p.cutOff(pe.addr, fmt.Errorf("no subscription in %v", p.subscribeTimeout))
			}
			pe.fail(err)
			return
		}
	}
}

// awaitSubscription starts (on) or stops the time a connection without a
// subscription has before it is closed. A connection the Pub dialled has
// none: it is the one the Pub was told to make, and closing it would only
// make the Pub dial again (a zmq_proxy's XSUB subscribes only once a
// subscriber has subscribed at its XPUB).
func (pe *peer) awaitSubscription(on bool) {
	switch {
	case pe.dialled:
	case on:
		pe.conn.SetReadDeadline(time.Now().Add(pe.pub.subscribeTimeout))
	default:
		pe.conn.SetReadDeadline(time.Time{})
	}
}

// cutOff disconnects a peer that broke the protocol or the limits.
func (pe *peer) cutOff(err error) {
	pe.pub.cutOff(pe.addr, err)
	pe.close()
}

// cutOff counts a peer cut off and logs it: at Warn, at most every 10 s
// with the count since (a hostile client can reconnect at will).
func (p *Pub) cutOff(addr string, reason error) {
	p.cut.Add(1)
	if ok, more := p.cutLog.Allow(time.Now()); ok {
		p.log.Warn("zmtp: subscriber disconnected", "endpoint", p.endpoint, "peer", addr, "reason", reason,
			"others_since_last_log", more)
	}
}

// handle takes one message or command from the peer; it reports whether
// the peer has any subscription after it.
func (pe *peer) handle(m message) (subscribed bool, err error) {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if m.command {
		name, data, err := parseCommand(m.first)
		if err != nil {
			return pe.subs.Len() > 0, err
		}
		switch name {
		case "SUBSCRIBE":
			err = pe.subscribe(data)
		case "CANCEL":
			pe.cancel(data)
		case "PING":
			err = pe.pong(data)
		}
		return pe.subs.Len() > 0, err
	}
	// A SUB sends only subscriptions: one frame, 1 or 0 then the prefix.
	// Anything else is ignored, as libzmq's PUB ignores it.
	if m.frames == 1 && len(m.first) > 0 {
		switch m.first[0] {
		case 1:
			err = pe.subscribe(m.first[1:])
		case 0:
			pe.cancel(m.first[1:])
		}
	}
	return pe.subs.Len() > 0, err
}

// subscribe adds a subscription, within the connection's bounds.
func (pe *peer) subscribe(prefix []byte) error {
	n := pe.subs.Len()
	if n >= pe.pub.maxSubs || pe.subBytes+len(prefix) > maxSubscriptionBytes {
		return fmt.Errorf("%w: more than %d subscriptions or %d bytes of them", ErrProtocol, pe.pub.maxSubs, maxSubscriptionBytes)
	}
	pe.subs.Add(prefix)
	if pe.subs.Len() > n {
		pe.subBytes += len(prefix)
	}
	return nil
}

func (pe *peer) cancel(prefix []byte) {
	n := pe.subs.Len()
	pe.subs.Remove(prefix)
	if pe.subs.Len() < n {
		pe.subBytes -= len(prefix)
	}
}

// pong queues the answer to a PING: its TTL (2 bytes), then a context of
// up to 16 bytes that the PONG echoes. One PONG waits at a time; a PING
// while it waits is answered by it (the peer learns we are alive all the
// same). The PONG counts in the peer's queue like a control message.
func (pe *peer) pong(data []byte) error {
	if len(data) < 2 || len(data)-2 > maxPingContext {
		return fmt.Errorf("%w: PING with a context of %d bytes", ErrProtocol, len(data)-2)
	}
	if pe.pongQueued || pe.kick != nil {
		return nil
	}
	p := pe.pub
	if pe.q.msgs+pe.writingMsgs >= p.hwm+controlReserve {
		return nil // hopelessly behind: send will disconnect it
	}
	before := pe.q.bytes
	var cmd [2 + 5 + maxPingContext]byte
	pe.q.write(&p.chunks, appendCommand(cmd[:0], "PONG", data[2:]))
	pe.q.msgs++
	p.queued.Add(int64(pe.q.bytes - before))
	pe.pongQueued = true
	pe.signal()
	return nil
}

// fail drops the connection after an error on it.
func (pe *peer) fail(err error) {
	pe.pub.log.Debug("zmtp: subscriber gone", "endpoint", pe.pub.endpoint, "peer", pe.addr, "err", err)
	pe.close()
}

// close disconnects the peer. Messages still queued for it are dropped and
// counted, and its memory goes back to the pool.
func (pe *peer) close() {
	pe.once.Do(func() {
		p := pe.pub
		pe.mu.Lock()
		pe.closed = true
		lost := uint64(pe.q.msgs + pe.writingMsgs)
		pe.dropped += lost
		p.queued.Add(-int64(pe.q.bytes + pe.writingBytes))
		pe.writingMsgs, pe.writingBytes = 0, 0
		pe.q.release(&p.chunks) // the writer's own are left to the collector
		pe.mu.Unlock()
		p.dropped.Add(lost)
		close(pe.done)
		pe.conn.Close()
		p.remove(pe)
	})
}

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
package zmtp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/publisher"
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
	// DefaultLinger bounds how long Close waits for queued messages to leave.
	DefaultLinger = time.Second
	// writeEarly is the queued size at which a subscriber's writer is woken
	// before the publisher's Flush, so large bursts start moving sooner.
	writeEarly = 256 << 10
	// maxSubscription bounds a subscription message from a peer.
	maxSubscription = 64 << 10
	// controlReserve is how many control messages (heartbeats, session
	// ends) may queue for a subscriber beyond its high-water mark: they
	// tell it exactly what the dropped data was, so they are dropped only
	// when a peer is hopelessly behind.
	controlReserve = 1000
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

// WithLinger sets how long Close waits for queued messages (default 1s).
func WithLinger(d time.Duration) PubOption { return func(p *Pub) { p.linger = d } }

// WithPubLogger sets the logger (default slog.Default()).
func WithPubLogger(l *slog.Logger) PubOption { return func(p *Pub) { p.log = l } }

// Pub is the PUB side of a ZeroMQ endpoint: it binds, accepts subscribers
// (libzmq, zmq4 or tickcast SUB sockets), and sends each of them the messages
// whose topic matches its subscriptions. It implements publisher.Sink.
type Pub struct {
	endpoint string
	ln       net.Listener
	hwm      int
	maxBytes int
	linger   time.Duration
	log      *slog.Logger

	mu     sync.Mutex              // serialises changes to peers
	peers  atomic.Pointer[[]*peer] // copy on write: Send reads it without locking
	closed atomic.Bool
	wg     sync.WaitGroup

	messages, bytes, dropped atomic.Uint64
	handshakeErrors          atomic.Uint64
}

var _ publisher.Sink = (*Pub)(nil)

// Listen binds endpoint (tcp://host:port, tcp://*:port, ipc://path) and
// starts accepting subscribers.
func Listen(endpoint string, opts ...PubOption) (*Pub, error) {
	network, addr, err := parseEndpoint(endpoint, true)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		// As libzmq does: a stale socket file from an earlier run is replaced.
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(addr)
		}
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("zmtp: listen %s: %w", endpoint, err)
	}
	p := &Pub{endpoint: endpointOf(ln.Addr()), ln: ln, hwm: DefaultSendHWM, maxBytes: DefaultSendBuffer,
		linger: DefaultLinger, log: slog.Default()}
	for _, o := range opts {
		o(p)
	}
	p.peers.Store(&[]*peer{})
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Endpoint returns the bound endpoint, with the port the system chose.
func (p *Pub) Endpoint() string { return p.endpoint }

func (p *Pub) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Warn("zmtp: accept", "endpoint", p.endpoint, "err", err)
			time.Sleep(10 * time.Millisecond) // out of descriptors, say: do not spin
			continue
		}
		p.wg.Add(1)
		go p.open(c)
	}
}

// open runs the handshake with a new connection and starts serving it.
func (p *Pub) open(c net.Conn) {
	defer p.wg.Done()
	if err := handshake(c, typePub); err != nil {
		p.handshakeErrors.Add(1)
		p.log.Debug("zmtp: handshake failed", "endpoint", p.endpoint, "peer", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	pe := &peer{pub: p, conn: c, addr: c.RemoteAddr().String(), seen: make(map[string]struct{}),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		c.Close()
		return
	}
	peers := append(append([]*peer(nil), *p.peers.Load()...), pe)
	p.peers.Store(&peers)
	p.wg.Add(2)
	p.mu.Unlock()
	p.log.Debug("zmtp: subscriber connected", "endpoint", p.endpoint, "peer", pe.addr)
	go pe.write()
	go pe.read()
}

func (p *Pub) remove(pe *peer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.peers.Load()
	peers := make([]*peer, 0, len(old))
	for _, q := range old {
		if q != pe {
			peers = append(peers, q)
		}
	}
	p.peers.Store(&peers)
}

// Send queues the message [topic, body] for every subscriber whose
// subscriptions match the topic. It copies it and never blocks on the
// network.
func (p *Pub) Send(m publisher.Message) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.messages.Add(1)
	p.bytes.Add(uint64(len(m.Topic) + len(m.Body)))
	for _, pe := range *p.peers.Load() {
		pe.send(m.Topic, m.Body, m.Control)
	}
	return nil
}

// Flush wakes the writers of subscribers that have messages queued.
func (p *Pub) Flush() error {
	for _, pe := range *p.peers.Load() {
		pe.mu.Lock()
		queued := len(pe.pending) > 0
		pe.mu.Unlock()
		if queued {
			pe.signal()
		}
	}
	return nil
}

// Stats returns the socket's counters.
func (p *Pub) Stats() publisher.SinkStats {
	return publisher.SinkStats{
		Endpoint: p.endpoint,
		Peers:    len(*p.peers.Load()),
		Messages: p.messages.Load(),
		Bytes:    p.bytes.Load(),
		Dropped:  p.dropped.Load(),
	}
}

// PeerStats describe one connected subscriber.
type PeerStats struct {
	Addr          string
	Subscriptions int    // distinct prefixes
	Queued        int    // messages waiting for it
	Dropped       uint64 // messages dropped for it at the high-water mark
}

// Peers returns the connected subscribers: the one dropping messages is the
// slow consumer.
func (p *Pub) Peers() []PeerStats {
	var out []PeerStats
	for _, pe := range *p.peers.Load() {
		pe.mu.Lock()
		out = append(out, PeerStats{Addr: pe.addr, Subscriptions: pe.subs.Len(),
			Queued: pe.pendingMsgs + pe.writingMsgs, Dropped: pe.dropped})
		pe.mu.Unlock()
	}
	return out
}

// Close stops accepting, waits up to the linger time for queued messages to
// leave, and closes every connection.
func (p *Pub) Close() error {
	p.mu.Lock()
	if p.closed.Swap(true) {
		p.mu.Unlock()
		return ErrClosed
	}
	p.mu.Unlock()
	err := p.ln.Close()
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
	for _, pe := range *p.peers.Load() {
		pe.close()
	}
	p.wg.Wait()
	return err
}

// peer is one connected subscriber.
type peer struct {
	pub  *Pub
	conn net.Conn
	addr string
	wake chan struct{}
	done chan struct{}
	once sync.Once

	mu           sync.Mutex // guards below
	subs         topic.Set
	seen         map[string]struct{} // topics sent to this peer
	pending      []byte              // frames queued for the writer
	pendingMsgs  int
	writingMsgs  int // messages in the buffer being written
	writingBytes int
	spare        []byte // the writer's other buffer
	dropped      uint64
	closed       bool
}

func (pe *peer) send(topic, body []byte, control bool) {
	pe.mu.Lock()
	if pe.closed || !pe.subs.Match(topic) {
		pe.mu.Unlock()
		return
	}
	// The first message on a topic is where the subscriber joins the
	// topic: lose it and the subscriber cannot know what it missed before
	// the next one. So it queues like a control message.
	_, seen := pe.seen[string(topic)]
	reserve := control || !seen
	queued, bytes := pe.pendingMsgs+pe.writingMsgs, len(pe.pending)+pe.writingBytes
	var over bool
	if reserve {
		over = queued >= pe.pub.hwm+controlReserve
	} else {
		over = queued >= pe.pub.hwm || bytes >= pe.pub.maxBytes
	}
	if over {
		pe.dropped++
		pe.mu.Unlock()
		pe.pub.dropped.Add(1)
		if reserve {
			// Even what tells it about its losses cannot reach this
			// peer: disconnect it. It reconnects and rejoins, and its
			// sequence numbers tell it exactly what it lost.
			pe.pub.log.Warn("zmtp: subscriber too slow, disconnecting", "endpoint", pe.pub.endpoint, "peer", pe.addr, "queued", queued)
			go pe.close()
		}
		return
	}
	if !seen {
		pe.seen[string(topic)] = struct{}{}
	}
	pe.pending = appendFrame(pe.pending, flagMore, topic)
	pe.pending = appendFrame(pe.pending, 0, body)
	pe.pendingMsgs++
	early := len(pe.pending) >= writeEarly
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

// write is the peer's writer goroutine: it swaps the pending buffer out and
// writes all of it with one system call.
func (pe *peer) write() {
	defer pe.pub.wg.Done()
	for {
		select {
		case <-pe.wake:
		case <-pe.done:
			return
		}
		for {
			pe.mu.Lock()
			if len(pe.pending) == 0 {
				pe.mu.Unlock()
				break
			}
			// The two buffers trade places; while one is written, Send
			// appends to the other.
			buf, n := pe.pending, pe.pendingMsgs
			pe.pending, pe.pendingMsgs, pe.writingMsgs, pe.writingBytes = pe.spare[:0], 0, n, len(buf)
			pe.spare = nil
			pe.mu.Unlock()
			if _, err := pe.conn.Write(buf); err != nil {
				pe.fail(err)
				return
			}
			pe.mu.Lock()
			pe.spare, pe.writingMsgs, pe.writingBytes = buf[:0], 0, 0
			pe.mu.Unlock()
		}
	}
}

// read is the peer's reader goroutine: it takes subscriptions (ZMTP 3.0
// messages and 3.1 commands) and answers PINGs.
func (pe *peer) read() {
	defer pe.pub.wg.Done()
	buf := make([]byte, 4096)
	r, w := 0, 0
	for {
		for {
			m, n, need, err := parseMessage(buf[r:w], maxSubscription)
			if err != nil {
				pe.fail(err)
				return
			}
			if n == 0 {
				if r > 0 { // make room at the end
					w = copy(buf, buf[r:w])
					r = 0
				}
				if need > len(buf) {
					buf = append(buf, make([]byte, need-len(buf))...)
				}
				break
			}
			r += n
			if err := pe.handle(m); err != nil {
				pe.fail(err)
				return
			}
		}
		n, err := pe.conn.Read(buf[w:])
		w += n
		if err != nil {
			pe.fail(err)
			return
		}
	}
}

func (pe *peer) handle(m message) error {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if m.command {
		name, data, err := parseCommand(m.first)
		if err != nil {
			return err
		}
		switch name {
		case "SUBSCRIBE":
			pe.subs.Add(data)
		case "CANCEL":
			pe.subs.Remove(data)
		case "PING":
			// PING: TTL (2 bytes) then a context the PONG echoes.
			if len(data) >= 2 {
				pe.pending = appendCommand(pe.pending, "PONG", data[2:])
				pe.signal()
			}
		}
		return nil
	}
	// A SUB sends only subscriptions: one frame, 1 or 0 then the prefix.
	// Anything else is ignored, as libzmq's PUB ignores it.
	if m.frames == 1 && len(m.first) > 0 {
		switch m.first[0] {
		case 1:
			pe.subs.Add(m.first[1:])
		case 0:
			pe.subs.Remove(m.first[1:])
		}
	}
	return nil
}

// fail drops the connection after an error on it.
func (pe *peer) fail(err error) {
	pe.pub.log.Debug("zmtp: subscriber gone", "endpoint", pe.pub.endpoint, "peer", pe.addr, "err", err)
	pe.close()
}

// close disconnects the peer. Messages still queued for it are dropped and
// counted.
func (pe *peer) close() {
	pe.once.Do(func() {
		pe.mu.Lock()
		pe.closed = true
		lost := uint64(pe.pendingMsgs + pe.writingMsgs)
		pe.dropped += lost
		pe.pending, pe.pendingMsgs = nil, 0
		pe.mu.Unlock()
		pe.pub.dropped.Add(lost)
		close(pe.done)
		pe.conn.Close()
		pe.pub.remove(pe)
	})
}

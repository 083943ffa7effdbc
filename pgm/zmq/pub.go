// Package zmq is ZeroMQ PUB/SUB over PGM as libzmq 4.3 does it (pgm_sender,
// pgm_receiver, v1 framing): Pub packs multipart messages into APDUs and
// sends them on a transport.Sender; Sub receives a transport.Receiver's data,
// decodes each source's stream, and filters by topic prefix locally, since
// PGM carries no subscriptions upstream. Both interoperate with libzmq PUB
// and SUB sockets on epgm:// and pgm:// endpoints.
package zmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tickcast/tickcast/pgm/apdu"
	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Errors.
var (
	// ErrBacklogFull: Send refused a message because the backlog in front
	// of the rate limit is full. The message is dropped and counted.
	ErrBacklogFull = errors.New("pgm/zmq: send backlog full")
	// ErrClosed: the socket is closed.
	ErrClosed = errors.New("pgm/zmq: closed")
)

// Pub defaults.
const (
	// DefaultBacklog bounds the bytes of packed APDUs waiting for the rate
	// limit: at the endpoint package's default 1 Gbit/s, 16 MiB is 130 ms of
	// sending, a burst the feed can absorb; beyond it the publisher is
	// faster than the configured rate and messages are dropped, counted,
	// rather than memory growing or Send blocking.
	DefaultBacklog = 16 << 20
	// DefaultReserve is the backlog beyond DefaultBacklog kept for reserved
	// messages (SendReserved): few and small, and what tells subscribers
	// exactly what the dropped ones were.
	DefaultReserve = 1 << 20
	// DefaultLinger bounds how long Close waits for the backlog to leave.
	DefaultLinger = time.Second
)

// PubConfig configures a Pub.
type PubConfig struct {
	Sender transport.SenderConfig
	// Backlog bounds the bytes waiting to be sent (0: DefaultBacklog);
	// Reserve is the extra room for SendReserved (0: DefaultReserve).
	Backlog, Reserve int
	// Linger bounds how long Close waits for the backlog to leave (0:
	// DefaultLinger; negative: no wait).
	Linger time.Duration
}

// PubStats are a Pub's counters.
type PubStats struct {
	Messages uint64 // messages accepted
	Bytes    uint64 // their frame bytes
	Dropped  uint64 // messages refused with ErrBacklogFull
	Backlog  int    // bytes waiting now
	Sender   transport.SenderStats
}

// Pub is a ZeroMQ PUB socket on a PGM endpoint. Messages are packed into
// APDUs byte for byte as libzmq's pgm_sender packs them: many small
// messages share an APDU, and long ones span several. A partly filled APDU
// goes out when Flush has been called and the sender has nothing else to
// send, so an idle feed adds no delay and a busy one sends full packets.
//
// Send and Flush may be called from several goroutines.
type Pub struct {
	snd     *transport.Sender
	backlog int
	reserve int
	linger  time.Duration
	maxAPDU int

	mu          sync.Mutex
	packer      *apdu.Packer
	flushWanted bool
	closed      bool
	messages    uint64
	bytes       uint64
	dropped     uint64
}

var _ transport.Feeder = (*pubFeeder)(nil)

// pubFeeder is the Pub as the Sender sees it (Fill is not part of the
// Pub's API).
type pubFeeder Pub

// NewPub opens a PUB socket on endpoint (epgm:// or pgm://). It stops when
// ctx is done or Close is called.
func NewPub(ctx context.Context, endpoint string, cfg PubConfig) (*Pub, error) {
	ep, err := transport.ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	return NewPubEndpoint(ctx, ep, cfg)
}

// NewPubEndpoint is NewPub for a parsed endpoint.
func NewPubEndpoint(ctx context.Context, ep transport.Endpoint, cfg PubConfig) (*Pub, error) {
	p := &Pub{backlog: cfg.Backlog, reserve: cfg.Reserve, linger: cfg.Linger}
	if p.backlog <= 0 {
		p.backlog = DefaultBacklog
	}
	if p.reserve <= 0 {
		p.reserve = DefaultReserve
	}
	if p.linger == 0 {
		p.linger = DefaultLinger
	}
	var err error
	p.maxAPDU = ep.Network.MaxAPDU()
	if p.packer, err = apdu.NewPacker(p.maxAPDU); err != nil {
		return nil, fmt.Errorf("pgm/zmq: %w", err)
	}
	// The sender calls Fill from now on: everything it reads is set.
	if p.snd, err = transport.NewSender(ctx, ep, cfg.Sender, (*pubFeeder)(p)); err != nil {
		return nil, err
	}
	return p, nil
}

// TSI returns the PGM session's identifier.
func (p *Pub) TSI() wire.TSI { return p.snd.TSI() }

// Endpoint returns the endpoint.
func (p *Pub) Endpoint() transport.Endpoint { return p.snd.Endpoint() }

// Send queues one message, a frame per element of frames, copying it. It
// never blocks: when the backlog is full it drops the message and returns
// ErrBacklogFull.
func (p *Pub) Send(frames ...[]byte) error { return p.send(frames, false) }

// SendReserved is Send with access to the reserve: for the few messages
// that must get through when data is being dropped.
func (p *Pub) SendReserved(frames ...[]byte) error { return p.send(frames, true) }

func (p *Pub) send(frames [][]byte, reserved bool) error {
	size, n := 0, 0
	for _, f := range frames {
		size += apdu.FrameLen(len(f))
		n += len(f)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	limit := p.backlog
	if reserved {
		limit += p.reserve
	}
	if p.queuedLocked()+size > limit {
		p.dropped++
		p.mu.Unlock()
		return ErrBacklogFull
	}
	before := p.packer.Pending()
	err := p.packer.Add(frames...)
	wake := before == 0 && p.packer.Pending() > 0
	if err == nil {
		p.messages++
		p.bytes += uint64(n)
	}
	p.mu.Unlock()
	if wake {
		p.snd.Wake() // a full APDU is ready: no need to wait for Flush
	}
	return err
}

func (p *Pub) queuedLocked() int { return p.packer.Pending()*p.maxAPDU + p.packer.Buffered() }

// Flush sends what Send queued: the partly filled APDU goes out as soon as
// the sender has sent the full ones before it.
func (p *Pub) Flush() {
	p.mu.Lock()
	p.flushWanted = true
	p.mu.Unlock()
	p.snd.Wake()
}

// Fill gives the sender up to len(dst) APDUs.
func (f *pubFeeder) Fill(dst [][]byte) int {
	p := (*Pub)(f)
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(dst) {
		a := p.packer.Next()
		if a == nil {
			if !p.flushWanted || p.packer.Buffered() == 0 {
				break
			}
			// Nothing else to send: the partial APDU goes now.
			p.packer.Flush()
			p.flushWanted = false
			continue
		}
		dst[n] = append(dst[n][:0], a...)
		n++
	}
	return n
}

// Stats returns the counters.
func (p *Pub) Stats() PubStats {
	p.mu.Lock()
	st := PubStats{Messages: p.messages, Bytes: p.bytes, Dropped: p.dropped, Backlog: p.queuedLocked()}
	p.mu.Unlock()
	st.Sender = p.snd.Stats()
	return st
}

// Close flushes, waits up to the linger time for the backlog to be sent,
// ends the PGM session (SPMs with OPT_FIN) and closes the socket.
func (p *Pub) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	p.flushWanted = true
	p.mu.Unlock()
	return p.snd.Close(max(p.linger, 0))
}

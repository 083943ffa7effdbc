package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tickcast/tickcast/internal/ratelog"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// ReceiverConfig configures a Receiver.
type ReceiverConfig struct {
	// Receiver configures the PGM receiver; DataPort and Group are set from
	// the endpoint.
	Receiver receiver.Config
	// ReceiveBuffer sizes the socket's receive buffer; 0 means
	// DefaultReceiveBuffer.
	ReceiveBuffer int
	// Hops is the TTL of multicast SPMRs; 0 means DefaultHops.
	Hops int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// A Consumer takes the events of a Receiver, in its goroutine.
//
// Locking. The Receiver calls Room and Consume with its lock held: the
// lock Stats takes, which guards the PGM receiver whose window Consume's
// event points into. It calls Flush with that lock released. Therefore:
//   - Room and Consume must not call Receiver.Stats: it would deadlock.
//   - A lock that Room or Consume takes must never be held by a goroutine
//     while it calls Receiver.Stats: the lock order is the Receiver's lock,
//     then the consumer's (release your own lock before calling Stats).
//   - None of the three may call Receiver.Close, which waits for the
//     goroutine that is calling them to end.
//   - Room and Consume should be quick: while they run, Stats callers wait
//     and the socket is not read.
//
// Receiver.Wake and Receiver.Endpoint take no lock and may be called from
// any of the three; Flush may also call Stats.
type Consumer interface {
	// Room reports whether the consumer can take an event now. While it
	// cannot, the Receiver leaves data in the PGM receive window, where it
	// waits or, if the consumer stays away too long, is reported lost by
	// the window's overrun; the consumer calls Receiver.Wake once it has
	// room again.
	Room() bool
	// Consume takes one event. Its payload is valid only during the call.
	Consume(now time.Time, ev *receiver.Event)
	// Flush ends a round of events: what arrived in one batch of
	// datagrams has all been consumed (or is waiting for Room).
	Flush(now time.Time)
}

// ReceiverStats are a Receiver's counters.
type ReceiverStats struct {
	Receiver   receiver.Stats
	Datagrams  uint64 // datagrams read from the socket
	Reads      uint64 // recvmmsg calls that returned datagrams
	BadIP      uint64 // raw datagrams without a valid IPv4 header
	ReadErrors uint64
	SendErrors uint64 // NAKs and SPMRs the kernel refused
	Stalls     uint64 // rounds that ended with the consumer out of room
	SocketInfo SocketInfo
	// WindowUsed and WindowSQNs are the receive windows' use now and
	// their capacity, across the sources heard (receiver.Window).
	WindowUsed, WindowSQNs int
}

// Receiver is a PGM receiver on a socket: it reads the endpoint's group on
// the named interface, runs a receiver.Receiver over what it hears, sends
// its NAKs and SPMRs, and hands its events to a Consumer, all from one
// goroutine.
//
// EPGM: a UDP socket bound to group:port, not 0.0.0.0:port, so that it
// never takes the unicast NAKs meant for a libzmq publisher on the same host
// (a wildcard bind would share them under SO_REUSEPORT), with
// SO_REUSEADDR and SO_REUSEPORT so that other receivers and libzmq can share
// the port, IP_MULTICAST_ALL off so that it hears only its own group, and
// the group joined on the named interface. NAKs and SPMRs leave from the
// same socket: its bound address is multicast, so the kernel gives them the
// interface's source address. PGM: a raw IP protocol 113 socket bound
// and joined the same way.
type Receiver struct {
	ep   Endpoint
	log  *slog.Logger
	pc   net.PacketConn
	rc   syscall.RawConn
	info SocketInfo
	port uint16 // UDP port NAKs and SPMRs go to; 0 for raw
	c    Consumer

	wakeFlag atomic.Bool
	stalled  atomic.Bool
	done     chan struct{}
	once     sync.Once
	stopCtx  func() bool // unregisters the context's AfterFunc

	mu    sync.Mutex // guards r for Stats, and the counters
	r     *receiver.Receiver
	stats ReceiverStats
	ev    receiver.Event // the event being consumed: a pointer to it goes to the Consumer

	// What was last logged about sessions pushed out or not believed.
	evicted, refused, implausible uint64
	hostileLog                    ratelog.Limiter
}

// NewReceiver opens the socket and starts receiving. It stops when ctx is
// done or Close is called.
//
// A socket that cannot be opened gives an error wrapping ErrSocket (or
// ErrPermission: pgm:// without CAP_NET_RAW) and the system's error, for
// errors.Is: syscall.EADDRINUSE if a socket without SO_REUSEADDR and
// SO_REUSEPORT holds the port on the group's address or on 0.0.0.0,
// syscall.EPERM.
func NewReceiver(ctx context.Context, ep Endpoint, cfg ReceiverConfig, c Consumer) (*Receiver, error) {
	rcfg := cfg.Receiver
	rcfg.DataPort, rcfg.Group = ep.Port, ep.Group
	r, err := receiver.New(rcfg, time.Now())
	if err != nil {
		return nil, fmt.Errorf("pgm/transport: %s: %w", ep, err)
	}
	x := &Receiver{ep: ep, log: cfg.Logger, c: c, r: r, done: make(chan struct{}),
		hostileLog: ratelog.Limiter{Every: 10 * time.Second}}
	if x.log == nil {
		x.log = slog.Default()
	}
	if ep.Network == EPGM {
		x.port = ep.Port
	}
	spec := socketSpec{
		network: ep.Network, bind: netip.AddrPortFrom(ep.Group, ep.Port), reuseAddr: true, reusePort: true,
		iface: ep.Interface.Index, ifaddr: ep.Addr, hops: orDefault(cfg.Hops, DefaultHops),
		loop: ep.Interface.Flags&net.FlagLoopback == 0, join: ep.Group,
		rcvbuf: orDefault(cfg.ReceiveBuffer, DefaultReceiveBuffer), sndbuf: 256 << 10,
	}
	x.pc, x.rc, x.info, err = openSocket(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	x.stats.SocketInfo = x.info
	x.log.Debug("pgm: receiver up", "endpoint", ep.String(), "rcvbuf", x.info.RcvBuf, "forced", x.info.Forced)
	go x.run()
	x.stopCtx = context.AfterFunc(ctx, x.close)
	return x, nil
}

// Endpoint returns the endpoint the Receiver listens to.
func (x *Receiver) Endpoint() Endpoint { return x.ep }

// Wake makes the Receiver run a round now: offer events to its Consumer
// again after Room said no, and call Flush again (a consumer whose Flush
// could not hand its data over calls it once it can). It never blocks.
func (x *Receiver) Wake() {
	x.wakeFlag.Store(true)
	// Interrupt a blocked read; the loop sees the flag after setting its
	// own deadline, so a wake between the two is not lost either.
	x.pc.SetReadDeadline(time.Now())
}

// Stats returns the counters.
func (x *Receiver) Stats() ReceiverStats {
	x.mu.Lock()
	defer x.mu.Unlock()
	st := x.stats
	st.Receiver = x.r.Stats()
	st.WindowUsed, st.WindowSQNs = x.r.Window()
	return st
}

// Close stops the Receiver and closes its socket.
func (x *Receiver) Close() error {
	x.close()
	x.stopCtx()
	return nil
}

// close closes the socket and waits for the goroutine to end.
func (x *Receiver) close() {
	x.once.Do(func() { x.pc.Close() })
	<-x.done
}

// run is the Receiver's goroutine. Each round it waits for datagrams (until
// the PGM receiver's next timer, or a Wake), then, with x.mu held, hands
// them and the time to the PGM receiver, queues the NAKs and SPMRs it
// returns, gives the Consumer its events (Room and Consume run under x.mu:
// see deliverLocked), sends the NAKs and SPMRs, and, with x.mu released,
// calls the Consumer's Flush.
func (x *Receiver) run() {
	defer close(x.done)
	rb := newReadBatch(batchSize, slotSize)
	wb := newWriteBatch(8, slotSize)
	var readDeadline time.Time
	resetDeadline := true // the socket's deadline may differ from readDeadline
	for {
		x.mu.Lock()
		deadline := x.r.Deadline()
		x.mu.Unlock()
		if x.stalled.Load() {
			// Backstop for a consumer that never wakes us: look again soon.
			if soon := time.Now().Add(10 * time.Millisecond); deadline.IsZero() || soon.Before(deadline) {
				deadline = soon
			}
		}
		if resetDeadline || !deadline.Equal(readDeadline) {
			x.pc.SetReadDeadline(deadline)
			readDeadline, resetDeadline = deadline, false
		}
		var n int
		var err error
		if x.wakeFlag.Swap(false) {
			// Woken: the consumer has room. Wake moved the socket's
			// deadline; set it again next time round.
			resetDeadline = true
		} else {
			n, err = rb.read(x.rc)
		}
		now := time.Now()
		x.mu.Lock()
		if err != nil {
			switch {
			case errors.Is(err, net.ErrClosed):
				x.mu.Unlock()
				return
			case errors.Is(err, os.ErrDeadlineExceeded):
				resetDeadline = true // Wake may have moved it
			default:
				x.stats.ReadErrors++
				x.log.Debug("pgm: receiver read", "endpoint", x.ep.String(), "err", err)
			}
		}
		x.handleLocked(now, rb, n)
		x.queueLocked(now, wb)
		stalled := x.deliverLocked(now)
		if stalled {
			x.stats.Stalls++
		}
		x.flushLocked(wb)
		x.mu.Unlock()
		if !stalled {
			x.stalled.Store(false)
		}
		x.c.Flush(now) // x.mu released: Flush may call Stats
	}
}

// handleLocked gives the PGM receiver the n datagrams read into rb, then
// the time. x.mu is held.
func (x *Receiver) handleLocked(now time.Time, rb *readBatch, n int) {
	if n > 0 {
		x.stats.Reads++
		x.stats.Datagrams += uint64(n)
	}
	for i := range n {
		from, b := rb.datagram(i)
		if x.ep.Network == PGM {
			ip, pkt, err := wire.ParseIPv4(b)
			if err != nil {
				x.stats.BadIP++
				continue
			}
			from, b = ip.Src, pkt
		}
		x.r.HandleDatagram(now, from, b) // what it drops, it counts
	}
	x.r.HandleTimeout(now)
	x.logHostile(now)
}

// queueLocked adds the NAKs and SPMRs the PGM receiver has due to wb,
// sending the batch whenever it is full. x.mu is held.
func (x *Receiver) queueLocked(now time.Time, wb *writeBatch) {
	for {
		tx, ok := x.r.Poll(now)
		if !ok {
			return
		}
		to := tx.To
		if tx.Multicast {
			to = x.ep.Group
		}
		if !wb.add(tx.Packet, to, x.port) {
			x.flushLocked(wb) // tx.Packet stays valid: no call on x.r in between
			wb.add(tx.Packet, to, x.port)
		}
	}
}

// deliverLocked gives the Consumer the PGM receiver's events while it has
// room, and reports whether it ran out of room (stalled) before the events
// did.
//
// x.mu is held throughout, across the calls to Room and Consume: each event
// comes from x.r.Next, and its payload points into the PGM receiver's
// window, valid until the next call on x.r, which Stats (reading x.r under
// x.mu) must not race; holding the lock for the whole round rather than
// dropping and retaking it around each Consume keeps the per-event cost at
// one call. The Consumer interface says what this forbids its methods.
func (x *Receiver) deliverLocked(now time.Time) (stalled bool) {
	for {
		if !x.c.Room() {
			// Say so before looking again: a consumer that makes room
			// in between then sees stalled and wakes us.
			x.stalled.Store(true)
			if !x.c.Room() {
				return true
			}
			x.stalled.Store(false)
		}
		var ok bool
		if x.ev, ok = x.r.Next(); !ok {
			return false
		}
		x.c.Consume(now, &x.ev)
	}
}

// logHostile logs, at Warn and at most every 10 s, sessions evicted or
// refused at the peer limit and packets not believed: a sender on the
// group that is not the feed's (forged, or a misconfigured program).
func (x *Receiver) logHostile(now time.Time) {
	st := x.r.Stats()
	if st.PeersEvicted == x.evicted && st.DroppedPeers == x.refused && st.DroppedImplausible == x.implausible {
		return
	}
	if ok, _ := x.hostileLog.Allow(now); !ok {
		return
	}
	x.log.Warn("pgm: foreign or forged packets on the group", "endpoint", x.ep.String(),
		"sessions_evicted", st.PeersEvicted-x.evicted, "sessions_refused", st.DroppedPeers-x.refused,
		"implausible_sqns", st.DroppedImplausible-x.implausible)
	x.evicted, x.refused, x.implausible = st.PeersEvicted, st.DroppedPeers, st.DroppedImplausible
}

// flushLocked sends the NAKs and SPMRs in wb. They are few, so x.mu stays
// held.
func (x *Receiver) flushLocked(wb *writeBatch) {
	if err := wb.flush(x.rc); err != nil && !errors.Is(err, net.ErrClosed) {
		x.log.Debug("pgm: receiver send", "endpoint", x.ep.String(), "err", err)
	}
	x.stats.SendErrors += wb.errs
	wb.errs = 0
}

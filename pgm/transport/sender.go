package transport

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tickcast/tickcast/internal/ratelog"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Socket defaults.
const (
	// DefaultSendBuffer and DefaultReceiveBuffer are the socket buffers
	// asked for. Above net.core.[rw]mem_max they need CAP_NET_ADMIN
	// (SO_*BUFFORCE); without it the sysctl caps them. A receive buffer of
	// 8 MiB holds about 5,000 full packets: 40 ms at 1 Gbit/s, time for a
	// descheduled receiver to come back without loss.
	DefaultSendBuffer    = 4 << 20
	DefaultReceiveBuffer = 8 << 20
	// DefaultHops is the multicast TTL: 1, the local link only, as
	// libzmq's ZMQ_MULTICAST_HOPS default. A feed crosses routers only when
	// asked to.
	DefaultHops = 1
	// batchSize is how many datagrams one sendmmsg/recvmmsg moves.
	batchSize = 64
	// slotSize holds any datagram this stack sends or accepts: a raw
	// datagram carries an IP header (up to 60 bytes) before a 1500-byte
	// TPDU at most.
	slotSize = 2048
	// spinBelow: waits shorter than this are spent yielding rather than
	// on a timer, whose wakeups on an idle Go runtime come up to a
	// millisecond late (the poller sleeps in whole milliseconds).
	spinBelow = 50 * time.Microsecond
	// burstTime is the least rate-limit burst the Sender configures: a
	// millisecond's worth (OpenPGM's bucket) is shorter than a timer's
	// lateness, so the bucket would overflow while the sender sleeps and
	// the rate would fall short. Two milliseconds at 1 Gbit/s is 170
	// packets, which the receivers' socket buffers absorb.
	burstTime = 2 * time.Millisecond
)

// A closing Sender goes on answering NAKs for dataGrace after its last data
// (receivers NAK a loss within NAK_BO_IVL, 50 ms by default, of seeing it)
// and for nakGrace after the last NAK: a receiver whose NCF or RDATA was
// lost asks again after NAK_RPT_IVL or NAK_RDATA_IVL (200 ms by default)
// plus a back-off, and a FIN before then would turn a repairable loss into
// a reported one.
const (
	dataGrace = 100 * time.Millisecond
	nakGrace  = 300 * time.Millisecond
)

// SenderConfig configures a Sender.
type SenderConfig struct {
	// Source configures the PGM source. DataPort, NLA, Group and MaxTSDU
	// are set from the endpoint; a zero TSI is drawn at random as libzmq
	// does (random GSI, random source port other than the data port).
	// Source.RateBurst defaults to two milliseconds of Source.Rate where
	// OpenPGM's would be one (rates of 1.5 MB/s and more).
	Source source.Config
	// Hops is the multicast TTL; 0 means DefaultHops.
	Hops int
	// SendBuffer and ReceiveBuffer size the socket buffers; 0 means the
	// defaults.
	SendBuffer, ReceiveBuffer int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// A Feeder gives a Sender its APDUs. The Sender calls Fill from its own
// goroutine whenever it can send; Sender.Wake tells it that Fill has more.
//
// Fill runs with the Sender's lock held (the one Stats takes and the
// socket's reader feeds NAKs under), so it must be quick and must not call
// Sender.Stats (a deadlock) or Sender.Close (which waits for the goroutine
// that is calling Fill); Wake, TSI, MaxAPDU and Endpoint are safe. A lock
// that Fill takes must not be held by a goroutine while it calls
// Sender.Stats: the order is the Sender's lock, then the Feeder's.
type Feeder interface {
	// Fill copies up to len(dst) APDUs, in order, into the dst slices
	// (each with room for the Sender's MaxAPDU bytes: dst[i] =
	// append(dst[i][:0], apdu...)) and returns how many it filled.
	Fill(dst [][]byte) int
}

// SenderStats are a Sender's counters.
type SenderStats struct {
	Source      source.Stats
	Datagrams   uint64 // datagrams received on the unicast socket (NAKs, SPMRs, anything)
	BadIP       uint64 // raw datagrams without a valid IPv4 header
	SendErrors  uint64 // datagrams the kernel refused (dropped)
	ReadErrors  uint64 // failed reads
	BadAPDUs    uint64 // APDUs the Feeder gave that the source refused (empty or too long)
	SocketInfo  SocketInfo
	WindowSQNs  int
	Unsent      int   // APDUs taken from the Feeder, not yet sent
	LastSendErr error // why the kernel last refused a datagram (a syscall.Errno); nil if never
}

// Sender is a PGM source on a socket: it sends a Feeder's APDUs as ODATA to
// the endpoint's group at the configured rate, with SPMs, and answers the
// NAKs and SPMRs that arrive on its unicast socket with NCFs and RDATA. It
// drives a source.Source from one goroutine; a second one reads the socket.
//
// EPGM: one UDP socket bound to the interface's address and the endpoint's
// port (the NLA receivers send NAKs to), with SO_REUSEPORT so that a libzmq
// receiver bound to 0.0.0.0:port can share the host, and sending multicast
// through IP_MULTICAST_IF on the named interface. A bind to the specific
// address gets every unicast datagram sent to it, whatever other sockets
// share the port with a wildcard bind. PGM: the same with a raw IP protocol
// 113 socket bound to the interface's address.
//
// Multicast loopback is on except on a loopback interface: on a real NIC
// a subscriber on the same host hears the group only through the loopback
// copy (libzmq turns it off, which is why its same-host pub/sub over a NIC
// gets nothing); on lo every multicast datagram comes back in through the
// interface itself, and the loopback copy would be a duplicate.
type Sender struct {
	ep      Endpoint
	log     *slog.Logger
	pc      net.PacketConn
	rc      syscall.RawConn
	info    SocketInfo
	port    uint16 // UDP destination port; 0 for raw
	feed    Feeder
	maxAPDU int
	tsi     wire.TSI

	wake   chan struct{}
	stop   chan struct{} // closed by Close or ctx: finish
	done   chan struct{} // closed when the send loop has exited
	readWG sync.WaitGroup

	closeOnce   sync.Once
	lingerUntil atomic.Int64 // unix ns: keep sending queued APDUs until then
	stopCtx     func() bool  // unregisters the context's AfterFunc

	mu           sync.Mutex // guards src, which the reader feeds NAKs into
	src          *source.Source
	lastUpstream time.Time // when a NAK or SPMR last arrived
	unsent       int
	datagrams    uint64
	badIP        uint64
	readErrors   uint64
	sendErrors   uint64
	badAPDUs     uint64
	lastSendErr  error
}

// NewSender opens the sockets and starts sending: the first SPMs go out at
// once. The Sender stops when ctx is done or Close is called.
//
// A socket that cannot be opened gives an error wrapping ErrSocket (or
// ErrPermission: pgm:// without CAP_NET_RAW) and the system's error, for
// errors.Is: syscall.EADDRINUSE if a socket without SO_REUSEPORT (or of
// another user) holds the interface's address and the port,
// syscall.EADDRNOTAVAIL if the address is not the host's, syscall.EPERM.
func NewSender(ctx context.Context, ep Endpoint, cfg SenderConfig, feed Feeder) (*Sender, error) {
	sc := cfg.Source
	sc.DataPort, sc.NLA, sc.Group = ep.Port, ep.Addr, ep.Group
	s := &Sender{ep: ep, log: cfg.Logger, feed: feed, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	sc.MaxTSDU = ep.Network.MaxAPDU()
	if ep.Network == EPGM {
		s.port = ep.Port
	}
	if sc.TSI == (wire.TSI{}) {
		sc.TSI = randomTSI(ep.Port)
	}
	if sc.RepairRate == 0 && sc.Rate > 0 {
		// Repairs answer NAKs, and PGM has no authentication: anyone who
		// can send us a datagram can ask for RDATA. The source's repair
		// budget (source.Config.RepairRatio) bounds what they draw
		// relative to the data actually sent; this bounds how fast it goes.
		sc.RepairRate = sc.Rate
	}
	if sc.RateBurst == 0 && sc.Rate/1000 >= source.DefaultMaxTPDU {
		// OpenPGM's bucket holds a millisecond at such rates; below them
		// it holds a second, which is plenty.
		sc.RateBurst = sc.Rate * int64(burstTime) / int64(time.Second)
	}
	src, err := source.New(sc, time.Now())
	if err != nil {
		return nil, fmt.Errorf("pgm/transport: %s: %w", ep, err)
	}
	s.src, s.tsi, s.maxAPDU = src, sc.TSI, sc.MaxTSDU
	spec := socketSpec{
		network: ep.Network, bind: netip.AddrPortFrom(ep.Addr, ep.Port), reusePort: true,
		iface: ep.Interface.Index, ifaddr: ep.Addr, hops: orDefault(cfg.Hops, DefaultHops),
		loop: ep.Interface.Flags&net.FlagLoopback == 0,
		// The unicast socket hears NAKs and SPMRs only: a modest buffer.
		rcvbuf: orDefault(cfg.ReceiveBuffer, 1<<20), sndbuf: orDefault(cfg.SendBuffer, DefaultSendBuffer),
	}
	s.pc, s.rc, s.info, err = openSocket(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	s.log.Debug("pgm: source up", "endpoint", ep.String(), "tsi", s.tsi.String(), "window", src.WindowSQNs(),
		"sndbuf", s.info.SndBuf, "forced", s.info.Forced)
	s.readWG.Add(1)
	go s.read()
	go s.run()
	s.stopCtx = context.AfterFunc(ctx, func() { s.shutdown(time.Time{}) })
	return s, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// randomTSI draws a session identifier as libzmq does: 6 random bytes of
// GSI and a random source port different from the data port.
func randomTSI(dataPort uint16) wire.TSI {
	var b [8]byte
	rand.Read(b[:])
	t := wire.TSI{SPort: binary.BigEndian.Uint16(b[6:])}
	copy(t.GSI[:], b[:6])
	for t.SPort == 0 || t.SPort == dataPort {
		t.SPort++
	}
	return t
}

// TSI returns the session's identifier.
func (s *Sender) TSI() wire.TSI { return s.tsi }

// MaxAPDU returns the largest APDU the Sender sends: libzmq's PGM_MSS for
// the endpoint's network.
func (s *Sender) MaxAPDU() int { return s.maxAPDU }

// Endpoint returns the endpoint the Sender sends to.
func (s *Sender) Endpoint() Endpoint { return s.ep }

// Wake tells the Sender that its Feeder has APDUs. It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (s *Sender) Stats() SenderStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SenderStats{Source: s.src.Stats(), Datagrams: s.datagrams, BadIP: s.badIP, SendErrors: s.sendErrors,
		ReadErrors: s.readErrors, BadAPDUs: s.badAPDUs, SocketInfo: s.info, WindowSQNs: s.src.WindowSQNs(),
		Unsent: s.unsent, LastSendErr: s.lastSendErr}
}

// Close sends what the Feeder still has, for up to linger, then ends the
// session with OpenPGM's three OPT_FIN SPMs and closes the socket.
func (s *Sender) Close(linger time.Duration) error {
	s.shutdown(time.Now().Add(linger))
	<-s.done
	s.stopCtx()
	return nil
}

func (s *Sender) shutdown(lingerUntil time.Time) {
	s.closeOnce.Do(func() {
		var until int64 // zero time: no linger
		if !lingerUntil.IsZero() {
			until = lingerUntil.UnixNano()
		}
		s.lingerUntil.Store(until)
		close(s.stop)
	})
}

// read receives what arrives on the unicast socket and hands it to the
// source, a batch at a time under one lock.
func (s *Sender) read() {
	defer s.readWG.Done()
	rb := newReadBatch(16, slotSize)
	for {
		n, err := rb.read(s.rc)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.mu.Lock()
			s.readErrors++
			s.mu.Unlock()
			s.log.Debug("pgm: source read", "endpoint", s.ep.String(), "err", err)
			time.Sleep(time.Millisecond) // an error that repeats must not spin
			continue
		}
		now := time.Now()
		s.mu.Lock()
		if n > 0 {
			s.lastUpstream = now
		}
		for i := range n {
			_, b := rb.datagram(i)
			s.datagrams++
			if s.ep.Network == PGM {
				_, pkt, err := wire.ParseIPv4(b)
				if err != nil {
					s.badIP++
					continue
				}
				b = pkt
			}
			s.src.HandleDatagram(now, b) // what it ignores, it counts
		}
		s.mu.Unlock()
		if n > 0 {
			s.Wake()
		}
	}
}

// run is the send loop: control packets (SPMs, NCFs, RDATA) as the source
// returns them, ODATA as the rate limit allows, a batch per sendmmsg. Each
// round fills a batch under s.mu (sendLoop.fill), sends it without the lock
// (sendLoop.flush), then, unless the batch was full, sleeps until the
// source's next timer, the rate limit, the linger's end, a Wake or Close
// (sendLoop.sleep).
func (s *Sender) run() {
	defer close(s.done)
	defer func() {
		s.pc.Close()
		s.readWG.Wait()
	}()
	l := newSendLoop(s)
	for {
		now := time.Now()
		l.checkStop()
		dataAt, deadline := l.fill(now)
		full := l.wb.full()
		if !l.flush() {
			return
		}
		if l.finished && deadline.IsZero() {
			return // the FIN SPMs are out
		}
		if full {
			continue // more may be due at once
		}
		l.sleep(l.wakeAt(deadline, dataAt))
	}
}

// sendLoop is the state Sender.run keeps from one round to the next. Only
// run's goroutine touches it.
// sendErrLogEvery is how often datagrams the kernel refuses are logged.
const sendErrLogEvery = 30 * time.Second

type sendLoop struct {
	s  *Sender
	wb *writeBatch
	// refused counts datagrams the kernel refused since refusedLog last
	// let one through.
	refused    uint64
	refusedLog ratelog.Limiter
	// pend holds APDUs taken from the Feeder; pend[pi:pn] are not sent yet.
	pend   [][]byte
	pi, pn int
	// stopping: Close or the context asked the session to end. finished:
	// the source has been closed, and Poll returns the FIN SPMs.
	stopping, finished bool
	// drainedAt is when, stopping, the Feeder was first found with nothing
	// more (zero while it still has APDUs).
	drainedAt time.Time
	timer     *time.Timer // stopped between waits
}

func newSendLoop(s *Sender) *sendLoop {
	l := &sendLoop{s: s, wb: newWriteBatch(batchSize, slotSize), refusedLog: ratelog.Limiter{Every: sendErrLogEvery}, pend: make([][]byte, batchSize),
		timer: time.NewTimer(time.Hour)}
	l.timer.Stop()
	for i := range l.pend {
		l.pend[i] = make([]byte, 0, l.s.maxAPDU)
	}
	return l
}

// checkStop notes whether Close or the context has asked the session to end.
func (l *sendLoop) checkStop() {
	if l.stopping {
		return
	}
	select {
	case <-l.s.stop:
		l.stopping = true
	default:
	}
}

// fill adds to the batch, under s.mu, what is due at now: first the
// source's control packets, then ODATA for the Feeder's APDUs, and, once
// stopping, decides whether the session ends. It returns when ODATA or the
// session's end must be looked at again (zero: no such time) and the
// source's next deadline.
func (l *sendLoop) fill(now time.Time) (dataAt, deadline time.Time) {
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	l.addControl(now)
	dataAt, drained := l.addData(now)
	s.unsent = l.pn - l.pi
	if l.stopping && !l.finished {
		dataAt = l.endSession(now, drained, dataAt)
	}
	return dataAt, s.src.Deadline()
}

// addControl adds the packets the source has due (SPMs, NCFs, RDATA, the
// FIN SPMs), as many as the batch holds. s.mu is held.
func (l *sendLoop) addControl(now time.Time) {
	s := l.s
	for !l.wb.full() {
		pkt := s.src.Poll(now)
		if pkt == nil {
			return
		}
		l.wb.add(pkt, s.ep.Group, s.port)
	}
}

// addData adds ODATA for the Feeder's APDUs while the batch has room and
// the rate limit allows, taking more from the Feeder as pend runs out. It
// returns when the rate limit lets the next APDU go (zero if it did not
// hold one back) and whether the Feeder had nothing more. s.mu is held:
// the Feeder's Fill runs under it.
func (l *sendLoop) addData(now time.Time) (dataAt time.Time, drained bool) {
	s := l.s
	for !l.wb.full() && !l.finished {
		if l.pi == l.pn {
			l.pi, l.pn = 0, s.feed.Fill(l.pend)
			if l.pn == 0 {
				return time.Time{}, true
			}
		}
		a := l.pend[l.pi]
		if t := s.src.SendTime(len(a)); t.After(now) {
			return t, false
		}
		pkt, err := s.src.Send(now, a)
		if errors.Is(err, source.ErrRateLimited) {
			return now.Add(spinBelow), false // SendTime said now: a rounding edge
		}
		l.pi++
		if err != nil {
			s.badAPDUs++ // empty or too long: the Feeder's bug, not the network's
			continue
		}
		l.wb.add(pkt, s.ep.Group, s.port)
	}
	return time.Time{}, false
}

// endSession, stopping and not yet finished, closes the source once
// everything queued has gone and receivers have stopped asking for repairs,
// or once the linger has run out; Poll then returns the FIN SPMs.
// (Receivers take FIN to mean that what they still miss is lost, so a last
// packet lost just before the end is repaired first, not reported seconds
// later.) drained says the Feeder had nothing more this round. It returns
// when to look again: dataAt while APDUs remain, the time the session goes
// quiet once drained, zero once finished. s.mu is held.
func (l *sendLoop) endSession(now time.Time, drained bool, dataAt time.Time) time.Time {
	s := l.s
	if !drained {
		l.drainedAt = time.Time{}
	} else if l.drainedAt.IsZero() {
		l.drainedAt = now
	}
	quietAt := l.drainedAt.Add(dataGrace)
	if !s.lastUpstream.IsZero() && s.lastUpstream.Add(nakGrace).After(quietAt) {
		quietAt = s.lastUpstream.Add(nakGrace)
	}
	switch {
	case (!l.drainedAt.IsZero() && !now.Before(quietAt)) || now.UnixNano() >= s.lingerUntil.Load():
		s.src.Close(now)
		l.finished = true
		return time.Time{}
	case !l.drainedAt.IsZero():
		return quietAt
	}
	return dataAt
}

// flush sends the batch, without s.mu, and counts the datagrams the kernel
// refused. It returns false when the socket has failed (closed): the loop
// ends.
func (l *sendLoop) flush() bool {
	s := l.s
	if err := l.wb.flush(s.rc); err != nil {
		s.log.Warn("pgm: source send", "endpoint", s.ep.String(), "err", err)
		return false
	}
	if l.wb.errs > 0 {
		s.mu.Lock()
		s.sendErrors += l.wb.errs
		s.lastSendErr = l.wb.err
		s.mu.Unlock()
		// The kernel refusing datagrams (no route, the interface down, a
		// full buffer) loses data for every receiver: say so at once,
		// then at most every sendErrLogEvery, with how many meanwhile.
		l.refused += l.wb.errs
		if ok, _ := l.refusedLog.Allow(time.Now()); ok {
			s.log.Warn("pgm: the kernel refused datagrams; receivers lose them (repairs may recover some)",
				"endpoint", s.ep.String(), "err", l.wb.err, "refused", l.refused)
			l.refused = 0
		}
		l.wb.errs = 0
	}
	return true
}

// wakeAt returns when the loop must run again if nothing wakes it: the
// earliest of the source's deadline, dataAt (see fill) and, while
// stopping, the linger's end. Zero means no time.
func (l *sendLoop) wakeAt(deadline, dataAt time.Time) time.Time {
	at := earliest(deadline, dataAt)
	if l.stopping && !l.finished {
		at = earliest(at, time.Unix(0, l.s.lingerUntil.Load()))
	}
	return at
}

// earliest returns the earlier of a and b, a zero time meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// sleep waits until at (zero: no time), a Wake or, unless already
// stopping, Close. A wait shorter than spinBelow is spun, not slept.
func (l *sendLoop) sleep(at time.Time) {
	if !at.IsZero() {
		d := time.Until(at)
		if d <= 0 {
			return
		}
		if d < spinBelow {
			spin(at)
			return
		}
		l.timer.Reset(d)
	}
	stop := l.s.stop
	if l.stopping {
		stop = nil // closed: it would not let the loop sleep
	}
	select {
	case <-l.s.wake:
	case <-l.timer.C:
	case <-stop:
	}
	l.timer.Stop()
}

// spin waits until t, yielding the processor in the meantime.
func spin(t time.Time) {
	for time.Now().Before(t) {
		runtime.Gosched()
	}
}

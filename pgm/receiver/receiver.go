package receiver

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/tickcast/tickcast/pgm/internal/mono"
	"github.com/tickcast/tickcast/pgm/wire"
)

// never is a time no timer reaches.
const never = 1<<63 - 1

// Receiver is the receiving side of PGM for one socket: every session (TSI)
// heard on it, each with its receive window and NAK state machine. It does
// no I/O. It is not safe for concurrent use: a socket drives it from one
// goroutine.
//
// Every method that takes now first runs the timers due by then, so the
// caller need not call HandleTimeout before handling a late packet.
type Receiver struct {
	cfg   resolved
	clock mono.Clock
	rand  rand.Source

	peers    map[wire.TSI]*peer // live sessions
	live     []*peer            // the same, for timer scans
	draining int                // expired peers whose window is not yet delivered
	lastOf   map[wire.TSI]*peer // the newest expired peer of a TSI, while it drains
	last     *peer              // the last peer looked up: most packets come from one source
	ignore   []wire.TSI
	finished [16]wire.TSI // sessions that ended with OPT_FIN, most recent first-in
	finN     int
	// newPeers is a token bucket for new sessions (newPeerRate a second,
	// up to newPeerBurst): a window costs a megabyte or so, and a flood of
	// forged TSIs must not make the receiver allocate one per packet.
	newPeers   int64
	newPeersAt int64

	// timersAt is a lower bound of the live peers' deadlines at all times
	// (every new timer lowers it), so that advance never misses one; it is
	// exact when timersDirty is false (a timer removed or postponed may
	// leave it early, which costs a scan, not a missed timer).
	timersAt    int64
	timersDirty bool

	tx     peerQueue // peers with packets to send
	events peerQueue // peers with events to deliver

	// Scratch, so that nothing is allocated per packet.
	out    []byte
	nak    wire.NAK
	spmr   wire.SPMR
	parsed wire.Packet
	sqns   []uint32

	stats Stats
}

// New returns a Receiver for cfg, started at now.
func New(cfg Config, now time.Time) (*Receiver, error) {
	c, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	r := &Receiver{
		cfg:      c,
		clock:    mono.New(now),
		rand:     c.Rand,
		peers:    make(map[wire.TSI]*peer),
		lastOf:   make(map[wire.TSI]*peer),
		ignore:   append([]wire.TSI(nil), c.Ignore...),
		timersAt: never,
		out:      make([]byte, 0, 512),
		sqns:     make([]uint32, 0, wire.MaxNAKSQNs),
	}
	r.nak = wire.NAK{Type: wire.TypeNAK, DataPort: c.DataPort, Group: c.Group}
	r.spmr = wire.SPMR{DataPort: c.DataPort}
	return r, nil
}

// Ignore makes the receiver drop the packets of tsi from now on, such as a
// source in the same process whose multicast loops back to this socket.
func (r *Receiver) Ignore(tsi wire.TSI) {
	r.ignore = append(r.ignore, tsi)
	if p := r.peers[tsi]; p != nil {
		r.expire(p) // deliver what it has, then forget it
	}
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats { return r.stats }

// Window returns how many sequence numbers the live sessions' receive
// windows hold now (received or missing, not yet delivered) and how many
// they can: a window that fills is a consumer that does not keep up, or
// repairs that do not come.
func (r *Receiver) Window() (used, capacity int) {
	for _, p := range r.live {
		if p.w.defined {
			used += int(p.w.lead + 1 - p.w.commit)
		}
		capacity += len(p.w.slots)
	}
	return used, capacity
}

// Peers returns the number of sessions tracked, draining ones included.
func (r *Receiver) Peers() int { return len(r.live) + r.draining }

// HandleDatagram parses b (a UDP payload for EPGM, or the PGM packet of a raw
// datagram) and handles it as HandlePacket does. b is not retained.
func (r *Receiver) HandleDatagram(now time.Time, from netip.Addr, b []byte) error {
	if err := wire.ParsePacket(b, &r.parsed); err != nil {
		r.advance(now)
		r.stats.DroppedParse++
		return errParse
	}
	return r.HandlePacket(now, from, &r.parsed)
}

// HandlePacket handles a packet parsed by wire.ParsePacket, received from IP
// address from at now. Whatever it changes is then available from Poll and
// Next. The error, which wraps ErrDropped, says why a packet was dropped; it
// has been counted and there is nothing for the caller to do. p and its
// payload are not retained: data is copied into the window.
func (r *Receiver) HandlePacket(now time.Time, from netip.Addr, p *wire.Packet) error {
	t := r.advance(now)
	switch p.Header.Type {
	case wire.TypeODATA, wire.TypeRDATA:
		d := &p.Data
		// Sanity first, so that a malformed packet cannot create a peer
		// (OpenPGM pgm_rxw_add). (sqn - trail is at most 2^31-2: the trail
		// never leads the packet's own sqn.)
		if int(p.Header.TSDULength) != len(d.Payload) || d.SQN-d.Trail > maxTrailJump {
			r.stats.DroppedMalformed++
			return errMalformed
		}
		pr, err := r.downstream(t, d.TSI, d.DataPort, from, true)
		if err != nil {
			return err
		}
		err = r.onData(t, pr, d)
		r.settle(pr)
		return err
	case wire.TypeSPM:
		if m := &p.SPM; m.Lead+1-m.Trail > maxTrailJump { // a window of 2^31: nonsense
			r.stats.DroppedMalformed++
			return errMalformed
		}
		pr, err := r.downstream(t, p.SPM.TSI, p.SPM.DataPort, from, true)
		if err != nil {
			return err
		}
		err = r.onSPM(t, pr, &p.SPM)
		r.settle(pr)
		return err
	case wire.TypeNCF:
		pr, err := r.downstream(t, p.NAK.TSI, p.NAK.DataPort, from, false)
		if err != nil {
			return err
		}
		err = r.onNCF(t, pr, &p.NAK)
		r.settle(pr)
		return err
	case wire.TypeSPMR:
		r.onSPMR(&p.SPMR)
		return nil
	case wire.TypeNAK, wire.TypeNNAK:
		r.stats.DroppedUpstream++
		return errUpstream
	}
	r.stats.DroppedOther++
	return errUnsupported
}

// downstream finds (or, with create, makes) the peer of a downstream packet.
func (r *Receiver) downstream(t int64, tsi wire.TSI, dport uint16, from netip.Addr, create bool) (*peer, error) {
	if dport != r.cfg.DataPort {
		r.stats.DroppedPort++
		return nil, errPort
	}
	if p := r.last; p != nil && p.tsi == tsi {
		return p, nil
	}
	if p := r.peers[tsi]; p != nil {
		r.last = p
		return p, nil
	}
	for _, ig := range r.ignore {
		if ig == tsi {
			r.stats.DroppedIgnored++
			return nil, errIgnored
		}
	}
	for _, f := range r.finished[:r.finN] {
		if f == tsi {
			r.stats.DroppedFinished++
			return nil, errFinished
		}
	}
	if !create {
		r.stats.DroppedUnknown++
		return nil, errUnknown
	}
	if r.draining >= r.cfg.MaxPeers || !r.takeNewPeer(t) {
		r.stats.DroppedPeers++
		return nil, errPeers
	}
	if len(r.live) >= r.cfg.MaxPeers {
		r.evictWeakest(t)
	}
	p := newPeer(tsi, from.Unmap(), r.cfg.WindowSQNs)
	if old := r.lastOf[tsi]; old != nil {
		p.waitFor, old.successor = old, p
	}
	// Until it sends an SPM, a session holds its place only briefly.
	p.expiresAt, p.heardAt = t+r.cfg.unconfirmed, t
	p.spmrPending, p.spmrAt = true, t+r.cfg.spmr
	r.noteTimer(p.spmrAt)
	p.index = len(r.live)
	r.live = append(r.live, p)
	r.peers[tsi] = p
	r.last = p
	r.stats.PeersNew++
	return p, nil
}

// New sessions: newPeerBurst at once, newPeerRate a second after that.
const (
	newPeerBurst = 32
	newPeerRate  = 32
)

// takeNewPeer takes a token for a new session at t, if there is one.
func (r *Receiver) takeNewPeer(t int64) bool {
	const full = newPeerBurst * int64(time.Second)
	if r.newPeersAt == 0 {
		r.newPeers = full
	} else if el := t - r.newPeersAt; el > 0 {
		r.newPeers = min(full, r.newPeers+min(el, full)*newPeerRate)
	}
	r.newPeersAt = t
	if r.newPeers < int64(time.Second) {
		return false
	}
	r.newPeers -= int64(time.Second)
	return true
}

// evictSilence is how long a confirmed session must have been silent to be
// evicted before busier ones.
const evictSilence = 5 * int64(time.Second)

// evictWeakest expires a live session to make room for a new one: one
// never confirmed by an SPM if there is one (the one with the fewest
// packets), else one silent for evictSilence (the stalest), else the one
// with the fewest packets. A live feed, confirmed and heard all along, is
// the last to go: a burst of forged sessions, confirmed or not, takes the
// places of forged ones.
func (r *Receiver) evictWeakest(t int64) {
	class := func(p *peer) (int, int64) {
		switch {
		case !p.seenSPM:
			return 0, int64(p.packets)
		case t-p.heardAt > evictSilence:
			return 1, p.heardAt
		}
		return 2, int64(p.packets)
	}
	var victim *peer
	var vc int
	var vk int64
	for _, p := range r.live {
		c, k := class(p)
		if victim == nil || c < vc || c == vc && k < vk {
			victim, vc, vk = p, c, k
		}
	}
	if victim != nil {
		r.stats.PeersEvicted++
		r.expire(victim)
	}
}

// plausibleAhead reports whether a sequence number ahead of p's lead by
// ahead can be believed at t (see Config.MaxJump); if so, p is heard.
func (r *Receiver) plausibleAhead(t int64, p *peer, ahead uint32) bool {
	if int64(ahead) > int64(r.cfg.MaxJump) {
		need := r.cfg.jumpConfirm
		if ahead < 1<<31 {
			need = min(need, int64(ahead)*r.cfg.packetTime)
		}
		if t-p.heardAt < need {
			r.stats.DroppedImplausible++
			return false
		}
	}
	p.heard(t)
	return true
}

// rememberFinished remembers that tsi ended its session: its packets are
// dropped from now on.
func (r *Receiver) rememberFinished(tsi wire.TSI) {
	copy(r.finished[1:], r.finished[:len(r.finished)-1])
	r.finished[0] = tsi
	r.finN = min(r.finN+1, len(r.finished))
}

// settle queues p for Poll and Next if it has something for them.
func (r *Receiver) settle(p *peer) {
	if !p.inTx && p.hasTransmit() {
		p.inTx = true
		r.tx.push(p)
	}
	if !p.inEvents && p.hasEvent() {
		p.inEvents = true
		r.events.push(p)
	}
}

// onSPMR notes another receiver's multicast SPMR: it will bring the SPM we
// would have asked for, so ours is cancelled (OpenPGM does the same).
func (r *Receiver) onSPMR(s *wire.SPMR) {
	if s.DataPort != r.cfg.DataPort {
		r.stats.DroppedPort++
		return
	}
	if p := r.peers[s.TSI]; p != nil && p.spmrPending {
		p.spmrPending = false
		r.timersDirty = true
	}
	r.stats.SPMRsHeard++
}

// expire forgets p: it leaves the table (a later packet of its TSI makes a
// new peer), whatever it still misses is lost, and it stays in the event
// queue until everything it has is delivered and EventPeerExpired is out.
func (r *Receiver) expire(p *peer) {
	if p.expired {
		return
	}
	p.expired = true
	delete(r.peers, p.tsi)
	if r.last == p {
		r.last = nil
	}
	last := r.live[len(r.live)-1]
	r.live[p.index] = last
	last.index = p.index
	r.live = r.live[:len(r.live)-1]
	r.draining++
	r.lastOf[p.tsi] = p
	r.stats.PeersExpired++

	w := &p.w
	for i := uint32(0); i < w.length(); i++ {
		if s := w.slot(w.commit + i); s.state.missing() {
			s.state = slotLost
			r.stats.LostExpired++
		}
	}
	w.clearTimers()
	p.spmrPending, p.spmrUnicast, p.spmrMulticast = false, false, false
	p.naks, p.nakHead = p.naks[:0], 0
	r.timersDirty = true
	r.settle(p)
}

// HandleTimeout runs the timers due by now. Call it at Deadline.
func (r *Receiver) HandleTimeout(now time.Time) { r.advance(now) }

// advance moves the clock to now and runs the due timers.
func (r *Receiver) advance(now time.Time) int64 {
	t := r.clock.At(now)
	if t >= r.timersAt {
		r.runTimers(t)
	}
	return t
}

// runTimers runs the timers of every live peer due by t.
func (r *Receiver) runTimers(t int64) {
	for i := len(r.live) - 1; i >= 0; i-- { // expire swaps later peers in
		p := r.live[i]
		if p.deadline() <= t {
			r.runPeerTimers(t, p)
			r.settle(p)
		}
	}
	r.recomputeTimers()
}

func (r *Receiver) recomputeTimers() {
	r.timersAt = never
	for _, p := range r.live {
		r.timersAt = min(r.timersAt, p.deadline())
	}
	r.timersDirty = false
}

// noteTimer records a new timer at t.
func (r *Receiver) noteTimer(t int64) { r.timersAt = min(r.timersAt, t) }

// Deadline returns when HandleTimeout (or any other call) must run next, or
// zero if no timer runs. It is the time of the last call if Poll has
// something to send now.
func (r *Receiver) Deadline() time.Time {
	if r.tx.len() > 0 {
		return r.clock.Time(r.clock.Last())
	}
	if r.timersDirty {
		r.recomputeTimers()
	}
	if r.timersAt == never {
		return time.Time{}
	}
	return r.clock.Time(r.timersAt)
}

// backoff draws a NAK back-off, uniform in [1 µs, NAK_BO_IVL) as OpenPGM's
// nak_rb_ivl.
func (r *Receiver) backoff() int64 {
	const lo = int64(time.Microsecond)
	if r.cfg.backoff <= lo {
		return lo
	}
	return lo + int64(r.rand.Uint64()%uint64(r.cfg.backoff-lo))
}

// peerQueue is a FIFO of peers that does not allocate once grown.
type peerQueue struct {
	q    []*peer
	head int
}

func (q *peerQueue) len() int { return len(q.q) - q.head }

func (q *peerQueue) push(p *peer) {
	if q.head > 0 && len(q.q) == cap(q.q) {
		n := copy(q.q, q.q[q.head:])
		clear(q.q[n:])
		q.q, q.head = q.q[:n], 0
	}
	q.q = append(q.q, p)
}

func (q *peerQueue) front() *peer { return q.q[q.head] }

func (q *peerQueue) pop() *peer {
	p := q.q[q.head]
	q.q[q.head] = nil
	q.head++
	if q.head == len(q.q) {
		q.q, q.head = q.q[:0], 0
	}
	return p
}

package source

import (
	"fmt"
	"time"

	"github.com/tickcast/tickcast/pgm/internal/mono"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Source is the sending side of one PGM session (one TSI): the transmit
// window, the ODATA rate limit, the SPM schedule, and NAK/NCF/RDATA repair.
// It does no I/O. It is not safe for concurrent use: a socket drives it from
// one goroutine.
//
// Every method that takes now first runs the timers due by then, so the
// caller need not call HandleTimeout before handling a late packet.
type Source struct {
	cfg   resolved
	clock mono.Clock

	txw    txw
	odata  bucket
	rdata  bucket
	budget repairBudget
	maxLen int // largest packet, for the arena slots

	spmSQN     uint32
	spmDue     int // regular SPMs to send now
	finDue     int // OPT_FIN SPMs still to send after Close
	closed     bool
	ambientAt  int64
	heartbeat  bool // the heartbeat schedule is running
	hbIndex    int
	hbAt       int64
	ncfs       ncfQueue
	timersNext int64 // earliest of ambientAt and hbAt

	// Scratch, so that nothing is allocated per packet.
	out    []byte
	spm    wire.SPM
	data   wire.Data
	nak    wire.NAK
	parsed wire.Packet
	sqns   []uint32

	stats Stats
}

// New returns a Source for cfg, started at now. Its first three Polls return
// the SPMs OpenPGM sends on connect.
func New(cfg Config, now time.Time) (*Source, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: r, clock: mono.New(now)}
	s.maxLen = wire.HeaderLen + 8 + r.MaxTSDU
	s.txw = newTXW(r.WindowSQNs, s.maxLen, r.FirstSQN)
	maxCost := int64(s.maxLen) + r.overhead
	s.odata = newBucket(r.Rate, r.RateBurst, r.MaxTPDU, maxCost)
	s.rdata = newBucket(r.RepairRate, r.RateBurst, r.MaxTPDU, maxCost)
	// The budget's cap: the window's worth at the ratio, and never less
	// than a few packets' worth.
	budgetCap := max(int64(r.WindowSQNs)*maxCost*max(r.repairRatio, 0)/1000, 8*maxCost)
	s.budget = newRepairBudget(r.repairRatio, r.repairFloor, min(budgetCap, 1<<32))
	s.spmDue = 3
	s.ambientAt = r.ambient
	s.timersNext = s.ambientAt
	s.out = make([]byte, 0, 512)
	s.sqns = make([]uint32, 0, wire.MaxNAKSQNs)
	s.spm = wire.SPM{TSI: r.TSI, DataPort: r.DataPort, NLA: r.NLA}
	s.data = wire.Data{Type: wire.TypeODATA, TSI: r.TSI, DataPort: r.DataPort}
	s.nak = wire.NAK{Type: wire.TypeNCF, TSI: r.TSI, DataPort: r.DataPort, Source: r.NLA, Group: r.Group}
	if err := s.checkEncoding(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkEncoding encodes each kind of packet once, so that the per-packet
// paths can rely on encoding not failing.
func (s *Source) checkEncoding() error {
	if _, err := s.spm.Append(s.out[:0]); err != nil {
		return fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if _, err := s.nak.Append(s.out[:0]); err != nil {
		return fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	return nil
}

// TSI returns the session's TSI.
func (s *Source) TSI() wire.TSI { return s.cfg.TSI }

// Window returns the transmit window's trail and lead as SPMs advertise
// them: trail FirstSQN and lead FirstSQN-1 while nothing has been sent.
func (s *Source) Window() (trail, lead uint32) { return s.txw.trail, s.txw.lead }

// WindowSQNs returns the transmit window's capacity in packets.
func (s *Source) WindowSQNs() int { return len(s.txw.slots) }

// Stats returns the counters.
func (s *Source) Stats() Stats { return s.stats }

// HandleDatagram parses b (a UDP payload for EPGM, or the PGM packet of a raw
// datagram) and handles it as HandlePacket does. b is not retained.
func (s *Source) HandleDatagram(now time.Time, b []byte) error {
	if err := wire.ParsePacket(b, &s.parsed); err != nil {
		s.clock.At(now)
		s.stats.IgnoredParse++
		return errParse
	}
	return s.HandlePacket(now, &s.parsed)
}

// HandlePacket handles a packet received on the source's sockets: NAKs and
// SPMRs for this session; everything else is counted and ignored. The
// returned error says why a packet was ignored (it wraps ErrIgnored); there
// is nothing for the caller to do about it. p is not retained.
func (s *Source) HandlePacket(now time.Time, p *wire.Packet) error {
	t := s.advance(now)
	if s.closed {
		s.stats.IgnoredClosed++
		return errClosedPkt
	}
	switch p.Header.Type {
	case wire.TypeNAK, wire.TypeNNAK:
		return s.onNAK(t, &p.NAK)
	case wire.TypeSPMR:
		return s.onSPMR(&p.SPMR)
	}
	s.stats.IgnoredDownstream++
	return errNotUpstream
}

// HandleTimeout runs the timers due by now. Call it at Deadline.
func (s *Source) HandleTimeout(now time.Time) { s.advance(now) }

// advance moves the clock to now and runs the due timers.
func (s *Source) advance(now time.Time) int64 {
	t := s.clock.At(now)
	if t >= s.timersNext {
		s.runTimers(t)
	}
	return t
}

// Poll returns the next packet to send to the group, or nil when there is
// nothing to send now. The packet is valid until the next call on the
// Source. Call it until it returns nil after every other call.
//
// NCFs go first (a receiver's NAK timer is waiting on them), then SPMs, then
// repairs (unless RepairRate holds them back), then, after Close, the FIN
// SPMs.
func (s *Source) Poll(now time.Time) []byte {
	t := s.advance(now)
	if pkt := s.pollNCF(t); pkt != nil {
		return pkt
	}
	if s.spmDue > 0 {
		s.spmDue--
		return s.encodeSPM(false)
	}
	if pkt := s.pollRDATA(t); pkt != nil {
		return pkt
	}
	if s.finDue > 0 && s.txw.repairs == 0 {
		s.finDue--
		return s.encodeSPM(true)
	}
	return nil
}

// Deadline returns when HandleTimeout (or any other call) must run next: the
// next SPM, or when the repair rate limit lets a queued RDATA go. It is the
// time of the last call if Poll has something to send now, and zero once
// the source is closed and has sent everything. The ODATA rate limit is not
// included: the caller knows whether it has data and asks SendTime.
func (s *Source) Deadline() time.Time {
	if s.ncfs.len() > 0 || s.spmDue > 0 {
		return s.clock.Time(s.clock.Last())
	}
	if r := s.txw.peekRepair(); r != nil {
		c := s.cost(len(r.pkt))
		if at := max(s.clock.Last(), s.rdata.readyAt(c), s.budget.readyAt(c)); at < 1<<63-1 {
			return s.clock.Time(at)
		}
		// Only ODATA can earn the credit, and Send is the caller's to call.
	}
	if s.closed {
		if s.finDue > 0 {
			return s.clock.Time(s.clock.Last())
		}
		return time.Time{}
	}
	return s.clock.Time(s.timersNext)
}

// Close ends the session: the source stops its SPM timers and ignores
// NAKs; Poll returns the NCFs and repairs already queued, then three SPMs
// with OPT_FIN, as OpenPGM's pgm_close does. Send fails afterwards.
func (s *Source) Close(now time.Time) {
	s.clock.At(now)
	if s.closed {
		return
	}
	s.closed = true
	s.finDue = 3
	s.spmDue = 0
	s.heartbeat = false
}

// cost is what a packet of n bytes costs a rate limit.
func (s *Source) cost(n int) int64 { return int64(n) + s.cfg.overhead }

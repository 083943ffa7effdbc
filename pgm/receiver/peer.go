package receiver

import (
	"net/netip"

	"github.com/tickcast/tickcast/pgm/wire"
)

// peer is one session (TSI) heard on the socket (OpenPGM pgm_peer_t).
type peer struct {
	tsi wire.TSI
	src netip.Addr // IP source of its first packet: where unicast SPMRs go
	nla netip.Addr // path NLA from its SPMs: where NAKs go; invalid until then

	w rxw

	seenSPM   bool
	lastSPM   uint32 // SPM sequence number, to drop SPMs that go backwards
	expiresAt int64  // PeerExpiry after the last SPM (UnconfirmedExpiry after creation)
	heardAt   int64  // when a plausible packet was last heard from it
	packets   uint64 // plausible packets heard from it

	spmrPending   bool  // an SPMR goes out at spmrAt unless an SPM comes first
	spmrAt        int64 //
	spmrSent      bool  // an SPMR has gone out, at spmrSentAt
	spmrSentAt    int64
	spmrUnicast   bool // an SPMR to src waits for Poll
	spmrMulticast bool // an SPMR to the group waits for Poll

	naks    []uint32 // sqns to NAK, sorted from nakHead on
	nakHead int

	// A session that expired and is heard again before the application has
	// read everything of its expired peer: the new peer's events wait for
	// the old one's EventPeerExpired.
	waitFor   *peer
	successor *peer

	announce bool // EventPeerNew not yet delivered
	expired  bool // out of the table, draining its window
	gone     bool // EventPeerExpired delivered
	inTx     bool // in the receiver's transmit queue
	inEvents bool // in the receiver's event queue
	index    int  // in Receiver.live
}

func newPeer(tsi wire.TSI, src netip.Addr, size int) *peer {
	return &peer{
		tsi:      tsi,
		src:      src,
		w:        newRXW(size),
		naks:     make([]uint32, 0, size),
		announce: true,
	}
}

// heard notes a plausible packet from p at t.
func (p *peer) heard(t int64) {
	p.heardAt = t
	p.packets++
}

// deadline returns the peer's next timer.
func (p *peer) deadline() int64 {
	d := p.expiresAt
	if s := p.w.nextTimer(); s != nil {
		d = min(d, s.expiry)
	}
	if p.spmrPending {
		d = min(d, p.spmrAt)
	}
	return d
}

// hasEvent reports whether nextEvent has something.
func (p *peer) hasEvent() bool {
	if p.waitFor != nil {
		return false
	}
	w := &p.w
	if p.announce || w.lost > 0 {
		return true
	}
	if !w.empty() {
		st := w.headSlot().state
		return st == slotHaveData || st == slotLost
	}
	return p.expired && !p.gone
}

// hasTransmit reports whether nextTransmit may have something.
func (p *peer) hasTransmit() bool {
	return p.spmrUnicast || p.spmrMulticast || p.nakHead < len(p.naks)
}

// queueNAK adds s to the sqns to NAK.
func (p *peer) queueNAK(s *rxSlot) {
	if s.nakQueued {
		return
	}
	if len(p.naks) == cap(p.naks) {
		p.compactNAKs()
	}
	s.nakQueued = true
	p.naks = append(p.naks, s.sqn)
}

// compactNAKs drops the queued sqns that no longer need a NAK, which leaves
// room: at most one entry per slot is live.
func (p *peer) compactNAKs() {
	live := p.naks[:0]
	for _, q := range p.naks[p.nakHead:] {
		if p.nakWanted(q) {
			live = append(live, q)
		}
	}
	p.naks, p.nakHead = live, 0
}

// nakWanted reports whether q is still waiting in the NAK list.
func (p *peer) nakWanted(q uint32) bool {
	w := &p.w
	if !w.contains(q) {
		return false
	}
	s := w.slot(q)
	return s.nakQueued && s.state == slotWaitNCF
}

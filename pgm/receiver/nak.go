package receiver

import (
	"cmp"
	"slices"
	"time"

	"github.com/tickcast/tickcast/pgm/wire"
)

// runPeerTimers runs p's timers due by t: the SPMR, the NAK state machine of
// every missing sqn (OpenPGM nak_rb_state, nak_rpt_state, nak_rdata_state),
// and the peer's expiry.
//
//	BACK_OFF  expiry          -> NAK (batched), WAIT_NCF for NAK_RPT_IVL
//	WAIT_NCF  expiry          -> retry: BACK_OFF for a random back-off, or
//	                             lost after NAK_NCF_RETRIES
//	WAIT_DATA expiry          -> retry: BACK_OFF, or lost after
//	                             NAK_DATA_RETRIES
//	(onNCF)   BACK_OFF/WAIT_* -> WAIT_DATA for NAK_RDATA_IVL
//	(onData)  any             -> HAVE_DATA
func (r *Receiver) runPeerTimers(t int64, p *peer) {
	if p.spmrPending && t >= p.spmrAt {
		p.spmrPending = false
		if !p.nla.IsValid() {
			r.sendSPMR(t, p)
		}
	}
	w := &p.w
	queued := false
	for s := w.nextTimer(); s != nil && s.expiry <= t; s = w.nextTimer() {
		switch s.state {
		case slotBackOff:
			if !p.nla.IsValid() {
				r.noNLA(t, p, s)
				continue
			}
			s.state = slotWaitNCF
			w.setTimer(s, t+r.cfg.repeat)
			p.queueNAK(s)
			queued = true
		case slotWaitNCF:
			s.ncfRetries++
			if int(s.ncfRetries) >= r.cfg.NAKNCFRetries {
				r.lose(p, s)
				r.stats.LostNCFRetries++
				continue
			}
			s.state = slotBackOff
			w.setTimer(s, t+r.backoff())
		case slotWaitData:
			s.dataRetries++
			if int(s.dataRetries) >= r.cfg.NAKDataRetries {
				r.lose(p, s)
				r.stats.LostDataRetries++
				continue
			}
			s.state = slotBackOff
			w.setTimer(s, t+r.backoff())
		default: // cannot happen: only missing slots have timers
			w.clearTimer(s)
		}
	}
	if queued {
		// NAK the oldest first; the heap gave them by expiry.
		commit := w.commit
		slices.SortFunc(p.naks[p.nakHead:], func(a, b uint32) int {
			return cmp.Compare(a-commit, b-commit)
		})
	}
	if t >= p.expiresAt {
		if !p.seenSPM {
			r.stats.PeersUnconfirmed++
		}
		r.expire(p)
	}
}

// noNLA handles a back-off that expires before any SPM told where to send
// NAKs. OpenPGM gives the sqn up at once. tickcast first asks for an SPM
// with an SPMR (unless one went out in the last NAK_RPT_IVL) and waits until
// NAK_RPT_IVL after that SPMR; if no SPM has come by then, the sqn is lost.
// Each sqn waits at most once, so a source that never sends SPMs costs each
// loss one NAK_RPT_IVL and the peer at most one SPMR per NAK_RPT_IVL.
func (r *Receiver) noNLA(t int64, p *peer, s *rxSlot) {
	if !s.graced {
		if !p.spmrSent || t-p.spmrSentAt >= r.cfg.repeat {
			r.sendSPMR(t, p)
		}
		if grace := p.spmrSentAt + r.cfg.repeat; t < grace {
			s.graced = true
			p.w.setTimer(s, grace)
			return
		}
	}
	r.lose(p, s)
	r.stats.LostNoSPM++
}

func (r *Receiver) sendSPMR(t int64, p *peer) {
	p.spmrPending = false
	p.spmrSent, p.spmrSentAt = true, t
	p.spmrUnicast = p.src.IsValid()
	p.spmrMulticast = !r.cfg.NoMulticastSPMR
}

// Poll returns the next packet to send, or false when there is none now.
// The packet is valid until the next call on the Receiver. Call it until it
// returns false after every other call.
func (r *Receiver) Poll(now time.Time) (Transmit, bool) {
	r.advance(now)
	for r.tx.len() > 0 {
		p := r.tx.front()
		if tx, ok := r.nextTransmit(p); ok {
			return tx, true
		}
		r.tx.pop()
		p.inTx = false
	}
	return Transmit{}, false
}

// nextTransmit returns p's next SPMR or NAK.
func (r *Receiver) nextTransmit(p *peer) (Transmit, bool) {
	if p.spmrUnicast || p.spmrMulticast {
		r.spmr.TSI = p.tsi
		pkt, _ := r.spmr.Append(r.out[:0]) // a bare header cannot fail
		r.stats.SPMRsSent++
		if p.spmrUnicast {
			p.spmrUnicast = false
			return Transmit{Packet: pkt, Type: wire.TypeSPMR, To: p.src}, true
		}
		p.spmrMulticast = false
		return Transmit{Packet: pkt, Type: wire.TypeSPMR, To: r.cfg.Group, Multicast: true}, true
	}
	sqns := r.sqns[:0]
	for p.nakHead < len(p.naks) && len(sqns) < wire.MaxNAKSQNs {
		q := p.naks[p.nakHead]
		p.nakHead++
		if p.nakWanted(q) {
			p.w.slot(q).nakQueued = false
			sqns = append(sqns, q)
		}
	}
	if p.nakHead == len(p.naks) {
		p.naks, p.nakHead = p.naks[:0], 0
	}
	if len(sqns) == 0 {
		return Transmit{}, false
	}
	r.nak.TSI, r.nak.Source = p.tsi, p.nla
	_ = r.nak.SetSQNs(sqns)             // 1 to 63 numbers
	pkt, err := r.nak.Append(r.out[:0]) // NLA and group are valid
	if err != nil {
		return Transmit{}, false
	}
	r.stats.NAKsSent++
	r.stats.NAKSQNsSent += uint64(len(sqns))
	return Transmit{Packet: pkt, Type: wire.TypeNAK, To: p.nla}, true
}

package receiver

import (
	"github.com/tickcast/tickcast/pgm/sqn"
	"github.com/tickcast/tickcast/pgm/wire"
)

// maxTrailJump is OpenPGM's sanity bound ((UINT32_MAX/2)-1) on how far an
// advertised trail may move at once, and on a data packet's sqn-trail
// distance (a packet with sqn-trail >= 2^31-1 is malformed).
const maxTrailJump = 1<<31 - 2

// onData handles an ODATA or RDATA (OpenPGM pgm_on_data, pgm_rxw_add).
func (r *Receiver) onData(t int64, p *peer, d *wire.Data) error {
	if d.Type == wire.TypeRDATA {
		r.stats.RDATA++
	} else {
		r.stats.ODATA++
	}
	w := &p.w
	q := d.SQN
	if !w.defined {
		w.define(q - 1) // a late join starts at the first data heard
	} else {
		// Data at or behind the lead counts as hearing the source only
		// when it fills a hole (below): a duplicate or a packet behind the
		// window says nothing of where the source is, and a replay of old
		// packets must not keep a real jump ahead from being believed.
		if sqn.Greater(q, w.lead) && !r.plausibleAhead(t, p, q-w.lead) {
			return errImplausible
		}
		r.updateTrail(p, d.Trail)
	}
	switch {
	case sqn.Less(q, w.commit):
		r.stats.DroppedOld++
		return errOld
	case sqn.LessEq(q, w.lead):
		s := w.slot(q)
		switch s.state {
		case slotHaveData:
			r.stats.DroppedDuplicates++
			return errDuplicate
		case slotLost:
			r.stats.LateRecovered++
		}
		p.heard(t)
		r.stats.Repaired++
		r.store(p, s, d)
		return nil
	}
	gap := q - w.lead // 1 when in order
	if gap > w.size() {
		r.rejoin(p, q)
	} else if gap > 1 {
		r.extend(p, q-1, t+r.backoff())
	}
	if w.full() {
		r.evict(p)
	}
	w.lead++
	s := w.slot(q)
	s.reset(q)
	r.store(p, s, d)
	return nil
}

// store puts d's payload into s, or gives s up if it cannot be delivered.
func (r *Receiver) store(p *peer, s *rxSlot, d *wire.Data) {
	if p.w.clearTimer(s) {
		r.timersDirty = true
	}
	n := len(d.Payload)
	// A fragment of a multi-TPDU APDU cannot be delivered as a TSDU (libzmq
	// never sends one and aborts on receipt); neither can an oversized one.
	if n > r.cfg.MaxTSDU || d.Options.HasFragment && d.Options.Fragment.Length != uint32(n) {
		s.state = slotLost
		r.stats.LostUnusable++
		return
	}
	if s.buf == nil {
		s.buf = make([]byte, 0, r.cfg.MaxTSDU)
	}
	s.buf = append(s.buf[:0], d.Payload...)
	s.state = slotHaveData
	s.rdata = d.Type == wire.TypeRDATA
}

// extend adds placeholders after the lead up to and including to, which is
// at most size ahead of the lead, evicting from the front when the window is
// full. They share one NAK back-off expiry, as in OpenPGM. Placeholders the
// source's trail has already passed are lost at once.
func (r *Receiver) extend(p *peer, to uint32, expiry int64) {
	w := &p.w
	for w.lead != to {
		if w.full() {
			r.evict(p)
		}
		w.lead++
		s := w.slot(w.lead)
		s.reset(w.lead)
		r.stats.Placeholders++
		if !w.constrained && sqn.Less(w.lead, w.rxwTrail) {
			s.state = slotLost
			r.stats.LostTrail++
			continue
		}
		s.state = slotBackOff
		w.setTimer(s, expiry)
		r.noteTimer(expiry)
	}
}

// evict drops the front of a full window: whatever is there is lost
// (OpenPGM _pgm_rxw_remove_trail). With data there, the application is not
// keeping up.
func (r *Receiver) evict(p *peer) {
	w := &p.w
	s := w.headSlot()
	switch {
	case s.state == slotHaveData:
		r.stats.EvictedData++
	case s.state.missing():
		r.stats.LostEvicted++
		if w.clearTimer(s) {
			r.timersDirty = true
		}
	}
	w.addLoss(1)
	w.pop()
}

// rejoin handles a jump further than the window can reach: the lead of an
// SPM, or a data sqn, more than size beyond the lead. Everything from
// commit up to first-1 is lost, and the window starts again at first as
// for a late join: no placeholders, no NAKs for what was skipped, and the
// trail constrained again. This bounds the work a forged sequence number can
// cause to one pass over the window, where OpenPGM would loop over every
// skipped sqn.
func (r *Receiver) rejoin(p *peer, first uint32) {
	w := &p.w
	for i := uint32(0); i < w.length(); i++ {
		s := w.slot(w.commit + i)
		if s.state == slotHaveData {
			r.stats.EvictedData++
		}
		s.state = slotFree
	}
	if len(w.timers) > 0 {
		w.clearTimers()
		r.timersDirty = true
	}
	n := first - w.commit
	w.addLoss(n)
	w.commit = first // head may stay: any slot can start an empty window
	w.lead = first - 1
	w.rejoinAt(first)
	r.stats.Rejoins++
	r.stats.LostJumped += uint64(n)
}

// updateTrail applies a trail the source advertised (OpenPGM
// _pgm_rxw_update_trail): missing sqns it has passed can no longer be
// repaired and are lost. Ignored until the trail passes the join point.
func (r *Receiver) updateTrail(p *peer, trail uint32) {
	w := &p.w
	if sqn.LessEq(trail, w.rxwTrail) || trail-w.rxwTrail > maxTrailJump {
		return
	}
	if w.constrained {
		if !sqn.Greater(trail, w.trailInit) {
			return
		}
		w.constrained = false
	}
	w.rxwTrail = trail
	if sqn.LessEq(trail, w.commit) {
		return
	}
	if w.empty() {
		// Nothing held: skip straight to the trail. The sqns in between were
		// sent and never heard.
		n := trail - w.commit
		w.addLoss(n)
		w.commit, w.lead = trail, trail-1
		r.stats.LostTrail += uint64(n)
		return
	}
	// Check each sqn once, however often the trail moves: start where the
	// last pass stopped.
	end := min(w.offset(trail), w.length())
	i := w.offset(w.trailDone)
	if i > w.length() {
		i = 0
	}
	for ; i < end; i++ {
		s := w.slot(w.commit + i)
		if s.state.missing() {
			r.lose(p, s)
			r.stats.LostTrail++
		}
	}
	w.trailDone = w.commit + end
}

// lose gives s up.
func (r *Receiver) lose(p *peer, s *rxSlot) {
	if p.w.clearTimer(s) {
		r.timersDirty = true
	}
	s.state = slotLost
}

// updateLead extends the window to the lead an SPM advertised, so that the
// loss of the last packets before a pause is detected (OpenPGM
// _pgm_rxw_update_lead).
func (r *Receiver) updateLead(t int64, p *peer, lead uint32) {
	w := &p.w
	if sqn.LessEq(lead, w.lead) {
		return
	}
	if lead-w.lead > w.size() {
		r.rejoin(p, lead+1)
		return
	}
	r.extend(p, lead, t+r.backoff())
}

// onSPM handles an SPM (OpenPGM pgm_on_spm): the NLA to NAK, the peer's
// liveness, and the window's edges.
func (r *Receiver) onSPM(t int64, p *peer, m *wire.SPM) error {
	if p.seenSPM && sqn.Less(m.SQN, p.lastSPM) {
		r.stats.DroppedOldSPM++
		return errOldSPM
	}
	// A forged SPM far ahead would make every real one look old, or move
	// the window: believed only as data is (see Config.MaxJump).
	if p.seenSPM && m.SQN-p.lastSPM > maxSPMJump && t-p.heardAt < r.cfg.jumpConfirm {
		r.stats.DroppedImplausible++
		return errImplausible
	}
	if w := &p.w; w.defined && sqn.Greater(m.Lead, w.lead) {
		if !r.plausibleAhead(t, p, m.Lead-w.lead) {
			return errImplausible
		}
	} else {
		p.heard(t)
	}
	r.stats.SPMs++
	// Unlike OpenPGM, the first SPM is accepted whatever its sqn; OpenPGM
	// compares it with 0 and drops one from the upper half of the space.
	p.seenSPM, p.lastSPM = true, m.SQN
	if m.NLA.IsValid() && !m.NLA.IsUnspecified() {
		p.nla = m.NLA.Unmap()
	}
	p.expiresAt = t + r.cfg.expiry
	p.spmrPending = false
	r.timersDirty = true
	w := &p.w
	if !w.defined {
		w.define(m.Lead) // a late join starts after the advertised lead
		return nil
	}
	r.updateTrail(p, m.Trail)
	r.updateLead(t, p, m.Lead)
	if m.Options.Fin {
		// The source has closed: what it sent is delivered or lost, and
		// its place is free at once, not after PeerExpiry.
		r.finish(p)
		r.rememberFinished(p.tsi)
		r.expire(p)
	}
	return nil
}

// maxSPMJump is how far an SPM's sequence number is believed ahead of the
// last one at once: sources send a few SPMs a second at most.
const maxSPMJump = 1 << 16

// finish handles an SPM with OPT_FIN: the source has closed and will answer
// no more NAKs, so what is still missing is lost now, rather than when the
// NAK retries run out (seconds later, with everything behind it held). (An
// OpenPGM receiver ignores OPT_FIN.)
func (r *Receiver) finish(p *peer) {
	w := &p.w
	for q := w.commit; sqn.LessEq(q, w.lead) && !w.empty(); q++ {
		if s := w.slot(q); s.state.missing() {
			r.lose(p, s)
			r.stats.LostFin++
		}
	}
}

// onNCF handles an NCF (OpenPGM pgm_on_ncf, pgm_rxw_confirm): the source
// will repair these sqns, so the NAKs for them stop and the wait for RDATA
// begins. NCFs never define a window, nor extend one.
func (r *Receiver) onNCF(t int64, p *peer, k *wire.NAK) error {
	w := &p.w
	if !w.defined {
		r.stats.DroppedUnknown++
		return errUnknown
	}
	r.stats.NCFs++
	for _, q := range k.AppendSQNs(r.sqns[:0]) {
		if sqn.Less(q, w.commit) {
			continue
		}
		if sqn.Greater(q, w.lead) {
			// Unlike OpenPGM, an NCF never extends the window: anyone can
			// send one, and one naming sqns far ahead would fill the
			// window with placeholders for data that was never sent. The
			// loss of a tail is found from the next data or SPM instead.
			r.stats.NCFsBeyond++
			continue
		}
		s := w.slot(q)
		if s.state.missing() {
			s.state = slotWaitData
			w.setTimer(s, t+r.cfg.rdata)
			r.noteTimer(t + r.cfg.rdata)
			r.timersDirty = true
		}
	}
	return nil
}

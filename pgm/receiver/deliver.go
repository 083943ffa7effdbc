package receiver

// maxLossEvent bounds the Count of one EventLoss, so that First..Last stays
// unambiguous in serial arithmetic; a longer run (only a forged jump can
// make one) is reported in several events.
const maxLossEvent = 1<<31 - 1

// Next returns the next event for the application, or false when there is
// none. Data is delivered in sequence order per session, with losses
// reported in place. Sessions take turns, one event each. The event's
// Payload is valid until the next call on the Receiver.
func (r *Receiver) Next() (Event, bool) {
	for r.events.len() > 0 {
		p := r.events.pop()
		p.inEvents = false
		ev, ok := r.nextEvent(p)
		if !ok {
			continue
		}
		if p.hasEvent() {
			p.inEvents = true
			r.events.push(p)
		}
		return ev, true
	}
	return Event{}, false
}

func (r *Receiver) nextEvent(p *peer) (Event, bool) {
	if p.announce {
		p.announce = false
		return Event{Kind: EventPeerNew, TSI: p.tsi, Source: p.src}, true
	}
	w := &p.w
	for !w.empty() && w.headSlot().state == slotLost {
		w.addLoss(1)
		w.pop()
	}
	if w.lost > 0 {
		n := uint32(min(w.lost, maxLossEvent))
		ev := Event{Kind: EventLoss, TSI: p.tsi, SQN: w.lossFirst, Count: n}
		w.lost -= uint64(n)
		w.lossFirst += n
		r.stats.LossEvents++
		r.stats.LostSQNs += uint64(n)
		return ev, true
	}
	if !w.empty() && w.headSlot().state == slotHaveData {
		s := w.pop()
		r.stats.Delivered++
		return Event{Kind: EventData, TSI: p.tsi, SQN: s.sqn, Payload: s.buf, Repair: s.rdata}, true
	}
	if p.expired && !p.gone && w.empty() {
		p.gone = true
		r.draining--
		if r.lastOf[p.tsi] == p {
			delete(r.lastOf, p.tsi)
		}
		if next := p.successor; next != nil {
			next.waitFor, p.successor = nil, nil
			r.settle(next)
		}
		return Event{Kind: EventPeerExpired, TSI: p.tsi}, true
	}
	return Event{}, false
}

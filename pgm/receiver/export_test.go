package receiver

import "fmt"

// CheckInvariants verifies the receiver's internal consistency, for tests.
func (r *Receiver) CheckInvariants() error {
	if len(r.live) != len(r.peers) {
		return fmt.Errorf("%d live peers, %d in the table", len(r.live), len(r.peers))
	}
	for i, p := range r.live {
		if p.index != i || r.peers[p.tsi] != p || p.expired {
			return fmt.Errorf("peer %v: index %d at %d, expired %v", p.tsi, p.index, i, p.expired)
		}
		if len(p.naks) > int(p.w.size()) || cap(p.naks) != int(p.w.size()) {
			return fmt.Errorf("peer %v: NAK queue %d/%d for a window of %d", p.tsi, len(p.naks), cap(p.naks), p.w.size())
		}
		if err := p.w.check(p.expired); err != nil {
			return fmt.Errorf("peer %v: %w", p.tsi, err)
		}
		if d := p.deadline(); d < r.timersAt {
			return fmt.Errorf("peer %v: deadline %d before the receiver's %d", p.tsi, d, r.timersAt)
		}
	}
	if r.Peers() > r.cfg.MaxPeers {
		return fmt.Errorf("%d peers, max %d", r.Peers(), r.cfg.MaxPeers)
	}
	return nil
}

func (w *rxw) check(expired bool) error {
	if !w.defined {
		if len(w.timers) != 0 {
			return fmt.Errorf("undefined window with timers")
		}
		return nil
	}
	if w.length() > w.size() {
		return fmt.Errorf("window %d..%d longer than %d", w.commit, w.lead, w.size())
	}
	inWindow := make(map[int32]bool)
	for i := uint32(0); i < w.length(); i++ {
		s := w.slot(w.commit + i)
		inWindow[s.index] = true
		if s.sqn != w.commit+i {
			return fmt.Errorf("slot of %d holds %d", w.commit+i, s.sqn)
		}
		if s.state == slotFree {
			return fmt.Errorf("sqn %d in the window is free", s.sqn)
		}
		if s.state.missing() != (s.heapPos >= 0) && !expired {
			return fmt.Errorf("sqn %d: state %d, heap position %d", s.sqn, s.state, s.heapPos)
		}
	}
	for i, si := range w.timers {
		s := &w.slots[si]
		if int(s.heapPos) != i || !inWindow[si] {
			return fmt.Errorf("timer %d: slot %d at %d, in window %v", i, si, s.heapPos, inWindow[si])
		}
		if i > 0 && w.timerLess(si, w.timers[(i-1)/2]) {
			return fmt.Errorf("timer heap out of order at %d", i)
		}
	}
	for i := range w.slots {
		if !inWindow[int32(i)] && w.slots[i].heapPos >= 0 {
			return fmt.Errorf("slot %d outside the window has a timer", i)
		}
	}
	return nil
}

package source

import "github.com/tickcast/tickcast/pgm/wire"

// ncfQueueLen bounds the NCFs waiting for Poll. A caller that polls after
// every packet never has more than one; a NAK flood between two polls gets
// the first ncfQueueLen answered and the rest counted in NCFsDropped. The
// receivers whose NCF was dropped simply NAK again.
const ncfQueueLen = 64

// ncfQueue is a ring of the sequence-number lists of NCFs to send.
type ncfQueue struct {
	lists [ncfQueueLen][wire.MaxNAKSQNs]uint32
	n     [ncfQueueLen]uint8
	head  int
	count int
}

func (q *ncfQueue) len() int { return q.count }

func (q *ncfQueue) push(sqns []uint32) bool {
	if q.count == ncfQueueLen {
		return false
	}
	i := (q.head + q.count) % ncfQueueLen
	q.n[i] = uint8(copy(q.lists[i][:], sqns))
	q.count++
	return true
}

func (q *ncfQueue) pop() []uint32 {
	i := q.head
	q.head = (q.head + 1) % ncfQueueLen
	q.count--
	return q.lists[i][:q.n[i]]
}

// onNAK handles a NAK as OpenPGM's pgm_on_nak does, with the checks of §5 of
// the interop notes: it must be addressed to this session (ports, GSI,
// source NLA, group; the option chain and the list length were checked by
// the parser). A valid NAK is confirmed at once with an NCF to the group
// that mirrors it, and its sequence numbers still in the window are queued
// for repair, each at most once.
//
// Unlike OpenPGM, sequence numbers beyond the lead (never sent) are left out
// of the NCF, and a NAK naming only such numbers gets no NCF: confirming
// them would make every receiver extend its window to numbers that do not
// exist and NAK them in turn. Legitimate receivers never NAK them.
func (s *Source) onNAK(t int64, k *wire.NAK) error {
	if k.Type == wire.TypeNNAK {
		s.stats.IgnoredNNAK++
		return errNNAK
	}
	if k.DataPort != s.cfg.DataPort || k.TSI.SPort != s.cfg.TSI.SPort {
		s.stats.IgnoredPort++
		return errPort
	}
	if k.TSI.GSI != s.cfg.TSI.GSI {
		s.stats.IgnoredTSI++
		return errTSI
	}
	if k.Source.Unmap() != s.cfg.NLA {
		s.stats.IgnoredNLA++
		return errNLA
	}
	if k.Group.Unmap() != s.cfg.Group {
		s.stats.IgnoredGroup++
		return errGroup
	}
	s.stats.NAKs++
	all := k.AppendSQNs(s.sqns[:0])
	s.stats.NAKSQNs += uint64(len(all))
	confirm := all[:0] // filtered in place
	for _, q := range all {
		if !s.txw.sent(q) {
			s.stats.RepairsNeverSent++
			continue
		}
		confirm = append(confirm, q)
	}
	if len(confirm) == 0 {
		return errNeverSent
	}
	if !s.ncfs.push(confirm) {
		s.stats.NCFsDropped++
	}
	for _, q := range confirm {
		s.requestRepair(t, q)
	}
	return nil
}

// requestRepair queues an RDATA for sqn q if it is still in the window.
func (s *Source) requestRepair(t int64, q uint32) {
	if !s.txw.contains(q) {
		s.stats.RepairsOutOfWindow++
		return
	}
	sl := s.txw.slot(q)
	switch {
	case sl.queued:
		s.stats.RepairsPending++
	case sl.repaired && s.cfg.repairHoldoff > 0 && t-sl.repairedAt < s.cfg.repairHoldoff:
		s.stats.RepairsHeldOff++
	case s.txw.repairs >= s.cfg.MaxQueuedRepairs:
		s.stats.RepairsSuppressed++
	default:
		s.txw.queue(q)
		s.stats.RepairsQueued++
	}
}

func (s *Source) pollNCF(t int64) []byte {
	for s.ncfs.len() > 0 {
		_ = s.nak.SetSQNs(s.ncfs.pop())   // 1 to 63 numbers, as parsed
		pkt, _ := s.nak.Append(s.out[:0]) // checked in New
		if !s.budget.take(t, s.cost(len(pkt))) {
			s.stats.NCFsOverBudget++ // the receiver NAKs again
			continue
		}
		s.stats.NCFsSent++
		return pkt
	}
	return nil
}

// pollRDATA turns the oldest queued repair into RDATA in place, carrying the
// current trail, if the repair rate limit allows it now.
func (s *Source) pollRDATA(t int64) []byte {
	sl := s.txw.peekRepair()
	if sl == nil {
		return nil
	}
	c := s.cost(len(sl.pkt))
	if s.rdata.rate > 0 {
		if s.rdata.refill(t); s.rdata.tokens < c*nsPerSec {
			return nil // the repair rate limit: Deadline says when
		}
	}
	if !s.budget.take(t, c) {
		return nil // waits for credit: Deadline says when
	}
	s.rdata.take(t, c)
	s.txw.popRepair()
	_ = wire.ToRDATA(sl.pkt, s.txw.trail) // a stored ODATA/RDATA cannot fail
	sl.repaired, sl.repairedAt = true, t
	s.stats.RDATASent++
	s.restartHeartbeat(t) // as OpenPGM's send_rdata
	return sl.pkt
}

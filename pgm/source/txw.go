package source

import "github.com/tickcast/tickcast/pgm/sqn"

// txw is the transmit window (OpenPGM txw.c): the last size ODATA packets,
// kept encoded so that a repair is the stored packet turned into RDATA in
// place (wire.ToRDATA), with no re-encoding and no allocation. The buffers
// are one arena allocated up front.
//
// Slots are indexed relative to the trail (head is the trail's slot), not by
// sqn modulo size: that would break at the 2^32 wrap for sizes that are not
// powers of two.
type txw struct {
	slots []txSlot
	head  int    // slot of trail
	trail uint32 // oldest sqn held
	lead  uint32 // newest sqn sent; lead+1 == trail when empty

	sentAny bool // an ODATA has been sent: lead means something

	// Queued repairs: a FIFO linked through the slots, so that queueing is
	// O(1), a slot is queued at most once, and evicting a slot unqueues it.
	repairHead, repairTail int32
	repairs                int
}

type txSlot struct {
	pkt        []byte // the encoded packet; cap is the slot's share of the arena
	next, prev int32  // repair FIFO links, -1 at the ends
	queued     bool
	repaired   bool  // an RDATA for this packet has been sent
	repairedAt int64 // when, for the repair holdoff
}

func newTXW(size, slotCap int, first uint32) txw {
	w := txw{
		slots:      make([]txSlot, size),
		trail:      first,
		lead:       first - 1,
		repairHead: -1,
		repairTail: -1,
	}
	arena := make([]byte, size*slotCap)
	for i := range w.slots {
		w.slots[i] = txSlot{pkt: arena[i*slotCap : i*slotCap : (i+1)*slotCap], next: -1, prev: -1}
	}
	return w
}

func (w *txw) len() int { return int(w.lead + 1 - w.trail) }

func (w *txw) full() bool { return w.len() == len(w.slots) }

// contains reports whether sqn is in the window.
func (w *txw) contains(s uint32) bool {
	return w.len() > 0 && sqn.GreaterEq(s, w.trail) && sqn.LessEq(s, w.lead)
}

// sent reports whether an ODATA with this sqn has gone out, in or out of
// the window: anything up to the lead, once something has been sent.
func (w *txw) sent(s uint32) bool {
	return w.sentAny && sqn.LessEq(s, w.lead)
}

func (w *txw) index(s uint32) int {
	return (w.head + int(s-w.trail)) % len(w.slots)
}

func (w *txw) slot(s uint32) *txSlot { return &w.slots[w.index(s)] }

// push makes room for sqn lead+1, evicting the trail if the window is full,
// and returns its slot, emptied.
func (w *txw) push() *txSlot {
	if w.full() {
		w.unqueue(w.head)
		w.head = (w.head + 1) % len(w.slots)
		w.trail++
	}
	w.lead++
	w.sentAny = true
	s := w.slot(w.lead)
	s.pkt = s.pkt[:0]
	s.repaired = false
	return s
}

// queue appends sqn's slot to the repair FIFO unless it is already there.
func (w *txw) queue(s uint32) bool {
	i := int32(w.index(s))
	sl := &w.slots[i]
	if sl.queued {
		return false
	}
	sl.queued = true
	sl.next, sl.prev = -1, w.repairTail
	if w.repairTail >= 0 {
		w.slots[w.repairTail].next = i
	} else {
		w.repairHead = i
	}
	w.repairTail = i
	w.repairs++
	return true
}

// unqueue removes slot i from the repair FIFO if it is there.
func (w *txw) unqueue(i int) {
	sl := &w.slots[i]
	if !sl.queued {
		return
	}
	if sl.prev >= 0 {
		w.slots[sl.prev].next = sl.next
	} else {
		w.repairHead = sl.next
	}
	if sl.next >= 0 {
		w.slots[sl.next].prev = sl.prev
	} else {
		w.repairTail = sl.prev
	}
	sl.queued, sl.next, sl.prev = false, -1, -1
	w.repairs--
}

// popRepair removes and returns the oldest queued repair, or nil.
func (w *txw) popRepair() *txSlot {
	if w.repairHead < 0 {
		return nil
	}
	i := int(w.repairHead)
	w.unqueue(i)
	return &w.slots[i]
}

// peekRepair returns the oldest queued repair without removing it, or nil.
func (w *txw) peekRepair() *txSlot {
	if w.repairHead < 0 {
		return nil
	}
	return &w.slots[w.repairHead]
}

package receiver

// slotState is the state of one sequence number in a receive window, as in
// OpenPGM's rxw.c (without the FEC states).
type slotState uint8

const (
	slotFree     slotState = iota // not in the window
	slotBackOff                   // missing; a NAK goes out when its back-off expires
	slotWaitNCF                   // NAKed; waiting for the NCF
	slotWaitData                  // confirmed; waiting for the RDATA
	slotHaveData                  // received, not yet delivered
	slotLost                      // given up, not yet reported
)

func (s slotState) missing() bool { return s >= slotBackOff && s <= slotWaitData }

// rxSlot is one sequence number of the window.
type rxSlot struct {
	buf         []byte // the payload; storage allocated on first use and kept
	expiry      int64  // timer, while missing
	heapPos     int32  // position in the timer heap, -1 if not in it
	index       int32  // of the slot in the window, for the heap
	sqn         uint32
	ncfRetries  uint16
	dataRetries uint16
	state       slotState
	nakQueued   bool // in the peer's list of sqns to NAK
	graced      bool // already waited once for an SPM to learn where to NAK
	rdata       bool // the data came as RDATA
}

func (s *rxSlot) reset(q uint32) {
	s.sqn = q
	s.state = slotFree
	s.ncfRetries, s.dataRetries = 0, 0
	s.nakQueued, s.graced, s.rdata = false, false, false
	s.buf = s.buf[:0]
}

// rxw is one peer's receive window (OpenPGM rxw.c), simplified because
// delivered data is released at once: OpenPGM's trail and commit_lead are
// the same sqn here, commit, the next sqn to deliver or report.
//
//	commit              lead
//	  |<--- size slots --->|
//
// The window holds commit..lead. Slots are indexed relative to commit (head
// is commit's slot), not by sqn modulo size, which would break at the 2^32
// wrap for sizes that are not powers of two.
//
// Sequence numbers that left the window without being delivered (evicted,
// skipped by a trail jump or a rejoin, or given up at commit) form one run,
// lossFirst and lost, that ends at commit: the next event for the peer.
type rxw struct {
	slots   []rxSlot
	head    int
	commit  uint32
	lead    uint32 // lead+1 == commit when empty
	defined bool

	// The source's advertised trail (OpenPGM rxw_trail). Until it passes
	// the join point (trailInit) the window is constrained: advertised
	// trails are ignored, so that a late joiner never gives up history it
	// never had.
	rxwTrail    uint32
	trailInit   uint32
	constrained bool
	trailDone   uint32 // sqns below this have been checked against rxwTrail

	lossFirst uint32
	lost      uint64

	timers []int32 // a min-heap of slot indices by (expiry, sqn)
}

func newRXW(size int) rxw {
	w := rxw{slots: make([]rxSlot, size), timers: make([]int32, 0, size)}
	for i := range w.slots {
		w.slots[i].heapPos, w.slots[i].index = -1, int32(i)
	}
	return w
}

func (w *rxw) size() uint32 { return uint32(len(w.slots)) }

// length is the number of sqns in the window.
func (w *rxw) length() uint32 { return w.lead + 1 - w.commit }

func (w *rxw) empty() bool { return w.lead+1 == w.commit }

func (w *rxw) full() bool { return w.length() == w.size() }

// offset is how far q is ahead of commit; q is in the window when
// offset(q) < length().
func (w *rxw) offset(q uint32) uint32 { return q - w.commit }

func (w *rxw) contains(q uint32) bool { return w.offset(q) < w.length() }

// slot returns the slot of q, which must be less than size ahead of commit.
func (w *rxw) slot(q uint32) *rxSlot {
	return &w.slots[(w.head+int(w.offset(q)))%len(w.slots)]
}

func (w *rxw) headSlot() *rxSlot { return &w.slots[w.head] }

// define sets up the window of a new session so that lead+1 is the first
// sqn it will deliver.
func (w *rxw) define(lead uint32) {
	w.defined = true
	w.lead = lead
	w.commit = lead + 1
	w.rejoinAt(w.commit)
}

// rejoinAt (re)starts the trail bookkeeping at join point q.
func (w *rxw) rejoinAt(q uint32) {
	w.rxwTrail, w.trailInit, w.trailDone = q, q, q
	w.constrained = true
}

// addLoss records that the n sqns from commit on left the window
// undelivered; the caller then moves commit past them.
func (w *rxw) addLoss(n uint32) {
	if w.lost == 0 {
		w.lossFirst = w.commit
	}
	w.lost += uint64(n)
}

// pop releases commit's slot (which the caller has delivered, or recorded
// as lost) and moves commit on.
func (w *rxw) pop() *rxSlot {
	s := &w.slots[w.head]
	s.state = slotFree
	w.head++
	if w.head == len(w.slots) {
		w.head = 0
	}
	w.commit++
	return s
}

// Timer heap. Ties on expiry go to the older sqn, so that the placeholders
// created by one packet, which share an expiry, come out in order.

func (w *rxw) timerLess(a, b int32) bool {
	sa, sb := &w.slots[a], &w.slots[b]
	if sa.expiry != sb.expiry {
		return sa.expiry < sb.expiry
	}
	return w.offset(sa.sqn) < w.offset(sb.sqn)
}

func (w *rxw) timerSwap(i, j int) {
	h := w.timers
	h[i], h[j] = h[j], h[i]
	w.slots[h[i]].heapPos = int32(i)
	w.slots[h[j]].heapPos = int32(j)
}

func (w *rxw) timerUp(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !w.timerLess(w.timers[j], w.timers[i]) {
			break
		}
		w.timerSwap(i, j)
		j = i
	}
}

func (w *rxw) timerDown(i int) bool {
	start := i
	n := len(w.timers)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && w.timerLess(w.timers[r], w.timers[l]) {
			j = r
		}
		if !w.timerLess(w.timers[j], w.timers[i]) {
			break
		}
		w.timerSwap(i, j)
		i = j
	}
	return i > start
}

// setTimer (re)arms s's timer at expiry.
func (w *rxw) setTimer(s *rxSlot, expiry int64) {
	s.expiry = expiry
	if s.heapPos >= 0 {
		if !w.timerDown(int(s.heapPos)) {
			w.timerUp(int(s.heapPos))
		}
		return
	}
	s.heapPos = int32(len(w.timers))
	w.timers = append(w.timers, s.index)
	w.timerUp(len(w.timers) - 1)
}

// clearTimer disarms s's timer.
func (w *rxw) clearTimer(s *rxSlot) bool {
	i := int(s.heapPos)
	if i < 0 {
		return false
	}
	n := len(w.timers) - 1
	if i != n {
		w.timerSwap(i, n)
	}
	w.timers = w.timers[:n]
	s.heapPos = -1
	if i != n && !w.timerDown(i) {
		w.timerUp(i)
	}
	return true
}

// nextTimer returns the earliest timer's slot, or nil.
func (w *rxw) nextTimer() *rxSlot {
	if len(w.timers) == 0 {
		return nil
	}
	return &w.slots[w.timers[0]]
}

// clearTimers disarms every timer at once (a rejoin or an expiry).
func (w *rxw) clearTimers() {
	for _, i := range w.timers {
		w.slots[i].heapPos = -1
	}
	w.timers = w.timers[:0]
}

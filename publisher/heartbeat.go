package publisher

import (
	"container/heap"
	"time"
)

// heartbeats decides when heartbeats are due. It does no I/O and reads no
// clock: the caller passes the time in, so tests drive it with a fake clock.
//
// Two kinds exist. The control heartbeat goes out every interval whatever the
// traffic, so that a subscriber of a quiet topic still sees the feed alive and
// learns a restart within one interval. A topic heartbeat goes out on a topic
// that has been idle for one interval after data, carrying its last sequence
// number, so the loss of the last tick before a quiet period is detected;
// it repeats with doubling intervals up to max, in case a slow-consumer drop
// took the first one too.
type heartbeats struct {
	interval, max time.Duration
	nextControl   time.Time
	topics        topicHeap
}

func newHeartbeats(interval, maxBackoff time.Duration, now time.Time) *heartbeats {
	// The first control heartbeat is due at once: it announces the session.
	return &heartbeats{interval: interval, max: max(maxBackoff, interval), nextControl: now}
}

// data records that t sent data at now: its heartbeat is due one interval later.
func (h *heartbeats) data(t *Topic, now time.Time) {
	t.hb.due = now.Add(h.interval)
	t.hb.backoff = h.interval
	t.hb.owed = true
	if t.hb.index < 0 {
		heap.Push(&h.topics, t)
	} else {
		heap.Fix(&h.topics, t.hb.index)
	}
}

// controlDue reports whether the control heartbeat is due at now and, if so,
// schedules the next one.
func (h *heartbeats) controlDue(now time.Time) bool {
	if now.Before(h.nextControl) {
		return false
	}
	// Keep the cadence; after a stall, restart it from now instead of
	// sending a burst of heartbeats that are all late.
	h.nextControl = h.nextControl.Add(h.interval)
	if !h.nextControl.After(now) {
		h.nextControl = now.Add(h.interval)
	}
	return true
}

// dueTopics calls send for every topic whose heartbeat is due at now, and
// schedules its next one.
func (h *heartbeats) dueTopics(now time.Time, send func(*Topic)) {
	for len(h.topics) > 0 && !now.Before(h.topics[0].hb.due) {
		t := h.topics[0]
		send(t)
		t.hb.owed = false
		t.hb.backoff = min(2*t.hb.backoff, h.max)
		t.hb.due = now.Add(t.hb.backoff)
		heap.Fix(&h.topics, 0)
	}
}

// next returns when the next heartbeat of any kind is due.
func (h *heartbeats) next() time.Time {
	if len(h.topics) > 0 && h.topics[0].hb.due.Before(h.nextControl) {
		return h.topics[0].hb.due
	}
	return h.nextControl
}

// topicHB is a topic's heartbeat schedule.
type topicHB struct {
	due     time.Time
	backoff time.Duration
	owed    bool // data was sent since the last topic heartbeat
	index   int  // position in the heap, -1 if not in it
}

// topicHeap orders topics by heartbeat due time (container/heap).
type topicHeap []*Topic

func (q topicHeap) Len() int           { return len(q) }
func (q topicHeap) Less(i, j int) bool { return q[i].hb.due.Before(q[j].hb.due) }
func (q topicHeap) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].hb.index, q[j].hb.index = i, j
}
func (q *topicHeap) Push(x any) {
	t := x.(*Topic)
	t.hb.index = len(*q)
	*q = append(*q, t)
}
func (q *topicHeap) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.hb.index = -1
	*q = old[:len(old)-1]
	return t
}

package recovery

import (
	"bytes"
	"slices"
	"sort"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// Defaults of a History's bounds.
const (
	// DefaultRetention is how long a message is kept.
	DefaultRetention = 30 * time.Second
	// DefaultRetentionBytes bounds the bytes kept (topics and bodies).
	DefaultRetentionBytes = 256 << 20
	// DefaultMaxTopics bounds the topics whose last value is kept.
	DefaultMaxTopics = 100_000
	// rememberedSessions is how many replaced sessions are remembered, so
	// that a late message of one (a lagging line) does not take the
	// history back to it.
	rememberedSessions = 8
)

// chunkSize is the size of the arena's chunks; a message larger than a
// quarter of it is stored in an allocation of its own.
const chunkSize = 1 << 20

// History keeps the recent messages of one feed session, exactly as they
// were published, indexed by topic and topic sequence, and the last value
// of every topic. It is bounded by age and by bytes, whichever is reached
// first evicting the oldest messages, and by a number of topics.
//
// History is protocol logic without I/O and without a clock, as the rest of
// tickcast's state machines: it takes messages and the time. It is not safe
// for concurrent use; Server guards it with a lock.
type History struct {
	maxAge    time.Duration
	maxBytes  int64
	maxTopics int

	session  uint64
	ended    bool
	replaced []uint64 // sessions given up for a newer one, most recent last

	ents   []entry // entries[h:] are held, oldest first
	h      int
	headID uint64 // the id of ents[h]
	bytes  int64
	arena  arena
	topics map[string]*topicHist

	msg   schema.Message
	stats HistoryStats
}

// HistoryStats are a History's counters.
type HistoryStats struct {
	Session       uint64 // the session held; 0: none yet
	Messages      int    // messages held now
	Bytes         int64  // bytes held now (topics and bodies)
	Topics        int    // topics known (their last values are kept)
	Added         uint64 // messages stored
	Evicted       uint64 // messages evicted, by age or bytes
	Duplicates    uint64 // messages already held (the other line of an A/B pair)
	Ignored       uint64 // messages not stored: control, malformed, of a replaced session
	TopicsRefused uint64 // messages on new topics beyond the topic limit, not stored
	Sessions      uint64 // sessions held, one after another
}

// entry is one message held.
type entry struct {
	topic       *topicHist
	data        []byte // the topic, then the body
	topicLen    int
	stream      uint64
	first, last uint64 // the topic sequence numbers of its first and last ticks
	at          int64  // when it was added, ns since the epoch
	chunk       uint64 // the arena chunk it lives in
}

func (e *entry) body() []byte { return e.data[e.topicLen:] }

// topicHist is what History knows of one topic.
type topicHist struct {
	name []byte
	// ids[head:] are the entries of the topic held, by topic sequence;
	// an entry evicted leaves them at once (forget).
	ids        []uint64
	head       int
	last       schema.Tick // its last tick (by sequence)
	lastStream uint64      // the stream sequence of the message that carried it
	hasLast    bool
}

// NewHistory returns an empty History: messages are kept for maxAge and
// within maxBytes (zero: the defaults), for at most maxTopics topics.
func NewHistory(maxAge time.Duration, maxBytes int64, maxTopics int) *History {
	if maxAge <= 0 {
		maxAge = DefaultRetention
	}
	if maxBytes <= 0 {
		maxBytes = DefaultRetentionBytes
	}
	if maxTopics <= 0 {
		maxTopics = DefaultMaxTopics
	}
	return &History{maxAge: maxAge, maxBytes: maxBytes, maxTopics: maxTopics, topics: make(map[string]*topicHist)}
}

// Add takes a message [topic, body] as published, received at now. Batches
// are kept; the end of a session is noted; other messages, malformed ones,
// and messages of a session that a newer one replaced are ignored. A message
// of a new session replaces everything held (a publisher restarted).
func (h *History) Add(topic, body []byte, now time.Time) {
	h.evict(now)
	m := &h.msg
	if m.Decode(body) != nil {
		h.stats.Ignored++
		return
	}
	if m.Session != h.session {
		if m.Session == 0 || slices.Contains(h.replaced, m.Session) {
			h.stats.Ignored++
			return
		}
		h.reset(m.Session)
	}
	switch {
	case m.Type == schema.EndOfSession && string(topic) == schema.ControlTopic:
		h.ended = true
		h.stats.Ignored++
		return
	case m.Type != schema.Batch || m.Len() == 0 || string(topic) == schema.ControlTopic:
		h.stats.Ignored++
		return
	}
	first, last := m.Tick(0).Seq, m.Tick(m.Len()-1).Seq
	if last < first {
		h.stats.Ignored++
		return
	}
	t := h.topics[string(topic)]
	if t == nil {
		if len(h.topics) >= h.maxTopics {
			h.stats.TopicsRefused++
			return
		}
		t = &topicHist{name: bytes.Clone(topic)}
		h.topics[string(t.name)] = t
	}
	pos, dup := h.position(t, first, last)
	if dup {
		h.stats.Duplicates++
		return
	}
	size := len(topic) + len(body)
	data, chunk := h.arena.alloc(size)
	copy(data, topic)
	copy(data[len(topic):], body)
	id := h.headID + uint64(len(h.ents)-h.h)
	h.ents = append(h.ents, entry{topic: t, data: data, topicLen: len(topic), stream: m.StreamSeq,
		first: first, last: last, at: now.UnixNano(), chunk: chunk})
	t.ids = slices.Insert(t.ids, t.head+pos, id)
	if !t.hasLast || last >= t.last.Seq {
		t.last, t.lastStream, t.hasLast = m.Tick(m.Len()-1), m.StreamSeq, true
	}
	h.bytes += int64(size)
	h.stats.Added++
	h.evictBytes()
}

// position returns where a message with ticks first..last goes among t's
// entries, and whether one of them holds those ticks already.
func (h *History) position(t *topicHist, first, last uint64) (int, bool) {
	ids := t.ids[t.head:]
	n := len(ids)
	if n == 0 || h.ent(ids[n-1]).last < first {
		return n, false // the common case: after everything held
	}
	// The first entry that ends at or after first.
	i := sort.Search(n, func(i int) bool { return h.ent(ids[i]).last >= first })
	if i < n && h.ent(ids[i]).first <= last {
		return i, true
	}
	return i, false
}

// ent returns the entry of a held id.
func (h *History) ent(id uint64) *entry { return &h.ents[h.h+int(id-h.headID)] }

// forget removes id, the oldest entry held of all, from t's entries: it is
// the first of them, unless a message of t that came later holds earlier
// ticks (a lagging line's). The entries held move to the front of the slice
// once the evicted ones take half of it: each id is moved a constant number
// of times on average.
func (t *topicHist) forget(id uint64) {
	if t.head < len(t.ids) && t.ids[t.head] == id {
		t.head++
	} else if i := slices.Index(t.ids[t.head:], id); i >= 0 {
		t.ids = slices.Delete(t.ids, t.head+i, t.head+i+1)
	}
	if t.head > 0 && t.head >= len(t.ids)/2 {
		n := copy(t.ids, t.ids[t.head:])
		t.ids, t.head = t.ids[:n], 0
	}
}

// reset gives up everything held for a new session.
func (h *History) reset(session uint64) {
	if h.session != 0 {
		h.replaced = append(h.replaced, h.session)
		if len(h.replaced) > rememberedSessions {
			h.replaced = h.replaced[1:]
		}
	}
	h.stats.Evicted += uint64(len(h.ents) - h.h)
	h.headID += uint64(len(h.ents) - h.h)
	clear(h.ents)
	h.ents, h.h, h.bytes = h.ents[:0], 0, 0
	h.arena.releaseAll()
	clear(h.topics)
	h.session, h.ended = session, false
	h.stats.Sessions++
}

// evict drops the messages older than the retention at now.
func (h *History) evict(now time.Time) {
	limit := now.Add(-h.maxAge).UnixNano()
	for h.h < len(h.ents) && h.ents[h.h].at < limit {
		h.dropOldest()
	}
	h.compact()
}

// evictBytes drops the oldest messages until the bytes are within bounds.
func (h *History) evictBytes() {
	for h.bytes > h.maxBytes && h.h < len(h.ents) {
		h.dropOldest()
	}
	h.compact()
}

func (h *History) dropOldest() {
	e := &h.ents[h.h]
	h.bytes -= int64(len(e.data))
	e.topic.forget(h.headID)
	*e = entry{}
	h.h++
	h.headID++
	h.stats.Evicted++
	if h.h < len(h.ents) {
		h.arena.release(h.ents[h.h].chunk)
	} else {
		h.arena.releaseAll()
	}
}

// compact moves the held entries to the front of their slice once the
// evicted ones take more than half of it.
func (h *History) compact() {
	if h.h > 0 && h.h >= len(h.ents)/2 {
		n := copy(h.ents, h.ents[h.h:])
		clear(h.ents[n:])
		h.ents, h.h = h.ents[:n], 0
	}
}

// Stats returns the counters.
func (h *History) Stats() HistoryStats {
	s := h.stats
	s.Session, s.Messages, s.Bytes, s.Topics = h.session, len(h.ents)-h.h, h.bytes, len(h.topics)
	return s
}

// Session returns the session held (0: none yet) and whether it ended.
func (h *History) Session() (id uint64, ended bool) { return h.session, h.ended }

// Msg is a message as published: views into the History, valid until its
// next Add or Evict.
type Msg struct {
	Topic, Body []byte
}

// Limits bound one reply.
type Limits struct {
	Messages int // at most this many messages
	Bytes    int // at most this many bytes of topics and bodies (one message is always allowed)
}

// ReplayResult says how a Replay went.
type ReplayResult struct {
	Status schema.ReplyStatus
	// To is the last topic sequence the messages returned cover (From-1
	// when none): ask again from To+1 after a ReplyPartial.
	To uint64
	// HeldFrom and HeldTo: after ReplyNotAvailable, the next sequence the
	// History can serve of the topic beyond the part it lacks, and the
	// last it holds (0, 0: none).
	HeldFrom, HeldTo uint64
}

// Replay appends to dst the messages of topic that hold its ticks from
// from up to to, in sequence order, within lim, and says whether they
// cover the range: ReplyOK, ReplyPartial (lim was reached: ask again from
// To+1), or ReplyNotAvailable (the History lacks tick To+1: evicted, never
// received, or not yet published). The messages may hold ticks outside the
// range. The views appended are valid until the next Add or Evict.
func (h *History) Replay(topic []byte, from, to uint64, lim Limits, now time.Time, dst []Msg) (ReplayResult, []Msg) {
	h.evict(now)
	res := ReplayResult{Status: schema.ReplyNotAvailable, To: from - 1}
	t := h.topics[string(topic)]
	if t == nil || from > to {
		return res, dst
	}
	ids := t.ids[t.head:]
	n := len(ids)
	i := sort.Search(n, func(i int) bool { return h.ent(ids[i]).last >= from })
	next, msgs, size := from, 0, 0
	for ; i < n; i++ {
		e := h.ent(ids[i])
		if e.first > next {
			break // a hole in what is held
		}
		if msgs > 0 && (msgs >= lim.Messages || size+len(e.data) > lim.Bytes) {
			res.Status, res.To = schema.ReplyPartial, next-1
			return res, dst
		}
		dst = append(dst, Msg{Topic: e.data[:e.topicLen], Body: e.body()})
		msgs++
		size += len(e.data)
		next = e.last + 1
		if e.last >= to {
			res.Status, res.To = schema.ReplyOK, e.last
			return res, dst
		}
	}
	res.To = next - 1
	if i < n {
		res.HeldFrom = h.ent(ids[i]).first
	}
	if n > 0 {
		res.HeldTo = h.ent(ids[n-1]).last
	}
	return res, dst
}

// LastValue is a topic's last tick.
type LastValue struct {
	Topic  []byte
	Tick   schema.Tick
	Stream uint64 // the stream sequence of the message that carried it
}

// LastValues appends to dst the last value of every topic, in no order:
// cheap enough to call under a lock (a copy per topic), leaving the
// matching and sorting of a snapshot to be done outside it. Last values
// outlive the messages that carried them; their topics are never changed.
func (h *History) LastValues(dst []LastValue) []LastValue {
	for _, t := range h.topics {
		if t.hasLast {
			dst = append(dst, LastValue{Topic: t.name, Tick: t.last, Stream: t.lastStream})
		}
	}
	return dst
}

// Snapshot appends to dst the last value of every topic match accepts, in
// topic order.
func (h *History) Snapshot(match func(topic []byte) bool, dst []LastValue) []LastValue {
	start := len(dst)
	dst = h.LastValues(dst)
	return filterSort(dst, start, match)
}

// filterSort keeps the values of dst[start:] that match accepts, in topic
// order.
func filterSort(dst []LastValue, start int, match func(topic []byte) bool) []LastValue {
	kept := dst[:start]
	for _, v := range dst[start:] {
		if match(v.Topic) {
			kept = append(kept, v)
		}
	}
	slices.SortFunc(kept[start:], func(a, b LastValue) int { return bytes.Compare(a.Topic, b.Topic) })
	return kept
}

// Evict drops what is past the retention at now: call it when no message
// comes for a while.
func (h *History) Evict(now time.Time) { h.evict(now) }

// arena stores messages in chunks allocated as needed and released in the
// order they were filled, since messages are evicted oldest first.
type arena struct {
	chunks [][]byte // chunks[i] is chunk number base+i
	base   uint64
	off    int      // bytes used of the last chunk
	free   [][]byte // released chunks kept for reuse (at most two)
}

// alloc returns n bytes and the number of the chunk they belong to.
func (a *arena) alloc(n int) ([]byte, uint64) {
	if n > chunkSize/4 {
		// Its own allocation, counted with the current chunk, which is
		// released no earlier than the message.
		if len(a.chunks) == 0 {
			a.grow()
		}
		return make([]byte, n), a.base + uint64(len(a.chunks)-1)
	}
	if len(a.chunks) == 0 || a.off+n > chunkSize {
		a.grow()
	}
	last := a.chunks[len(a.chunks)-1]
	b := last[a.off : a.off+n : a.off+n]
	a.off += n
	return b, a.base + uint64(len(a.chunks)-1)
}

func (a *arena) grow() {
	var c []byte
	if k := len(a.free); k > 0 {
		c, a.free = a.free[k-1], a.free[:k-1]
	} else {
		c = make([]byte, chunkSize)
	}
	a.chunks = append(a.chunks, c)
	a.off = 0
}

// release gives back the chunks before number keep: nothing in them is
// held any more.
func (a *arena) release(keep uint64) {
	for a.base < keep && len(a.chunks) > 1 {
		if len(a.free) < 2 {
			a.free = append(a.free, a.chunks[0])
		}
		a.chunks[0] = nil
		a.chunks = a.chunks[1:]
		a.base++
	}
}

// releaseAll gives back every chunk: nothing is held.
func (a *arena) releaseAll() {
	for _, c := range a.chunks {
		if len(a.free) < 2 {
			a.free = append(a.free, c)
		}
	}
	a.base += uint64(len(a.chunks))
	clear(a.chunks)
	a.chunks, a.off = a.chunks[:0], 0
}

package recovery

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// feed builds the messages of one session as a publisher would.
type feed struct {
	session uint64
	stream  uint64
	seq     map[string]uint64
	enc     *schema.Encoder
}

func newFeed(session uint64) *feed {
	return &feed{session: session, seq: map[string]uint64{}, enc: schema.NewEncoder(1024)}
}

// batch returns the next message of n ticks on topic (a copy).
func (f *feed) batch(topic string, n int) []byte {
	f.stream++
	ticks := make([]schema.Tick, n)
	for i := range ticks {
		f.seq[topic]++
		ticks[i] = schema.Tick{Seq: f.seq[topic], Price: int64(f.seq[topic]) * 100, Kind: schema.KindTrade}
	}
	b := f.enc.Encode(schema.Header{Type: schema.Batch, Session: f.session, StreamSeq: f.stream}, ticks)
	return append([]byte(nil), b...)
}

func (f *feed) control(typ schema.MessageType) []byte {
	f.stream++
	return append([]byte(nil), f.enc.Encode(schema.Header{Type: typ, Session: f.session, StreamSeq: f.stream}, nil)...)
}

var t0 = time.Unix(1_700_000_000, 0)

// seqs returns the tick sequences the messages hold, as "first-last" per message.
func seqs(t *testing.T, msgs []Msg) string {
	t.Helper()
	var parts []string
	var m schema.Message
	for _, x := range msgs {
		if err := m.Decode(x.Body); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf("%s:%d-%d", x.Topic, m.Tick(0).Seq, m.Tick(m.Len()-1).Seq))
	}
	return strings.Join(parts, " ")
}

var noLimit = Limits{Messages: 1 << 30, Bytes: 1 << 30}

func TestReplayReturnsTheMessagesThatHoldTheRange(t *testing.T) {
	h := NewHistory(time.Minute, 0, 0)
	f := newFeed(7)
	for i := range 5 {
		h.Add([]byte("AAPL"), f.batch("AAPL", 3), t0) // AAPL 1-3, 4-6, 7-9, 10-12, 13-15
		h.Add([]byte("MSFT"), f.batch("MSFT", 1+i), t0)
	}
	res, msgs := h.Replay([]byte("AAPL"), 5, 10, noLimit, t0, nil)
	if res.Status != schema.ReplyOK || res.To != 12 {
		t.Fatalf("result %+v", res)
	}
	if got := seqs(t, msgs); got != "AAPL:4-6 AAPL:7-9 AAPL:10-12" {
		t.Fatalf("replayed %s", got)
	}
}

func TestAReplyWithinItsLimitsIsPartialAndTheRestFollowsOnRequest(t *testing.T) {
	h := NewHistory(time.Minute, 0, 0)
	f := newFeed(7)
	for range 10 {
		h.Add([]byte("AAPL"), f.batch("AAPL", 2), t0) // 1-2 ... 19-20
	}
	res, msgs := h.Replay([]byte("AAPL"), 1, 20, Limits{Messages: 4, Bytes: 1 << 20}, t0, nil)
	if res.Status != schema.ReplyPartial || res.To != 8 || len(msgs) != 4 {
		t.Fatalf("result %+v, %d messages", res, len(msgs))
	}
	res, msgs = h.Replay([]byte("AAPL"), res.To+1, 20, Limits{Messages: 4, Bytes: 1 << 20}, t0, msgs[:0])
	if res.Status != schema.ReplyPartial || seqs(t, msgs) != "AAPL:9-10 AAPL:11-12 AAPL:13-14 AAPL:15-16" {
		t.Fatalf("result %+v, %s", res, seqs(t, msgs))
	}
	// A byte limit smaller than one message still returns one message:
	// a reply always makes progress.
	res, msgs = h.Replay([]byte("AAPL"), 17, 20, Limits{Messages: 4, Bytes: 1}, t0, msgs[:0])
	if res.Status != schema.ReplyPartial || res.To != 18 || len(msgs) != 1 {
		t.Fatalf("result %+v, %d messages", res, len(msgs))
	}
}

func TestWhatIsNotHeldIsNotAvailableWithWhatIs(t *testing.T) {
	h := NewHistory(time.Minute, 0, 0)
	f := newFeed(7)
	h.Add([]byte("AAPL"), f.batch("AAPL", 5), t0) // 1-5
	f.batch("AAPL", 5)                            // 6-10: never reached the history
	h.Add([]byte("AAPL"), f.batch("AAPL", 5), t0) // 11-15
	h.Add([]byte("AAPL"), f.batch("AAPL", 5), t0) // 16-20

	tests := []struct {
		name     string
		from, to uint64
		want     ReplayResult
		msgs     string
	}{
		{"up to a hole", 3, 12, ReplayResult{Status: schema.ReplyNotAvailable, To: 5, HeldFrom: 11, HeldTo: 20}, "AAPL:1-5"},
		{"inside a hole", 7, 8, ReplayResult{Status: schema.ReplyNotAvailable, To: 6, HeldFrom: 11, HeldTo: 20}, ""},
		{"after the hole", 12, 17, ReplayResult{Status: schema.ReplyOK, To: 20}, "AAPL:11-15 AAPL:16-20"},
		{"beyond the end", 18, 30, ReplayResult{Status: schema.ReplyNotAvailable, To: 20, HeldTo: 20}, "AAPL:16-20"},
		{"not yet published", 21, 30, ReplayResult{Status: schema.ReplyNotAvailable, To: 20, HeldTo: 20}, ""},
	}
	for _, tt := range tests {
		res, msgs := h.Replay([]byte("AAPL"), tt.from, tt.to, noLimit, t0, nil)
		if res != tt.want || seqs(t, msgs) != tt.msgs {
			t.Errorf("%s: %+v %q, want %+v %q", tt.name, res, seqs(t, msgs), tt.want, tt.msgs)
		}
	}
	if res, msgs := h.Replay([]byte("MSFT"), 1, 2, noLimit, t0, nil); res.Status != schema.ReplyNotAvailable || len(msgs) != 0 || res.HeldFrom != 0 {
		t.Errorf("unknown topic: %+v", res)
	}
}

func TestMessagesOlderThanTheRetentionAreEvicted(t *testing.T) {
	h := NewHistory(time.Second, 0, 0)
	f := newFeed(7)
	for i := range 10 {
		h.Add([]byte("AAPL"), f.batch("AAPL", 1), t0.Add(time.Duration(i)*200*time.Millisecond))
	}
	// At t0+2s, the messages added before t0+1s are gone: ticks 1-5.
	res, msgs := h.Replay([]byte("AAPL"), 1, 10, noLimit, t0.Add(2*time.Second), nil)
	if res.Status != schema.ReplyNotAvailable || res.HeldFrom != 6 || res.HeldTo != 10 || len(msgs) != 0 {
		t.Fatalf("%+v", res)
	}
	if st := h.Stats(); st.Evicted != 5 || st.Messages != 5 {
		t.Fatalf("stats %+v", st)
	}
	h.Evict(t0.Add(time.Hour))
	if st := h.Stats(); st.Messages != 0 || st.Bytes != 0 {
		t.Fatalf("after the retention: %+v", st)
	}
}

func TestTheByteBoundEvictsTheOldestFirst(t *testing.T) {
	f := newFeed(7)
	one := len("AAPL") + len(f.batch("AAPL", 10))
	h := NewHistory(time.Hour, int64(100*one), 0)
	for range 1000 {
		h.Add([]byte("AAPL"), f.batch("AAPL", 10), t0)
	}
	st := h.Stats()
	if st.Bytes > int64(100*one) || st.Messages != 100 || st.Evicted != 900 {
		t.Fatalf("stats %+v (one message %d bytes)", st, one)
	}
	res, _ := h.Replay([]byte("AAPL"), 1, 10_010, noLimit, t0, nil) // the first 10 ticks went to sizing a message
	if res.Status != schema.ReplyNotAvailable || res.HeldFrom != 9011 || res.HeldTo != 10_010 {
		t.Fatalf("%+v", res)
	}
}

// The same message from the other line of an A/B pair, or late, is kept once
// and in its place.
func TestDuplicatesAreKeptOnceAndLateMessagesInOrder(t *testing.T) {
	h := NewHistory(time.Minute, 0, 0)
	f := newFeed(7)
	m1, m2, m3 := f.batch("AAPL", 2), f.batch("AAPL", 2), f.batch("AAPL", 2)
	for _, m := range [][]byte{m1, m3, m1, m3, m2, m2} { // line A lost m2; line B brings everything late
		h.Add([]byte("AAPL"), m, t0)
	}
	res, msgs := h.Replay([]byte("AAPL"), 1, 6, noLimit, t0, nil)
	if res.Status != schema.ReplyOK || seqs(t, msgs) != "AAPL:1-2 AAPL:3-4 AAPL:5-6" {
		t.Fatalf("%+v %s", res, seqs(t, msgs))
	}
	if st := h.Stats(); st.Duplicates != 3 || st.Messages != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// A new session replaces the history; a late message of the old one does
// not bring it back.
func TestANewSessionReplacesTheHistory(t *testing.T) {
	h := NewHistory(time.Minute, 0, 0)
	old, restarted := newFeed(1), newFeed(2)
	h.Add([]byte("AAPL"), old.batch("AAPL", 3), t0)
	h.Add([]byte("AAPL"), restarted.batch("AAPL", 1), t0)
	h.Add([]byte("AAPL"), old.batch("AAPL", 3), t0) // the lagging line
	if id, _ := h.Session(); id != 2 {
		t.Fatalf("session %d", id)
	}
	res, msgs := h.Replay([]byte("AAPL"), 1, 1, noLimit, t0, nil)
	if res.Status != schema.ReplyOK || len(msgs) != 1 {
		t.Fatalf("%+v", res)
	}
	h.Add([]byte(schema.ControlTopic), restarted.control(schema.EndOfSession), t0)
	if _, ended := h.Session(); !ended {
		t.Fatal("the end of the session was not noted")
	}
	if st := h.Stats(); st.Sessions != 2 || st.Ignored != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSnapshotHasTheLastValueOfEveryMatchingTopicEvenAfterEviction(t *testing.T) {
	h := NewHistory(time.Second, 0, 0)
	f := newFeed(7)
	for _, topic := range []string{"MSFT", "AAPL", "AAPL.OQ", "GOOG"} {
		h.Add([]byte(topic), f.batch(topic, 3), t0)
	}
	h.Evict(t0.Add(time.Hour))
	got := h.Snapshot(func(topic []byte) bool { return strings.HasPrefix(string(topic), "AAPL") || string(topic) == "MSFT" }, nil)
	var parts []string
	for _, v := range got {
		parts = append(parts, fmt.Sprintf("%s:%d@%d", v.Topic, v.Tick.Seq, v.Stream))
	}
	if s := strings.Join(parts, " "); s != "AAPL:3@2 AAPL.OQ:3@3 MSFT:3@1" {
		t.Fatalf("snapshot %s", s)
	}
}

func TestTopicsBeyondTheLimitAreRefusedAndCounted(t *testing.T) {
	h := NewHistory(time.Minute, 0, 2)
	f := newFeed(7)
	for _, topic := range []string{"A", "B", "C", "A"} {
		h.Add([]byte(topic), f.batch(topic, 1), t0)
	}
	if st := h.Stats(); st.Topics != 2 || st.TopicsRefused != 1 || st.Messages != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestControlAndMalformedMessagesAreIgnored(t *testing.T) {
	h := NewHistory(time.Minute, 0, 0)
	f := newFeed(7)
	h.Add([]byte(schema.ControlTopic), f.control(schema.Heartbeat), t0)
	h.Add([]byte("AAPL"), f.control(schema.TopicHeartbeat), t0)
	h.Add([]byte("AAPL"), []byte("garbage"), t0)
	if st := h.Stats(); st.Ignored != 3 || st.Messages != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Keeping history costs no allocation per message once the arena and the
// indexes have grown to the retention.
func TestAddAllocatesNothingInSteadyState(t *testing.T) {
	f := newFeed(7)
	h := NewHistory(time.Hour, 4*chunkSize, 0)
	run := make([][]byte, 200_000) // encoded beforehand: the loop measures Add alone
	for j := range run {
		run[j] = f.batch("X", 4)
	}
	j := 0
	for ; j < 150_000; j++ { // past the byte bound: eviction runs
		h.Add([]byte("X"), run[j], t0)
	}
	if st := h.Stats(); st.Evicted == 0 {
		t.Fatalf("nothing evicted yet: %+v", st)
	}
	allocs := testing.AllocsPerRun(10_000, func() {
		h.Add([]byte("X"), run[j], t0)
		j++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Add", allocs)
	}
}

package subscriber

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// recoveryTest is a feedTest whose feed asks a recovery service; the test
// plays the service.
func newRecoveryTest(t *testing.T) *feedTest {
	ft := newFeedTest(t, time.Hour, "")
	ft.f.enableRecovery(recoveryConfig{timeout: 300 * time.Millisecond, endpoint: "tcp://recovery:1"})
	return ft
}

// requests returns the requests the feed wants sent, as "topic from-to #id".
func (ft *feedTest) requests() []string {
	var out []string
	for _, r := range ft.f.takeRequests(nil) {
		out = append(out, fmt.Sprintf("%s %d-%d #%d", r.topic, r.from, r.to, r.id))
	}
	return out
}

// reply answers request id with status and messages of the given tick
// ranges ([first, last] pairs) of session.
func (ft *feedTest) reply(id uint64, session uint64, r schema.Reply, ranges ...[2]uint64) []string {
	var bodies [][]byte
	for _, rg := range ranges {
		var ticks []schema.Tick
		for s := rg[0]; s <= rg[1]; s++ {
			ticks = append(ticks, schema.Tick{Seq: s})
		}
		bodies = append(bodies, append([]byte(nil), ft.enc.Encode(schema.Header{Type: schema.Batch, Session: session}, ticks)...))
	}
	r.ID, r.Session = id, session
	ft.f.recoveryReply(id, &r, bodies, ft.now)
	return ft.drain()
}

// A hole no line fills is asked for; the topic's later ticks wait, other
// topics flow; the recovered ticks come in order, announced, then the held
// ones: as if nothing was lost.
func TestAHoleIsRecoveredAndDeliveredInOrder(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	expect(t, ft.batch(a, 7, "AAPL", 1, 2), "session 7", "ticks AAPL 1,2")
	expect(t, ft.batch(a, 7, "AAPL", 6, 7)) // 3-5 lost: held, and asked for
	expect(t, ft.requests(), []string{"AAPL 3-5 #1"}...)
	expect(t, ft.batch(a, 7, "MSFT", 1), "ticks MSFT 1") // another topic flows
	expect(t, ft.batch(a, 7, "AAPL", 8))                 // waits behind the hole
	ft.now = ft.now.Add(20 * time.Millisecond)
	expect(t, ft.reply(1, 7, schema.Reply{Status: schema.ReplyOK, To: 5}, [2]uint64{2, 4}, [2]uint64{5, 5}),
		"recovered tcp://recovery:1", "ticks AAPL 3,4,5", "ticks AAPL 6,7", "ticks AAPL 8")
	st := ft.f
	if st.recoveredTicks.get() != 3 || st.gaps.get() != 0 || st.missing.get() != 0 || st.ticksOut.get() != 9 {
		t.Fatalf("recovered %d, gaps %d, missing %d, ticks %d", st.recoveredTicks.get(), st.gaps.get(), st.missing.get(), st.ticksOut.get())
	}
}

// A partial reply is continued from where it ended.
func TestAPartialReplyIsContinued(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 10)
	expect(t, ft.requests(), "AAPL 2-9 #1")
	expect(t, ft.reply(1, 7, schema.Reply{Status: schema.ReplyPartial, To: 5}, [2]uint64{2, 5}),
		"recovered tcp://recovery:1", "ticks AAPL 2,3,4,5")
	expect(t, ft.requests(), "AAPL 6-9 #2")
	expect(t, ft.reply(2, 7, schema.Reply{Status: schema.ReplyOK, To: 9}, [2]uint64{6, 9}),
		"recovered tcp://recovery:1", "ticks AAPL 6,7,8,9", "ticks AAPL 10")
}

// What the service no longer holds is a gap, with the reason; what it holds
// after that is recovered.
func TestWhatTheServiceLacksIsAGapAndTheRestIsRecovered(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 20)
	expect(t, ft.requests(), "AAPL 2-19 #1")
	expect(t, ft.reply(1, 7, schema.Reply{Status: schema.ReplyNotAvailable, To: 4, HeldFrom: 11, HeldTo: 30}, [2]uint64{2, 4}),
		"recovered tcp://recovery:1", "ticks AAPL 2,3,4", "gap AAPL 5..10 missing 6 by seq")
	expect(t, ft.requests(), "AAPL 11-19 #2")
	expect(t, ft.reply(2, 7, schema.Reply{Status: schema.ReplyOK, To: 19}, [2]uint64{11, 19}),
		"recovered tcp://recovery:1", "ticks AAPL 11,12,13,14,15,16,17,18,19", "ticks AAPL 20")
	if ft.f.unrecovered.get() != 6 || ft.f.missing.get() != 6 || ft.f.recoveredTicks.get() != 12 {
		t.Fatalf("unrecovered %d missing %d recovered %d", ft.f.unrecovered.get(), ft.f.missing.get(), ft.f.recoveredTicks.get())
	}
}

// No answer in time: the range is a gap, the held ticks follow, and a late
// answer changes nothing.
func TestAnUnansweredRequestBecomesAGap(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 4, 5)
	expect(t, ft.requests(), "AAPL 2-3 #1")
	if d := ft.f.deadline(); !d.Equal(ft.now.Add(300 * time.Millisecond)) {
		t.Fatalf("deadline %v, want the request's", d.Sub(ft.now))
	}
	expect(t, ft.advance(299*time.Millisecond))
	expect(t, ft.advance(time.Millisecond), "gap AAPL 2..3 missing 2 by seq", "ticks AAPL 4,5")
	expect(t, ft.reply(1, 7, schema.Reply{Status: schema.ReplyOK, To: 3}, [2]uint64{2, 3}))
	if ft.f.recoveryLate.get() != 1 {
		t.Fatal("the late reply was not counted")
	}
}

// A failure reported by the client (no service) is a gap at once.
func TestARecoveryErrorIsAGapWithItsReason(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 3)
	ft.requests()
	ft.f.recoveryError(1, fmt.Errorf("connection refused"), ft.now)
	var detail string
	for ft.f.pending() {
		if ev := ft.f.pop(); ev.Kind == EventGap {
			detail = ev.Detail
		}
	}
	if detail != "recovery: connection refused" {
		t.Fatalf("gap detail %q", detail)
	}
}

// The loss of a topic's last ticks, seen by its heartbeat, is recovered the
// same way.
func TestIdleLossFoundByAHeartbeatIsRecovered(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	expect(t, ft.topicHeartbeat(a, 7, "AAPL", 3))
	expect(t, ft.requests(), "AAPL 2-3 #1")
	expect(t, ft.reply(1, 7, schema.Reply{Status: schema.ReplyOK, To: 3}, [2]uint64{2, 3}),
		"recovered tcp://recovery:1", "ticks AAPL 2,3")
}

// The end of a session waits for its recoveries: the recovered ticks come
// before it.
func TestTheEndOfASessionWaitsForItsRecoveries(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 3)
	expect(t, ft.control(a, schema.EndOfSession, 7, 0))
	expect(t, ft.requests(), "AAPL 2-2 #1")
	expect(t, ft.reply(1, 7, schema.Reply{Status: schema.ReplyOK, To: 2}, [2]uint64{2, 2}),
		"recovered tcp://recovery:1", "ticks AAPL 2", "ticks AAPL 3", "end 7")
}

// A reply about another session, or with messages of another session, does
// not deliver them.
func TestRepliesOfAnotherSessionDeliverNothing(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 3)
	ft.requests()
	expect(t, ft.reply(1, 8, schema.Reply{Status: schema.ReplyOK, To: 2}, [2]uint64{2, 2}),
		"gap AAPL 2..2 missing 1 by seq", "ticks AAPL 3")
}

// snapshotTest is a recoveryTest that asks for snapshots.
func newSnapshotTest(t *testing.T) *feedTest {
	ft := newRecoveryTest(t)
	ft.f.snapshots = true
	return ft
}

// snapshotRequests returns the snapshot requests the feed wants sent.
func (ft *feedTest) snapshotRequests() []string {
	var out []string
	for _, r := range ft.f.takeRequests(nil) {
		kind := "replay"
		if r.snapshot {
			kind = "snapshot"
		}
		out = append(out, fmt.Sprintf("%s %q #%d", kind, r.topic, r.id))
	}
	return out
}

// snapshot answers request id with the last values given (topic, seq).
func (ft *feedTest) snapshot(id, session uint64, status schema.ReplyStatus, last ...any) []string {
	var pairs [][]byte
	for i := 0; i < len(last); i += 2 {
		body := ft.enc.Encode(schema.Header{Type: schema.Snapshot, Session: session, StreamSeq: 1},
			[]schema.Tick{{Seq: uint64(last[i+1].(int))}})
		pairs = append(pairs, []byte(last[i].(string)), append([]byte(nil), body...))
	}
	r := schema.Reply{Status: status, ID: id, Session: session}
	if len(pairs) > 0 {
		r.Topic = pairs[len(pairs)-2]
	}
	ft.f.snapshotReply(id, &r, pairs, ft.now)
	return ft.drain()
}

// A late joiner gets every topic's last value first, then the live ticks
// after it: no gap, no duplicate. Ticks at or below the snapshot are dropped.
func TestALateJoinerStartsFromTheSnapshot(t *testing.T) {
	ft := newSnapshotTest(t)
	a := ft.line("A")
	expect(t, ft.batch(a, 7, "AAPL", 10, 11), "session 7") // held: the snapshot is awaited
	expect(t, ft.snapshotRequests(), `snapshot "" #1`)
	expect(t, ft.batch(a, 7, "MSFT", 5))
	expect(t, ft.snapshot(1, 7, schema.ReplyOK, "AAPL", 10, "GOOG", 3, "MSFT", 4),
		"snapshot AAPL 10", "snapshot GOOG 3", "snapshot MSFT 4", "ticks AAPL 11", "ticks MSFT 5")
	expect(t, ft.batch(a, 7, "AAPL", 12), "ticks AAPL 12")
	expect(t, ft.batch(a, 7, "GOOG", 4), "ticks GOOG 4")
	if ft.f.snapshotTopics.get() != 3 || ft.f.gaps.get() != 0 {
		t.Fatalf("snapshots %d gaps %d", ft.f.snapshotTopics.get(), ft.f.gaps.get())
	}
}

// A snapshot older than the first live tick held leaves a hole, recovered
// like any other.
func TestTheHoleBetweenASnapshotAndTheLiveTicksIsRecovered(t *testing.T) {
	ft := newSnapshotTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 10)
	ft.snapshotRequests()
	expect(t, ft.snapshot(1, 7, schema.ReplyOK, "AAPL", 7), "snapshot AAPL 7")
	expect(t, ft.snapshotRequests(), `replay "AAPL" #2`)
	expect(t, ft.reply(2, 7, schema.Reply{Status: schema.ReplyOK, To: 9}, [2]uint64{8, 9}),
		"recovered tcp://recovery:1", "ticks AAPL 8,9", "ticks AAPL 10")
}

// Without a snapshot (no answer), topics start at their first tick, as a
// late join does without snapshots; the failure is reported.
func TestWithoutASnapshotTopicsStartAtTheirFirstTick(t *testing.T) {
	ft := newSnapshotTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 10, 11)
	ft.snapshotRequests()
	expect(t, ft.advance(300*time.Millisecond), "no snapshot: snapshot: no answer within 300ms", "ticks AAPL 10,11")
	expect(t, ft.batch(a, 7, "AAPL", 12), "ticks AAPL 12")
}

// A partial snapshot is continued after its last topic.
func TestAPartialSnapshotIsContinued(t *testing.T) {
	ft := newSnapshotTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "MSFT", 5)
	ft.snapshotRequests()
	expect(t, ft.snapshot(1, 7, schema.ReplyPartial, "AAPL", 2), "snapshot AAPL 2")
	expect(t, ft.snapshotRequests(), `snapshot "AAPL" #2`)
	expect(t, ft.snapshot(2, 7, schema.ReplyOK, "MSFT", 4), "snapshot MSFT 4", "ticks MSFT 5")
}

// Several holes in a topic are one request; if it fails, each hole is a gap
// of its own and the ticks held between them are delivered.
func TestHolesOfATopicAreAskedForTogether(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 4, 5) // 2-3 lost
	ft.batch(a, 7, "AAPL", 8)    // 6-7 lost
	// The first hole was asked for when 4 came; the request for 6-7 waits
	// for it. A failure shows both handled: 2-3 a gap, 4-5 delivered...
	expect(t, ft.requests(), "AAPL 2-3 #1")
	ft.f.recoveryError(1, fmt.Errorf("refused"), ft.now)
	expect(t, ft.drain(), "gap AAPL 2..3 missing 2 by seq", "ticks AAPL 4,5")
	// ...and 6-7 asked for next.
	expect(t, ft.requests(), "AAPL 6-7 #2")

	// Holes known together are one request.
	ft2 := newRecoveryTest(t)
	b := ft2.line("B")
	ft2.batch(b, 7, "MSFT", 1)
	ft2.f.rec.timeout = time.Hour
	ft2.f.arbitration = time.Hour // (one line: no waiting for another anyway)
	ft2.seq++
	msg := rawBatch(ft2, 7, "MSFT", 4, 5, 8)
	ft2.f.message(b, msg, ft2.now)
	expect(t, ft2.drain())
	expect(t, ft2.requests(), "MSFT 2-7 #1")
	ft2.f.recoveryError(1, fmt.Errorf("refused"), ft2.now)
	expect(t, ft2.drain(), "gap MSFT 2..3 missing 2 by seq", "ticks MSFT 4,5", "gap MSFT 6..7 missing 2 by seq", "ticks MSFT 8")
}

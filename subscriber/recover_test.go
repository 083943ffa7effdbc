package subscriber

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/schema"
)

// recoveryTest is a feedTest whose feed asks a recovery service; the test
// plays the service.
func newRecoveryTest(t *testing.T) *feedTest {
	ft := newFeedTest(t, time.Hour, "")
	ft.f.enableRecovery(recoveryConfig{timeout: 300 * time.Millisecond, endpoint: "tcp://recovery:1"})
	return ft
}

// requests returns the requests the feed wants sent, as "topic from-to
// #id", followed by " @service" when the feed has several services.
func (ft *feedTest) requests() []string {
	var out []string
	for _, r := range ft.f.takeRequests(nil) {
		req := fmt.Sprintf("%s %d-%d #%d", r.topic, r.from, r.to, r.id)
		if len(ft.f.rec.services) > 1 {
			req += " @" + ft.f.rec.services[r.service]
		}
		out = append(out, req)
	}
	return out
}

// sent tells the feed that a connection sent requests ids, now.
func (ft *feedTest) sent(ids ...uint64) {
	for _, id := range ids {
		ft.f.recoverySent(id, ft.now)
	}
}

// details drains the events as drain does, gaps and failed snapshots with
// their Detail: "gap AAPL 2..3 missing 2 by seq: recovery: ...".
func (ft *feedTest) details() []string {
	var out []string
	for ft.f.pending() {
		ev := ft.f.pop()
		line := render(ev)
		if ev.Kind == EventGap {
			line += ": " + ev.Detail
		}
		out = append(out, line)
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

// No answer in time, counted from when the request was sent: the range is
// a gap, the held ticks follow, and a late answer changes nothing.
func TestAnUnansweredRequestBecomesAGap(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 4, 5)
	expect(t, ft.requests(), "AAPL 2-3 #1")
	ft.sent(1)
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
	ft.sent(1)
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

// The timeout runs from when the request is sent: one queued behind other
// topics' requests (after an outage, say) waits its turn without losing any
// of its time.
func TestARequestQueuedBehindOthersIsNotTimedOutWhileItWaits(t *testing.T) {
	ft := newRecoveryTest(t) // timeout 300ms: queued, a request waits up to 1.2s
	a := ft.line("A")
	for _, topic := range []string{"AAPL", "GOOG", "MSFT"} {
		ft.batch(a, 7, topic, 1)
		ft.batch(a, 7, topic, 3)
	}
	expect(t, ft.requests(), "AAPL 2-2 #1", "GOOG 2-2 #2", "MSFT 2-2 #3")
	// One connection: the requests go one after another, each answered in
	// 250ms, so the last is sent 500ms after it was queued.
	ft.sent(1)
	ft.advance(250 * time.Millisecond)
	expect(t, ft.reply(1, 7, schema.Reply{Status: schema.ReplyOK, To: 2}, [2]uint64{2, 2}),
		"recovered tcp://recovery:1", "ticks AAPL 2", "ticks AAPL 3")
	ft.sent(2)
	expect(t, ft.advance(250*time.Millisecond))
	expect(t, ft.reply(2, 7, schema.Reply{Status: schema.ReplyOK, To: 2}, [2]uint64{2, 2}),
		"recovered tcp://recovery:1", "ticks GOOG 2", "ticks GOOG 3")
	ft.sent(3)
	expect(t, ft.advance(299*time.Millisecond)) // 799ms after it was queued: still in time
	expect(t, ft.reply(3, 7, schema.Reply{Status: schema.ReplyOK, To: 2}, [2]uint64{2, 2}),
		"recovered tcp://recovery:1", "ticks MSFT 2", "ticks MSFT 3")
	if ft.f.gaps.get() != 0 || ft.f.recoveryLate.get() != 0 {
		t.Fatalf("gaps %d, late replies %d", ft.f.gaps.get(), ft.f.recoveryLate.get())
	}
}

// A request that waits unsent is bounded all the same, by a few timeouts
// (4): a stuck service cannot hold a topic's ticks without end. Its range
// is then a gap that says why, the held ticks follow, and should a
// connection take the request after all, the news is ignored.
func TestARequestNotSentInTimeIsAGapThatSaysWhy(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 4, 5)
	expect(t, ft.requests(), "AAPL 2-3 #1")
	if d := ft.f.deadline(); !d.Equal(ft.now.Add(1200 * time.Millisecond)) {
		t.Fatalf("deadline in %v, want the queue's: 4 timeouts", d.Sub(ft.now))
	}
	expect(t, ft.advance(1199*time.Millisecond))
	expect(t, ft.advance(time.Millisecond),
		"gap AAPL 2..3 missing 2 by seq", "ticks AAPL 4,5")
	ft.sent(1) // too late: given up
	expect(t, ft.reply(1, 7, schema.Reply{Status: schema.ReplyOK, To: 3}, [2]uint64{2, 3}))
	if ft.f.recoveryLate.get() != 1 {
		t.Fatalf("late replies %d, want 1", ft.f.recoveryLate.get())
	}

	ft2 := newRecoveryTest(t)
	b := ft2.line("B")
	ft2.batch(b, 7, "AAPL", 1)
	ft2.batch(b, 7, "AAPL", 3)
	ft2.requests()
	ft2.now = ft2.now.Add(1200 * time.Millisecond)
	ft2.f.timeout(ft2.now)
	expect(t, ft2.details(), "gap AAPL 2..2 missing 1 by seq: recovery queue: not sent within 1.2s", "ticks AAPL 3")
}

// Once sent, a request has the whole timeout from its send, however long
// it was queued, and no more.
func TestASentRequestTimesOutAfterTheTimeoutFromItsSend(t *testing.T) {
	ft := newRecoveryTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 3)
	expect(t, ft.requests(), "AAPL 2-2 #1")
	expect(t, ft.advance(time.Second)) // queued for 1s
	ft.sent(1)
	if d := ft.f.deadline(); !d.Equal(ft.now.Add(300 * time.Millisecond)) {
		t.Fatalf("deadline in %v, want the timeout from the send", d.Sub(ft.now))
	}
	expect(t, ft.advance(299*time.Millisecond)) // past the queue's bound: sent, that no longer applies
	expect(t, ft.details())
	ft.now = ft.now.Add(time.Millisecond)
	ft.f.timeout(ft.now)
	expect(t, ft.details(), "gap AAPL 2..2 missing 1 by seq: recovery: no answer within 300ms", "ticks AAPL 3")
}

// newTwoServicesTest is a recoveryTest whose feed has two services to ask.
func newTwoServicesTest(t *testing.T) *feedTest {
	ft := newFeedTest(t, time.Hour, "")
	ft.f.enableRecovery(recoveryConfig{timeout: 300 * time.Millisecond, endpoint: "tcp://a:1",
		services: []string{"tcp://a:1", "tcp://b:1", "tcp://c:1"}})
	return ft
}

// A request that fails on the first service (an error, no answer, or not
// sent in time) is tried once on the next, as a new attempt with its own
// queue bound and timeout; the answer to the first attempt, if it comes
// after all, is late. A third service is never asked. The gap, if the
// second attempt fails too, says why each failed.
func TestAFailedRequestIsTriedOnceOnTheNextServiceWithItsOwnTimeout(t *testing.T) {
	ft := newTwoServicesTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 3)
	expect(t, ft.requests(), "AAPL 2-2 #1 @tcp://a:1")
	ft.sent(1)
	expect(t, ft.advance(300*time.Millisecond)) // no answer from a: b is asked
	expect(t, ft.requests(), "AAPL 2-2 #2 @tcp://b:1")
	expect(t, ft.advance(100*time.Millisecond))
	ft.sent(2)
	expect(t, ft.advance(299*time.Millisecond))
	expect(t, ft.reply(1, 7, schema.Reply{Status: schema.ReplyOK, To: 2}, [2]uint64{2, 2})) // a's, late
	expect(t, ft.reply(2, 7, schema.Reply{Status: schema.ReplyOK, To: 2}, [2]uint64{2, 2}),
		"recovered tcp://a:1", "ticks AAPL 2", "ticks AAPL 3")
	if ft.f.recoveryLate.get() != 1 {
		t.Fatalf("late replies %d, want a's", ft.f.recoveryLate.get())
	}

	// Both fail: a at once, b unanswered.
	ft.batch(a, 7, "AAPL", 5)
	expect(t, ft.requests(), "AAPL 4-4 #3 @tcp://a:1")
	ft.f.recoveryError(3, fmt.Errorf("tcp://a:1: connection refused"), ft.now)
	expect(t, ft.details())
	expect(t, ft.requests(), "AAPL 4-4 #4 @tcp://b:1")
	ft.sent(4)
	expect(t, ft.advance(299*time.Millisecond))
	ft.now = ft.now.Add(time.Millisecond)
	ft.f.timeout(ft.now)
	expect(t, ft.details(), "gap AAPL 4..4 missing 1 by seq: recovery: tcp://a:1: connection refused; recovery: tcp://b:1: no answer within 300ms", "ticks AAPL 5")
	expect(t, ft.requests())

	// Neither sends it in time.
	ft.batch(a, 7, "AAPL", 7)
	expect(t, ft.requests(), "AAPL 6-6 #5 @tcp://a:1")
	expect(t, ft.advance(1200*time.Millisecond))
	expect(t, ft.requests(), "AAPL 6-6 #6 @tcp://b:1")
	ft.now = ft.now.Add(1200 * time.Millisecond)
	ft.f.timeout(ft.now)
	expect(t, ft.details(), "gap AAPL 6..6 missing 1 by seq: recovery queue: tcp://a:1: not sent within 1.2s; recovery queue: tcp://b:1: not sent within 1.2s", "ticks AAPL 7")
}

// A snapshot request is bounded the same way: it waits unsent up to the
// queue's bound, then has the timeout from its send; it too is tried on
// the next service once.
func TestASnapshotRequestHasTheSameBounds(t *testing.T) {
	ft := newSnapshotTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 10, 11)
	expect(t, ft.snapshotRequests(), `snapshot "" #1`)
	expect(t, ft.advance(1199*time.Millisecond))
	expect(t, ft.advance(time.Millisecond), "no snapshot: snapshot queue: not sent within 1.2s", "ticks AAPL 10,11")

	ft2 := newTwoServicesTest(t)
	ft2.f.snapshots = true
	b := ft2.line("B")
	ft2.batch(b, 7, "AAPL", 10, 11)
	expect(t, ft2.snapshotRequests(), `snapshot "" #1`)
	ft2.sent(1)
	expect(t, ft2.advance(300*time.Millisecond))
	expect(t, ft2.snapshotRequests(), `snapshot "" #2`)
	expect(t, ft2.snapshot(2, 7, schema.ReplyOK, "AAPL", 10), "snapshot AAPL 10", "ticks AAPL 11")
}

// fakeService plays a recovery service for a Subscriber: each of its
// connections (conn) answers a replay with every tick asked for, after
// holding the request until the test releases it (hold), or after a delay.
// It counts the requests in progress at once.
type fakeService struct {
	endpoint string
	hold     chan struct{} // one receive releases one request (nil: answer after delay)
	delay    time.Duration
	fail     error // every request fails with it, at once

	mu             sync.Mutex
	inFlight, most int
	asked          []string    // "topic from-to", in the order requests came
	byConn         map[int]int // requests per connection
}

// fakeConn is a connection to a fakeService: a port.Requester.
type fakeConn struct {
	svc *fakeService
	n   int
}

func (s *fakeService) conns(n int) []port.Requester {
	var out []port.Requester
	for i := range n {
		out = append(out, fakeConn{s, i})
	}
	return out
}

// used returns how many requests each connection carried, by its index.
func (s *fakeService) used() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.byConn)
}

func (s *fakeService) stats() (inFlight, most int, asked []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight, s.most, slices.Clone(s.asked)
}

func (c fakeConn) Endpoint() string { return c.svc.endpoint }
func (c fakeConn) Close() error     { return nil }

func (c fakeConn) Request(ctx context.Context, req ...[]byte) ([][]byte, error) {
	s := c.svc
	var m schema.Message
	if err := m.Decode(req[0]); err != nil || m.Type != schema.RecoveryRequest || m.Request.Kind != schema.ReplayRequest {
		return nil, fmt.Errorf("not a replay request: %v", err)
	}
	q := m.Request
	s.mu.Lock()
	s.asked = append(s.asked, fmt.Sprintf("%s %d-%d", q.Topic, q.From, q.To))
	if s.byConn == nil {
		s.byConn = map[int]int{}
	}
	s.byConn[c.n]++
	s.inFlight++
	s.most = max(s.most, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if s.fail != nil {
		return nil, s.fail
	}
	wait := s.hold
	if wait == nil {
		t := time.NewTimer(s.delay)
		defer t.Stop()
		wait = make(chan struct{})
		go func() {
			select {
			case <-t.C:
				close(wait)
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	enc := schema.NewEncoder(0)
	var ticks []schema.Tick
	for seq := q.From; seq <= q.To; seq++ {
		ticks = append(ticks, schema.Tick{Seq: seq})
	}
	body := slices.Clone(enc.Encode(schema.Header{Type: schema.Batch, Session: q.Session}, ticks))
	reply := slices.Clone(enc.EncodeReply(&schema.Reply{Status: schema.ReplyOK, ID: q.ID, Session: q.Session,
		Topic: q.Topic, From: q.From, To: q.To, Count: 1}))
	return [][]byte{reply, slices.Clone(q.Topic), body}, nil
}

// holes gives each topic a hole (tick 2 lost) on src.
func holes(src *chanSource, topics ...string) {
	enc := schema.NewEncoder(0)
	for _, tp := range topics {
		src.push(enc, 7, tp, 1)
		src.push(enc, 7, tp, 3)
	}
}

// collect reads s's events in a goroutine of its own, until s closes, and
// hands over the recoveries and gaps.
func collect(s *Subscriber) <-chan Event {
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		for {
			ev, err := s.Next(context.Background())
			if err != nil {
				return
			}
			if ev.Kind == EventRecovered || ev.Kind == EventGap {
				out <- ev.Clone()
			}
		}
	}()
	return out
}

// With N connections to a service, N requests are in flight at once: the
// others wait for a free connection. Close ends the requests in progress.
func TestNConnectionsCarryNRequestsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newChanSource("a")
		svc := &fakeService{endpoint: "tcp://svc:1", hold: make(chan struct{})}
		s, err := New(context.Background(), WithSource(src), WithRecovery(svc.conns(3)...))
		if err != nil {
			t.Fatal(err)
		}
		events := collect(s)
		holes(src, "A", "B", "C", "D", "E")
		synctest.Wait() // every connection is busy; Next waits
		if inFlight, _, asked := svc.stats(); inFlight != 3 || len(asked) != 3 {
			t.Fatalf("%d requests in flight, %d asked, want 3 and 3 (one per connection)", inFlight, len(asked))
		}
		for range 5 {
			svc.hold <- struct{}{}
		}
		for range 5 {
			if ev := <-events; ev.Kind != EventRecovered {
				t.Fatalf("%v %s: %s, want it recovered", ev.Kind, ev.Topic, ev.Detail)
			}
		}
		if _, most, asked := svc.stats(); most != 3 || len(asked) != 5 {
			t.Fatalf("at most %d in flight, %d asked, want 3 and 5", most, len(asked))
		}

		holes(src, "F") // held by the service when Close comes
		synctest.Wait()
		if inFlight, _, _ := svc.stats(); inFlight != 1 {
			t.Fatalf("%d in flight, want 1", inFlight)
		}
		s.Close()
		if inFlight, _, _ := svc.stats(); inFlight != 0 {
			t.Fatalf("%d in flight after Close, want none", inFlight)
		}
		for range events { // ends when Next sees the subscriber closed
		}
	})
}

// The regression the send-time timeout fixes: over one connection, topics
// whose requests wait behind others' for longer than the timeout are
// recovered all the same, each request answered within the timeout of its
// own send.
func TestRequestsQueuedLongerThanTheTimeoutAreRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newChanSource("a")
		svc := &fakeService{endpoint: "tcp://svc:1", delay: 400 * time.Millisecond}
		s, err := New(context.Background(), WithSource(src), WithRecovery(svc.conns(1)...),
			WithRecoveryTimeout(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		events := collect(s)
		start := time.Now()
		holes(src, "A", "B", "C", "D")
		for range 4 {
			if ev := <-events; ev.Kind != EventRecovered {
				t.Fatalf("%v %s: %s, want it recovered", ev.Kind, ev.Topic, ev.Detail)
			}
		}
		if took := time.Since(start); took != 1600*time.Millisecond {
			t.Fatalf("recovered in %v, want 4 requests of 400ms one after another", took)
		}
	})
}

// A request that fails on the first service is tried once on a connection
// of the next.
func TestARequestThatFailsIsTriedOnAConnectionOfTheNextService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newChanSource("a")
		down := &fakeService{endpoint: "tcp://down:1", fail: errors.New("connection refused")}
		up := &fakeService{endpoint: "tcp://up:1", delay: time.Millisecond}
		s, err := New(context.Background(), WithSource(src),
			WithRecovery(append(down.conns(2), up.conns(2)...)...))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		events := collect(s)
		holes(src, "A", "B")
		for range 2 {
			if ev := <-events; ev.Kind != EventRecovered || ev.Line != "tcp://down:1" {
				t.Fatalf("%v %s on %s: %s, want it recovered (named after the first service)", ev.Kind, ev.Topic, ev.Line, ev.Detail)
			}
		}
		_, _, downAsked := down.stats()
		_, _, upAsked := up.stats()
		slices.Sort(downAsked)
		slices.Sort(upAsked)
		want := []string{"A 2-2", "B 2-2"}
		if !slices.Equal(downAsked, want) || !slices.Equal(upAsked, want) {
			t.Fatalf("asked %q of the first service and %q of the next, want %q of each", downAsked, upAsked, want)
		}
	})
}

// Holes that come one at a time are asked for on the first connection
// alone: the others open only for a burst, so that a subscriber holds one
// of the service's (bounded) connections, not all it may use.
func TestHolesOneAtATimeUseOneConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newChanSource("a")
		svc := &fakeService{endpoint: "tcp://svc:1", delay: time.Millisecond}
		s, err := New(context.Background(), WithSource(src), WithRecovery(svc.conns(4)...))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		events := collect(s)
		for _, topic := range []string{"A", "B", "C", "D", "E", "F"} {
			holes(src, topic)
			if ev := <-events; ev.Kind != EventRecovered {
				t.Fatalf("%v %s: %s, want it recovered", ev.Kind, ev.Topic, ev.Detail)
			}
		}
		if used := svc.used(); !maps.Equal(used, map[int]int{0: 6}) {
			t.Fatalf("requests per connection %v, want all 6 on the first", used)
		}
	})
}

// After a wide outage, a service that keeps answering keeps its queue
// waiting: a hundred topics' holes, four connections, answers in 20ms
// against a 50ms timeout (the last topics wait half a second, 10 timeouts,
// where 4 without an answer would give them up), are all recovered; none
// is given up unsent while the service works.
func TestAServiceThatKeepsAnsweringKeepsItsQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newChanSource("a")
		svc := &fakeService{endpoint: "tcp://svc:1", delay: 20 * time.Millisecond}
		s, err := New(context.Background(), WithSource(src), WithRecovery(svc.conns(4)...),
			WithRecoveryTimeout(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		events := collect(s)
		var topics []string
		for i := range 100 {
			topics = append(topics, fmt.Sprintf("T%03d", i))
		}
		holes(src, topics...)
		for range topics {
			if ev := <-events; ev.Kind != EventRecovered {
				t.Fatalf("%v %s: %s, want it recovered", ev.Kind, ev.Topic, ev.Detail)
			}
		}
	})
}

// A service that stops answering does not hold its queue for ever: each
// request sent fails after the timeout, and those still waiting behind them
// are given up once the service has answered nothing for 4 timeouts, with
// the reason.
func TestAStuckServiceGivesItsQueueUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newChanSource("a")
		svc := &fakeService{endpoint: "tcp://svc:1", hold: make(chan struct{})} // never answers
		s, err := New(context.Background(), WithSource(src), WithRecovery(svc.conns(1)...),
			WithRecoveryTimeout(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		events := collect(s)
		start := time.Now()
		topics := []string{"A", "B", "C", "D", "E", "F"}
		holes(src, topics...)
		why := map[string]int{}
		for range topics {
			ev := <-events
			if ev.Kind != EventGap {
				t.Fatalf("%v %s, want a gap", ev.Kind, ev.Topic)
			}
			why[ev.Detail]++
		}
		// One connection, each request holding it 110ms (the timeout and
		// a tenth): four are sent within the 400ms the others may wait.
		want := map[string]int{"recovery: no answer within 100ms": 4, "recovery queue: not sent within 400ms": 2}
		if !maps.Equal(why, want) {
			t.Fatalf("gaps %v, want %v", why, want)
		}
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Fatalf("the queue was given up after %v", took)
		}
	})
}

// The ticks held behind holes are bounded across topics, not only per
// topic: past the total (counted every heldCheckEvery ticks a topic adds),
// the topic adding them gives its recovery up, its hole reported with the
// reason and its held ticks delivered; other topics keep theirs.
func TestHeldTicksAreBoundedAcrossTopics(t *testing.T) {
	ft := newRecoveryTest(t)
	ft.f.maxHeld = 3 * heldCheckEvery
	a := ft.line("A")
	batch := func(topic string, from, n uint64) []string { // its events, gaps with their Detail
		var ticks []schema.Tick
		for s := from; s < from+n; s++ {
			ticks = append(ticks, schema.Tick{Seq: s})
		}
		ft.seq++
		body := ft.enc.Encode(schema.Header{Type: schema.Batch, Session: 7, StreamSeq: ft.seq}, ticks)
		ft.f.message(a, &Raw{Topic: []byte(topic), Body: body, Frames: 2, Size: len(topic) + len(body)}, ft.now)
		return ft.details()
	}
	batch("AAPL", 1, 1)
	batch("MSFT", 1, 1)
	batch("AAPL", 3, 1) // both topics lose 2, and ask for it
	batch("MSFT", 3, 1)
	expect(t, ft.requests(), "AAPL 2-2 #1", "MSFT 2-2 #2")
	// MSFT holds 1+1,024 ticks behind its hole, AAPL 1+1,023: under the
	// bound of 3,072 in all. AAPL's next 1,024 take it over.
	expect(t, batch("MSFT", 4, heldCheckEvery))
	expect(t, batch("AAPL", 4, heldCheckEvery-1))
	got := batch("AAPL", 4+heldCheckEvery-1, heldCheckEvery)
	if len(got) == 0 || got[0] != "gap AAPL 2..2 missing 1 by seq: recovery: over 3072 ticks held behind holes across topics" {
		t.Fatalf("events %.200q", got)
	}
	if ft.f.recoveringTopic(1) != nil || ft.f.recoveringTopic(2) == nil {
		t.Error("want AAPL's recovery given up, MSFT's going on")
	}
}

// A partial reply is continued on the service that gave it, not on one
// that failed before.
func TestAPartialReplyIsContinuedOnTheServiceThatGaveIt(t *testing.T) {
	ft := newTwoServicesTest(t)
	a := ft.line("A")
	ft.batch(a, 7, "AAPL", 1)
	ft.batch(a, 7, "AAPL", 10)
	expect(t, ft.requests(), "AAPL 2-9 #1 @tcp://a:1")
	ft.f.recoveryError(1, errors.New("connection refused"), ft.now)
	expect(t, ft.requests(), "AAPL 2-9 #2 @tcp://b:1")
	ft.sent(2)
	expect(t, ft.reply(2, 7, schema.Reply{Status: schema.ReplyPartial, To: 5}, [2]uint64{2, 5}),
		"recovered tcp://a:1", "ticks AAPL 2,3,4,5")
	expect(t, ft.requests(), "AAPL 6-9 #3 @tcp://b:1")
}

// The ticks held waiting for a snapshot are bounded across topics too:
// past the bound the snapshot is given up (an EventSnapshot without a
// topic, saying why), and the topics start at the ticks they hold.
func TestTicksHeldForASnapshotAreBoundedAcrossTopics(t *testing.T) {
	ft := newSnapshotTest(t)
	ft.f.maxHeld = 4
	a := ft.line("A")
	expect(t, ft.batch(a, 7, "AAPL", 10, 11), "session 7")
	expect(t, ft.snapshotRequests(), `snapshot "" #1`)
	expect(t, ft.batch(a, 7, "MSFT", 5, 6))
	expect(t, ft.batch(a, 7, "GOOG", 3),
		"no snapshot: snapshot: over 4 ticks held waiting for it across topics",
		"ticks AAPL 10,11", "ticks MSFT 5,6", "ticks GOOG 3")
}

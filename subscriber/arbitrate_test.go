package subscriber

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// Two lines, A and B, carrying one session (7): the exchange-style A/B feed.

func TestLossOnOneLineIsFilledByTheOther(t *testing.T) {
	ft := newFeedTest(t, time.Hour, "")
	a, b := ft.line("A"), ft.line("B")
	expect(t, ft.batch(a, 7, "X", 1, 2, 3), "session 7", "ticks X 1,2,3")
	// A lost 4. Its 5 and 6 wait: B may still bring 4.
	expect(t, ft.batch(a, 7, "X", 5, 6))
	expect(t, ft.batch(b, 7, "X", 1, 2, 3))
	// B brings 4: delivered, then A's 5 and 6 behind it. No gap.
	expect(t, ft.batch(b, 7, "X", 4, 5), "ticks X 4", "ticks X 5,6")
	expect(t, ft.batch(b, 7, "X", 6, 7), "ticks X 7")
	sa, sb := a.stats.snapshot("A"), b.stats.snapshot("B")
	if sa.Gaps != 1 || sa.Missing != 1 || sb.Gaps != 0 {
		t.Fatalf("per-line loss: A %d/%d, B %d/%d; want A 1/1, B 0/0", sa.Gaps, sa.Missing, sb.Gaps, sb.Missing)
	}
	if sa.Ticks != 5 || sb.Ticks != 2 || sa.Ticks+sb.Ticks != ft.f.ticksOut.get() {
		t.Fatalf("delivered first: A %d, B %d, feed %d; want 5, 2, 7", sa.Ticks, sb.Ticks, ft.f.ticksOut.get())
	}
	if ft.f.gaps.get() != 0 || len(ft.f.waiting) != 0 {
		t.Fatalf("feed gaps %d, waiting %d", ft.f.gaps.get(), len(ft.f.waiting))
	}
}

func TestLossOnEveryLineIsOneGap(t *testing.T) {
	ft := newFeedTest(t, time.Hour, "")
	a, b := ft.line("A"), ft.line("B")
	ft.batch(a, 7, "X", 1, 2)
	ft.batch(b, 7, "X", 1, 2)
	expect(t, ft.batch(a, 7, "X", 5, 6)) // A lost 3, 4: wait for B
	// B lost 3 too, but has 4: one gap for 3, then B's 4 and A's 5, 6.
	expect(t, ft.batch(b, 7, "X", 4, 5, 6), "gap X 3..3 missing 1 by seq", "ticks X 4", "ticks X 5,6")
	ft2 := newFeedTest(t, time.Hour, "")
	a, b = ft2.line("A"), ft2.line("B")
	ft2.batch(a, 7, "X", 1, 2)
	ft2.batch(b, 7, "X", 1, 2)
	expect(t, ft2.batch(a, 7, "X", 5))
	expect(t, ft2.batch(b, 7, "X", 5, 6), "gap X 3..4 missing 2 by seq", "ticks X 5", "ticks X 6")
	if ft2.f.gaps.get() != 1 || ft2.f.missing.get() != 2 {
		t.Fatalf("feed gaps %d missing %d, want 1 and 2", ft2.f.gaps.get(), ft2.f.missing.get())
	}
}

func TestArbitrationWindowBoundsTheWait(t *testing.T) {
	ft := newFeedTest(t, time.Hour, "")
	a, b := ft.line("A"), ft.line("B")
	ft.batch(a, 7, "X", 1)
	ft.batch(b, 7, "X", 1)
	expect(t, ft.batch(a, 7, "X", 3, 4))
	if d := ft.f.deadline(); !d.Equal(ft.now.Add(DefaultArbitration)) {
		t.Fatalf("deadline in %v, want the arbitration window", d.Sub(ft.now))
	}
	// B lags past the window: the hole is reported, A's ticks delivered.
	expect(t, ft.advance(DefaultArbitration-time.Millisecond))
	expect(t, ft.advance(time.Millisecond), "gap X 2..2 missing 1 by seq", "ticks X 3,4")
	// B's late copy of 2 is old news now.
	expect(t, ft.batch(b, 7, "X", 2, 3, 4, 5), "ticks X 5")
}

func TestALineThatIsDownOrStaleFillsNothing(t *testing.T) {
	ft := newFeedTest(t, 100*time.Millisecond, "")
	a, b := ft.line("A"), ft.line("B")
	ft.batch(a, 7, "X", 1)
	ft.batch(b, 7, "X", 1)
	expect(t, ft.batch(a, 7, "X", 3))
	ft.f.lineEvent(b, LineEvent{Kind: LineDown, Detail: "EOF"}, ft.now)
	expect(t, ft.drain(), "line-down B", "gap X 2..2 missing 1 by seq", "ticks X 3")

	ft.f.lineEvent(b, LineEvent{Kind: LineUp}, ft.now)
	ft.drain()
	ft.advance(60 * time.Millisecond)
	ft.batch(a, 7, "X", 4)                     // A is heard, B is not
	expect(t, ft.batch(a, 7, "X", 6))          // wait for B ...
	expect(t, ft.advance(40*time.Millisecond), // ... until B goes stale
		"stale B", "gap X 5..5 missing 1 by seq", "ticks X 6")
}

func TestTailLossOnOneLineIsFilledByTheOther(t *testing.T) {
	ft := newFeedTest(t, time.Hour, "")
	a, b := ft.line("A"), ft.line("B")
	ft.batch(a, 7, "X", 1, 2)
	// A lost 3 and went quiet; its topic heartbeat says the topic is at 3.
	expect(t, ft.topicHeartbeat(a, 7, "X", 3))
	// B has it: no gap.
	expect(t, ft.batch(b, 7, "X", 1, 2, 3), "ticks X 3")
	expect(t, ft.topicHeartbeat(b, 7, "X", 3))
	if ft.f.gaps.get() != 0 || a.stats.missing.get() != 1 || b.stats.missing.get() != 0 {
		t.Fatalf("feed gaps %d; A missing %d, B missing %d", ft.f.gaps.get(), a.stats.missing.get(), b.stats.missing.get())
	}
	// Both lose the tail: the second heartbeat settles it.
	ft.batch(a, 7, "X", 4)
	ft.batch(b, 7, "X", 4)
	expect(t, ft.topicHeartbeat(a, 7, "X", 6))
	expect(t, ft.topicHeartbeat(b, 7, "X", 6), "gap X 5..6 missing 2 by hb")
}

func TestLinesOfDifferentSessionsAreIndependentFeeds(t *testing.T) {
	ft := newFeedTest(t, time.Hour, "")
	a, b := ft.line("A"), ft.line("B")
	ft.batch(a, 7, "X", 1)
	ft.batch(b, 8, "X", 1)
	// A's hole has no other line in session 7: reported at once.
	expect(t, ft.batch(a, 7, "X", 3), "gap X 2..2 missing 1 by seq", "ticks X 3")
	expect(t, ft.batch(b, 8, "X", 2), "ticks X 2")
}

func TestHeldTicksKeepTheirOrigin(t *testing.T) {
	ft := newFeedTest(t, time.Hour, "")
	a, b := ft.line("A"), ft.line("B")
	ft.batch(a, 7, "X", 1)
	ft.batch(b, 7, "X", 1)
	ft.batch(a, 7, "X", 3) // A lost 2: its 3 is held
	ft.seq++
	ft.f.message(b, rawBatch(ft, 7, "X", 2, 3, 4), ft.now)
	var got []string
	for ft.f.pending() {
		ev := ft.f.pop()
		got = append(got, fmt.Sprintf("%s:%d", ev.Line, ev.Ticks[0].Seq))
	}
	// B's 2 fills the hole, A's held 3 (first to arrive) follows, then B's 4.
	if !slices.Equal(got, []string{"B:2", "A:3", "B:4"}) {
		t.Fatalf("events %v, want B:2 A:3 B:4", got)
	}
}

func TestTheSessionEndsWhenEveryLineHasEnded(t *testing.T) {
	ft := newFeedTest(t, time.Hour, "")
	a, b := ft.line("A"), ft.line("B")
	ft.batch(a, 7, "X", 1)
	ft.batch(b, 7, "X", 1)
	expect(t, ft.batch(a, 7, "X", 3)) // A lost 2
	// A has finished; B, behind, still has 2 and 3 to bring.
	expect(t, ft.control(a, schema.EndOfSession, 7, 0))
	expect(t, ft.batch(b, 7, "X", 2, 3), "ticks X 2", "ticks X 3")
	expect(t, ft.control(b, schema.EndOfSession, 7, 0), "end 7")

	// A line that is down does not hold the end back.
	ft2 := newFeedTest(t, time.Hour, "")
	a, b = ft2.line("A"), ft2.line("B")
	ft2.batch(a, 7, "X", 1)
	ft2.batch(b, 7, "X", 1)
	expect(t, ft2.control(a, schema.EndOfSession, 7, 0))
	ft2.f.lineEvent(b, LineEvent{Kind: LineDown}, ft2.now)
	expect(t, ft2.drain(), "line-down B", "end 7")
}

func TestALineNotYetHeardHoldsTheEndBack(t *testing.T) {
	ft := newFeedTest(t, time.Hour, "")
	a, _ := ft.line("A"), ft.line("B") // B has not heard anything yet
	ft.batch(a, 7, "X", 1)
	expect(t, ft.batch(a, 7, "X", 3))                   // B may bring 2
	expect(t, ft.control(a, schema.EndOfSession, 7, 0)) // B may still speak
	// B never does: once it is stale, the hole is a gap, then the end.
	ft.f.staleAfter = time.Minute
	expect(t, ft.advance(time.Minute), "stale B", "gap X 2..2 missing 1 by seq", "ticks X 3", "end 7")
}

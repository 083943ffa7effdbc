package main

import (
	"context"
	"errors"
	"time"

	"github.com/tickcast/tickcast/internal/market"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
)

// The simulator's overload policy. A paced simulator that falls behind its
// schedule (the publisher's queue is full, or the process was descheduled)
// publishes late within maxLate, and skips the ticks that fell due earlier
// than that: they are never generated, take no sequence number (so
// subscribers see no gap for them) and are counted in simStats.Skipped.
// One step generates at most maxStep ticks whatever the rate, so memory
// stays bounded, and every step checks the stop conditions.
const (
	maxLate = 50 * time.Millisecond
	maxStep = 1 << 16
	// fullWait is how long the simulator waits when the publisher's queue
	// is full before offering its ticks again.
	fullWait = 200 * time.Microsecond
)

// simStats are what the simulator did. Each tick that fell due is counted
// once: published, or skipped.
type simStats struct {
	Published int64 // ticks the publisher accepted
	Skipped   int64 // ticks that fell due while the simulator was behind by more than maxLate
	QueueFull int64 // times the publisher's queue was full (the simulator waited)
}

// simulate publishes the simulated market until ctx is done or the count
// or duration is reached, whichever comes first; it checks them at every
// step, however loaded the machine. With a rate, tick i is due at start +
// i/rate; the loop sleeps between steps and publishes what fell due, so
// ticks leave in bursts as fine as the timer allows. A tick's event time is
// when it was generated, so a subscriber's latency is the feed's, publisher
// to subscriber. (tickcast bench measures from the intended times instead.)
// Without a rate, it publishes as fast as the publisher takes ticks,
// waiting while its queue is full.
func (c *pubConfig) simulate(ctx context.Context, pub *publisher.Publisher) simStats {
	mkt := market.New(c.symbols, c.seed)
	topics := make([]*publisher.Topic, c.symbols)
	for i := range topics {
		topics[i] = pub.Topic(mkt.Instruments[i].Symbol)
	}
	// Each step's ticks are grouped by topic and published together, as a
	// feed handler publishes the updates of one exchange packet: one lock
	// per topic per step rather than one per tick.
	pending := make([][]schema.Tick, c.symbols)
	var busy []int       // topics with pending ticks, in order of their first
	var queued int64     // pending ticks
	var oldest time.Time // when the oldest pending tick was generated
	var st simStats
	var sched int64 // ticks handled so far in the schedule: generated or skipped
	lateTicks := int64(1 << 62)
	if c.rate > 0 {
		lateTicks = max(int64(c.rate*maxLate.Seconds()), 1)
	}
	start := time.Now()
	var deadline time.Time
	if c.duration > 0 {
		deadline = start.Add(c.duration)
	}
	done := func(now time.Time) bool {
		return ctx.Err() != nil || (c.count > 0 && st.Published >= c.count) ||
			(!deadline.IsZero() && !now.Before(deadline))
	}
	for now := start; !done(now); now = time.Now() {
		// What is due: by the clock with a rate, a step's worth without.
		due := sched + maxStep
		if c.rate > 0 {
			due = int64(float64(now.Sub(start)) * c.rate / 1e9)
			if late := due - sched; late > lateTicks {
				st.Skipped += late - lateTicks
				sched = due - lateTicks
			}
		}
		if c.rate > 0 && queued > 0 && now.Sub(oldest) > maxLate {
			// The queue has been full for longer than a tick may be late:
			// what waits for it is skipped too (it has no sequence number).
			st.Skipped += queued
			queued = 0
			for _, i := range busy {
				pending[i] = pending[i][:0]
			}
			busy = busy[:0]
		}
		due = min(due, sched+maxStep-queued)
		if c.count > 0 {
			due = min(due, sched+c.count-st.Published-queued)
		}
		if queued == 0 && sched < due {
			oldest = now
		}
		for ; sched < due; sched++ {
			i, tick := mkt.Next(now.UnixNano())
			if len(pending[i]) == 0 {
				busy = append(busy, i)
			}
			pending[i] = append(pending[i], tick)
			queued++
		}
		// Offer everything pending; what the queue cannot take waits.
		full := false
		kept := busy[:0]
		for _, i := range busy {
			n, err := topics[i].PublishBatch(pending[i])
			st.Published += int64(n)
			queued -= int64(n)
			if err != nil && !errors.Is(err, publisher.ErrQueueFull) {
				return st // closed
			}
			if rest := len(pending[i]) - n; rest > 0 {
				pending[i] = pending[i][:copy(pending[i], pending[i][n:])]
				kept = append(kept, i)
				full = true
			} else {
				pending[i] = pending[i][:0]
			}
		}
		busy = kept
		if full {
			st.QueueFull++
			sleepUntil(ctx, time.Now().Add(fullWait), deadline)
			continue
		}
		if c.rate > 0 {
			next := start.Add(time.Duration(float64(sched+1) * 1e9 / c.rate))
			if time.Until(next) > 0 {
				sleepUntil(ctx, next, deadline)
			}
		}
	}
	// With a rate, ticks that fell due but were never accepted were never
	// sequenced either: they are skipped too. (Without one, nothing falls
	// due: what was generated but not taken is no shortfall.)
	if c.rate > 0 {
		st.Skipped += queued
	}
	return st
}

// sleepUntil sleeps until t, or the deadline (if not zero) if that comes
// first, or until ctx is done.
func sleepUntil(ctx context.Context, t, deadline time.Time) {
	if !deadline.IsZero() && deadline.Before(t) {
		t = deadline
	}
	sleep(ctx, time.Until(t))
}

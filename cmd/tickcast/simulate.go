package main

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/tickcast/tickcast/market"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/schema"
)

// simulate publishes the simulated market until ctx is done or the count
// or duration is reached. With a rate, tick i is due at start + i/rate; the
// loop sleeps between steps and publishes what fell due, so ticks leave in
// bursts as fine as the timer allows. A tick's event time is when it was
// generated, so a subscriber's latency is the feed's, publisher to
// subscriber. (tickcast bench measures from the intended times instead.)
func (c *pubConfig) simulate(ctx context.Context, pub *publisher.Publisher) error {
	mkt := market.New(c.symbols, c.seed)
	topics := make([]*publisher.Topic, c.symbols)
	for i := range topics {
		topics[i] = pub.Topic(mkt.Instruments[i].Symbol)
	}
	// Each step's ticks are grouped by topic and published together, as a
	// feed handler publishes the updates of one exchange packet: one lock
	// per topic per step rather than one per tick.
	pending := make([][]schema.Tick, c.symbols)
	var busy []int // topics with pending ticks
	start := time.Now()
	var sent int64
	done := func() bool {
		return ctx.Err() != nil || (c.count > 0 && sent >= c.count) ||
			(c.duration > 0 && time.Since(start) >= c.duration)
	}
	for !done() {
		now := time.Now()
		due := sent + 1024
		if c.rate > 0 {
			due = int64(float64(now.Sub(start)) * c.rate / 1e9)
		}
		if c.count > 0 {
			due = min(due, c.count)
		}
		for ; sent < due; sent++ {
			i, tick := mkt.Next(now.UnixNano())
			if len(pending[i]) == 0 {
				busy = append(busy, i)
			}
			pending[i] = append(pending[i], tick)
		}
		for _, i := range busy {
			err := topics[i].PublishBatch(pending[i])
			for errors.Is(err, publisher.ErrQueueFull) {
				// The sender is behind: let it run, then try again.
				runtime.Gosched()
				if ctx.Err() != nil {
					return nil
				}
				err = topics[i].PublishBatch(pending[i])
			}
			if err != nil {
				return err
			}
			pending[i] = pending[i][:0]
		}
		busy = busy[:0]
		if c.rate > 0 {
			next := start.Add(time.Duration(float64(sent+1) * 1e9 / c.rate))
			if wait := time.Until(next); wait > 0 {
				sleep(ctx, wait)
			}
		}
	}
	return nil
}

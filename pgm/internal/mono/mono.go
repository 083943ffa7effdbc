// Package mono gives the sans-IO PGM state machines a monotonic clock made
// from the wall-clock times their callers pass in.
package mono

import "time"

// Clock turns the caller's times into nanoseconds since the first one,
// which are cheaper to store and compare per packet and per window slot
// than time.Time. It never goes backwards: a time earlier than one already
// seen is taken as the latest one seen, so a stepped or skewed caller
// clock cannot make a timer fire twice or a deadline move back.
type Clock struct {
	epoch time.Time
	last  int64
}

// New returns a Clock whose zero is epoch.
func New(epoch time.Time) Clock { return Clock{epoch: epoch} }

// At advances the clock to now, if now is later, and returns the clock's
// reading in nanoseconds since the epoch.
func (c *Clock) At(now time.Time) int64 {
	if d := int64(now.Sub(c.epoch)); d > c.last {
		c.last = d
	}
	return c.last
}

// Last is the latest reading, in nanoseconds since the epoch.
func (c *Clock) Last() int64 { return c.last }

// Time turns a reading back into a time.Time.
func (c *Clock) Time(ns int64) time.Time { return c.epoch.Add(time.Duration(ns)) }

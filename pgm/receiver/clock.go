package receiver

import "time"

// never is a time no timer reaches.
const never = 1<<63 - 1

// clock turns the caller's wall-clock times into nanoseconds since the
// first one, which is cheaper to store and compare per slot. It never goes
// backwards: an earlier now is taken as the latest one seen.
type clock struct {
	epoch time.Time
	last  int64
}

func (c *clock) at(now time.Time) int64 {
	if d := int64(now.Sub(c.epoch)); d > c.last {
		c.last = d
	}
	return c.last
}

func (c *clock) time(ns int64) time.Time { return c.epoch.Add(time.Duration(ns)) }

package bench

import (
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// PaceMode says how a paced publisher waits for a tick's intended send time.
type PaceMode string

// Pace modes. Go's timers wake on the netpoller, whose timeout is in
// milliseconds: a time.Sleep of 10µs sleeps about 1ms. A pacer that slept
// between ticks would send late and, since every tick carries its intended
// time, charge its own lateness to the transport. So the pacer watches the
// clock on a dedicated, locked goroutine.
const (
	// PaceSpin reads the clock in a tight loop: the most precise; it costs
	// a whole core for the length of the run.
	PaceSpin PaceMode = "spin"
	// PaceYield yields the processor (runtime.Gosched) between clock reads,
	// so the publisher's own goroutines can run on the pacer's core.
	PaceYield PaceMode = "yield"
	// PaceHybrid sleeps while the next tick is more than sleepAhead away
	// and yields for the rest: low rates do not burn a core, and the last
	// stretch before each tick is still watched.
	PaceHybrid PaceMode = "hybrid"
)

// sleepAhead is how far ahead of a tick PaceHybrid stops sleeping: the
// timer's granularity (1ms) plus a margin for the scheduler.
const sleepAhead = 2 * time.Millisecond

// ParsePaceMode checks a pace mode's name.
func ParsePaceMode(s string) (PaceMode, error) {
	switch m := PaceMode(s); m {
	case PaceSpin, PaceYield, PaceHybrid:
		return m, nil
	}
	return "", fmt.Errorf("bench: pace %q: want spin, yield or hybrid", s)
}

// schedule is a fixed-rate send schedule: tick i is intended at
// start + i·period. The intended times are computed from the index, never
// accumulated, so rounding does not drift over a long run.
type schedule struct {
	start  int64   // ns since the epoch: the intended time of tick 0
	period float64 // ns between ticks
}

func newSchedule(start int64, rate float64) schedule {
	return schedule{start: start, period: 1e9 / rate}
}

// at returns the intended send time of tick i.
func (s schedule) at(i int64) int64 { return s.start + int64(float64(i)*s.period) }

// due returns how many ticks are due at now: the number of i ≥ 0 with
// at(i) ≤ now.
func (s schedule) due(now int64) int64 {
	if now < s.start {
		return 0
	}
	n := int64(float64(now-s.start)/s.period) + 1
	// The float division can be off by one either way at the boundary.
	for n > 0 && s.at(n-1) > now {
		n--
	}
	for s.at(n) <= now {
		n++
	}
	return n
}

// rate is the rate of n ticks sent over [first, last], where the schedule
// spaces ticks evenly: n / (last − first + one period). A schedule kept
// exactly gives the target rate; lateness at the end lowers it.
func achievedRate(n int64, first, last int64, period float64) float64 {
	if n <= 0 {
		return 0
	}
	span := float64(last-first) + period
	if span <= 0 {
		return 0
	}
	return float64(n) * 1e9 / span
}

// pacer waits for intended send times.
type pacer struct {
	mode PaceMode
	now  func() int64
}

// wait returns once the clock reaches due, with the clock's reading.
func (p *pacer) wait(due int64) int64 {
	for spins := 0; ; spins++ {
		now := p.now()
		if now >= due {
			return now
		}
		switch p.mode {
		case PaceSpin:
			// Go preempts a goroutine that runs 10ms without a safe
			// point; yield now and then so it never comes to that.
			if spins&1023 == 1023 {
				runtime.Gosched()
			}
		case PaceYield:
			yield()
		default:
			if d := time.Duration(due - now); d > sleepAhead {
				time.Sleep(d - sleepAhead)
			} else {
				yield()
			}
		}
	}
}

// yield lets other goroutines of this P run, then other threads of this
// core: a pacer that only called runtime.Gosched would look to the kernel
// like a thread that never sleeps, and the threads it must share a core
// with (the publisher's sender and writers, the subscriber) would wait for
// the end of its time slice, milliseconds. sched_yield is what the libzmq
// peer's pacer calls too.
func yield() {
	runtime.Gosched()
	_, _, _ = unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
}

func wallNow() int64 { return time.Now().UnixNano() }

package main

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// count formats n with thousands separators: 1234567 → 1,234,567.
func count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// plural renders n things: 1 tick, 2 ticks.
func plural(n uint64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return count(n) + " " + thing + "s"
}

// decimal formats the fixed-point value v × 10^exp exactly.
func decimal(v int64, exp int8) string {
	if exp >= 0 {
		s := strconv.FormatInt(v, 10)
		for range exp {
			s += "0"
		}
		return s
	}
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u
	}
	digits := strconv.FormatUint(u, 10)
	frac := int(-exp)
	for len(digits) <= frac {
		digits = "0" + digits
	}
	s := digits[:len(digits)-frac] + "." + digits[len(digits)-frac:]
	if neg {
		s = "-" + s
	}
	return s
}

// duration formats a latency in ns for people: 850ns, 45.2µs, 3.10ms.
func duration(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// tickLine renders a tick as one line of text.
func tickLine(topic []byte, t *schema.Tick, latency int64) string {
	return fmt.Sprintf("%s %-5s %-5s %s x %s seq=%d lat=%s",
		time.Unix(0, t.EventTime).Format("15:04:05.000000"), topic, t.Kind,
		decimal(t.Price, t.PriceExp), decimal(t.Size, t.SizeExp), t.Seq, duration(latency))
}

// statusLine shows line() on stderr: redrawn in place every second while
// stderr is a terminal, or, with every > 0 (--status), every that long, as
// one timestamped line each time when stderr is not a terminal (a piped or
// logged run). It returns a function that stops it (erasing a redrawn
// line).
func (e *env) statusLine(every time.Duration, line func() string) (stop func()) {
	if every <= 0 {
		if !e.stderrTTY {
			return func() {}
		}
		every = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				switch {
				case e.notices != nil:
					e.notices.Info("status", "status", line())
				case e.stderrTTY:
					fmt.Fprintf(e.stderr, "\r\x1b[K%s", line())
				default:
					fmt.Fprintf(e.stderr, "%s %s\n", now.Format("15:04:05.000"), line())
				}
			case <-done:
				if e.stderrTTY && e.notices == nil {
					fmt.Fprint(e.stderr, "\r\x1b[K")
				}
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// notice tells whoever watches stderr how the command is getting on (where
// it publishes, what it waits for): a line of text, or, with --log-format
// json, a log record at Info (whatever --log-level says).
func (e *env) notice(format string, args ...any) {
	if e.notices != nil {
		e.notices.Info(fmt.Sprintf(format, args...))
		return
	}
	fmt.Fprintf(e.stderr, format+"\n", args...)
}

// Package ratelog keeps a recurring log line to at most one per interval,
// saying how many occurrences it stands for: a condition a peer can cause
// at will (a refused connection, an unreachable endpoint) stays visible at
// the default level without flooding the log.
package ratelog

import (
	"sync"
	"time"
)

// Limiter decides when a recurring line is logged. The zero value logs
// every occurrence; set Every. It is safe for concurrent use.
type Limiter struct {
	Every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Allow reports whether to log the occurrence at now and, if so, how many
// occurrences since the last line were not logged.
func (l *Limiter) Allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.Every {
		l.suppressed++
		return false, 0
	}
	l.last, suppressed, l.suppressed = now, l.suppressed, 0
	return true, suppressed
}

// Reset makes the next occurrence log at once: the condition ended (the
// endpoint became reachable), and its return is news.
func (l *Limiter) Reset() {
	l.mu.Lock()
	l.last, l.suppressed = time.Time{}, 0
	l.mu.Unlock()
}

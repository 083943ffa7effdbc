package zmtp

import (
	"log/slog"
	"sync"
	"time"

	"github.com/tickcast/tickcast/internal/ratelog"
)

// dialFailures reports the failed connection attempts to one endpoint (a
// dialling Sub's, a dialling Pub's, a Requester's): at Warn, the default
// level, the first at once and then at most one every failLogEvery, with
// the attempts that failed since the last connection and those not logged
// since the last line; and the first connection after failures, at Warn
// too, with how many there were. A publisher that is down, or an endpoint
// that names the wrong host or port, is visible without flooding the log.
// It is safe for concurrent use; the zero value logs every failure, so set
// limit.Every.
type dialFailures struct {
	limit ratelog.Limiter

	mu    sync.Mutex
	fails int // since the last connection
}

// failed reports one failed attempt. retry is the pause before the next
// attempt, if the caller makes one itself (zero if it does not: a
// Requester connects again at its next Request).
func (d *dialFailures) failed(log *slog.Logger, endpoint string, err error, retry time.Duration) {
	d.mu.Lock()
	d.fails++
	fails := d.fails
	d.mu.Unlock()
	ok, more := d.limit.Allow(time.Now())
	if !ok {
		log.Debug("zmtp: connect failed", "endpoint", endpoint, "err", err)
		return
	}
	if retry > 0 {
		log.Warn("zmtp: cannot connect; retrying", "endpoint", endpoint, "err", err,
			"retry_every", retry.String(), "failed_attempts", fails, "not_logged", more)
		return
	}
	log.Warn("zmtp: cannot connect", "endpoint", endpoint, "err", err, "failed_attempts", fails, "not_logged", more)
}

// succeeded reports a connection: after failures, it is news.
func (d *dialFailures) succeeded(log *slog.Logger, endpoint string) {
	d.mu.Lock()
	fails := d.fails
	d.fails = 0
	d.mu.Unlock()
	if fails > 0 {
		log.Warn("zmtp: connected", "endpoint", endpoint, "after_failed_attempts", fails)
		d.limit.Reset()
	}
}

// attempts returns the failed attempts since the last connection.
func (d *dialFailures) attempts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fails
}

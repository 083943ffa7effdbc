package zmtp

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/tickcast/tickcast/internal/ratelog"
)

// acceptor is the accept loop a listening Pub, Replier and binding Sub
// share: it takes connections until the listener is closed, asks admit
// whether each may be served (under the socket's limit on connections),
// and serves it, or closes it, counting and logging the refusal
// (rate-limited). A failing Accept (out of descriptors, say) is logged,
// rate-limited, and retried after a pause.
type acceptor struct {
	ln       net.Listener
	endpoint string
	log      *slog.Logger
	option   string         // the option that sets the limit, for the log
	refused  *atomic.Uint64 // the socket's count of refusals

	acceptLog, refusedLog ratelog.Limiter
}

func newAcceptor(ln net.Listener, endpoint string, log *slog.Logger, option string, refused *atomic.Uint64) *acceptor {
	return &acceptor{ln: ln, endpoint: endpoint, log: log, option: option, refused: refused,
		acceptLog: ratelog.Limiter{Every: 10 * time.Second}, refusedLog: ratelog.Limiter{Every: 10 * time.Second}}
}

// admission is what admit says of a connection.
type admission int

const (
	admitted admission = iota // serve it: the socket counted it
	full                      // at the limit: refuse it
	closing                   // the socket is closing: close it and stop
)

// run accepts until the listener is closed (or admit says the socket is
// closing); limit is only for the log.
func (a *acceptor) run(limit func() int, admit func(net.Conn) admission, serve func(net.Conn)) {
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if ok, more := a.acceptLog.Allow(time.Now()); ok {
				a.log.Warn("zmtp: accept", "endpoint", a.endpoint, "err", err, "others_since_last_log", more)
			}
			time.Sleep(10 * time.Millisecond) // do not spin; Close ends the next Accept
			continue
		}
		switch admit(c) {
		case closing:
			c.Close()
			return
		case full:
			a.refused.Add(1)
			if ok, more := a.refusedLog.Allow(time.Now()); ok {
				a.log.Warn("zmtp: connection refused: at the connection limit ("+a.option+")",
					"endpoint", a.endpoint, "peer", c.RemoteAddr(), "limit", limit(), "refused_since_last_log", more)
			}
			c.Close()
			continue
		}
		go serve(c)
	}
}

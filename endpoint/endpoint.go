// Package endpoint opens transports by endpoint string, the way ZeroMQ
// names them: tcp://host:port and ipc://path (package zmtp). It sits above
// the transports so that publisher and subscriber need not know them.
package endpoint

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/subscriber"
	"github.com/tickcast/tickcast/zmtp"
)

// Option configures the transports Sink and Source open.
type Option func(*config)

type config struct {
	logger    *slog.Logger
	sendHWM   int
	sendBuf   int
	linger    time.Duration
	maxMsg    int
	reconnect time.Duration
}

// WithLogger sets the transports' logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithSendHWM sets how many messages may queue for one subscriber before
// new ones are dropped for it (tcp, ipc).
func WithSendHWM(n int) Option { return func(c *config) { c.sendHWM = n } }

// WithSendBuffer sets how many bytes may queue for one subscriber before
// new messages are dropped for it (tcp, ipc).
func WithSendBuffer(n int) Option { return func(c *config) { c.sendBuf = n } }

// WithLinger bounds how long closing a sink waits for queued messages.
func WithLinger(d time.Duration) Option { return func(c *config) { c.linger = d } }

// WithMaxMessage bounds one received message.
func WithMaxMessage(n int) Option { return func(c *config) { c.maxMsg = n } }

// WithReconnect sets the pause between connection attempts (tcp, ipc).
func WithReconnect(d time.Duration) Option { return func(c *config) { c.reconnect = d } }

func configure(opts []Option) config {
	c := config{logger: slog.Default()}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Sink opens a publishing endpoint: it binds tcp:// and ipc:// endpoints.
func Sink(endpoint string, opts ...Option) (publisher.Sink, error) {
	c := configure(opts)
	switch scheme(endpoint) {
	case "tcp", "ipc":
		po := []zmtp.PubOption{zmtp.WithPubLogger(c.logger)}
		if c.sendHWM > 0 {
			po = append(po, zmtp.WithSendHWM(c.sendHWM))
		}
		if c.sendBuf > 0 {
			po = append(po, zmtp.WithSendBuffer(c.sendBuf))
		}
		if c.linger > 0 {
			po = append(po, zmtp.WithLinger(c.linger))
		}
		return zmtp.Listen(endpoint, po...)
	}
	return nil, unsupported(endpoint)
}

// Source opens a subscribing endpoint: it connects to tcp:// and ipc://
// endpoints.
func Source(endpoint string, opts ...Option) (subscriber.Source, error) {
	c := configure(opts)
	switch scheme(endpoint) {
	case "tcp", "ipc":
		so := []zmtp.SubOption{zmtp.WithSubLogger(c.logger)}
		if c.maxMsg > 0 {
			so = append(so, zmtp.WithMaxMessage(c.maxMsg))
		}
		if c.reconnect > 0 {
			so = append(so, zmtp.WithReconnect(c.reconnect))
		}
		return zmtp.Dial(endpoint, so...)
	}
	return nil, unsupported(endpoint)
}

func scheme(endpoint string) string {
	s, _, _ := strings.Cut(endpoint, "://")
	return s
}

func unsupported(endpoint string) error {
	return fmt.Errorf("%w %q: unsupported transport %q (supported: tcp://host:port, ipc://path)", zmtp.ErrEndpoint, endpoint, scheme(endpoint))
}

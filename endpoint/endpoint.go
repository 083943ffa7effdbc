// Package endpoint opens transports by endpoint string, the way ZeroMQ
// names them: tcp://host:port and ipc://path (package zmtp), and the
// multicast epgm://iface;group:port (PGM in UDP) and pgm://iface;group:port
// (raw PGM, IP protocol 113, needs CAP_NET_RAW) (package pgm/feed). It sits
// above the transports so that publisher and subscriber need not know them.
//
// PGM defaults, chosen for a feed rather than copied from libzmq: a rate
// limit of 1 Gbit/s (DefaultPGMRate; libzmq's ZMQ_RATE default of 100 kbit/s
// carries about 300 ticks a second) and a recovery interval of 250 ms
// (DefaultPGMRecovery), which make a transmit and receive window of 20,833
// packets (31 MB at the source): about 3 million ticks/s of 40 bytes, with a
// quarter of a second for repairs, far more than NAK repair takes on a LAN.
// Multicast always goes out on the named interface with a TTL of 1 unless
// WithMulticastHops says otherwise. WithLibzmqPGM restores libzmq's values
// (an 80-packet window) for peers that use them.
package endpoint

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tickcast/tickcast/pgm/feed"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/pgm/zmq"
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
	pgmRate   int64 // kbit/s
	nak       nakTimers
	recovery  time.Duration
	hops      int
}

// PGM defaults: see the package documentation.
const (
	DefaultPGMRate     = 1_000_000 // kbit/s: 1 Gbit/s
	DefaultPGMRecovery = 250 * time.Millisecond
	// LibzmqPGMRate and LibzmqPGMRecovery are libzmq's ZMQ_RATE and
	// ZMQ_RECOVERY_IVL defaults.
	LibzmqPGMRate     = 100 // kbit/s
	LibzmqPGMRecovery = 10 * time.Second
)

// WithRate sets the PGM rate limit in kilobits per second, as ZMQ_RATE
// (epgm, pgm): ODATA is paced to it, counting IP and UDP headers. Both ends
// should use the same value with WithRecoveryInterval: together they size
// the transmit and receive windows as libzmq does.
func WithRate(kbps int64) Option { return func(c *config) { c.pgmRate = kbps } }

// nakTimers are a PGM receiver's repair timers; zero values mean libzmq's.
type nakTimers struct{ backoff, repeat, rdata time.Duration }

// WithNAKTimers sets a PGM subscriber's repair timers: how long it waits
// before asking for a repair (NAK_BO_IVL: a back-off drawn up to this; 50 ms
// by default), for the publisher to confirm the request (NAK_RPT_IVL, 200
// ms) and for the repair itself (NAK_RDATA_IVL, 200 ms); zero keeps a
// default. The defaults are libzmq's. A loss holds back everything after it
// until it is repaired, so these timers are the tail latency under loss; on
// a LAN, 1 ms / 10 ms / 10 ms repair most losses in about a millisecond.
func WithNAKTimers(backoff, repeat, rdata time.Duration) Option {
	return func(c *config) { c.nak = nakTimers{backoff, repeat, rdata} }
}

// WithRecoveryInterval sets how long data stays available for repair, as
// ZMQ_RECOVERY_IVL (epgm, pgm).
func WithRecoveryInterval(d time.Duration) Option { return func(c *config) { c.recovery = d } }

// WithMulticastHops sets the multicast TTL, as ZMQ_MULTICAST_HOPS (epgm,
// pgm; default 1: the local network only).
func WithMulticastHops(n int) Option { return func(c *config) { c.hops = n } }

// WithLibzmqPGM uses libzmq's PGM defaults: 100 kbit/s and a 10 s recovery
// interval, an 80-packet window (epgm, pgm).
func WithLibzmqPGM() Option {
	return func(c *config) { c.pgmRate, c.recovery = LibzmqPGMRate, LibzmqPGMRecovery }
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
	c := config{logger: slog.Default(), pgmRate: DefaultPGMRate, recovery: DefaultPGMRecovery}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Sink opens a publishing endpoint: it binds tcp:// and ipc:// endpoints,
// and sends epgm:// and pgm:// to the group from the named interface.
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
	case "epgm", "pgm":
		pc := zmq.PubConfig{
			Sender: transport.SenderConfig{
				Source: source.Config{Rate: c.pgmRate * 1000 / 8, RecoveryInterval: c.recovery},
				Hops:   c.hops, Logger: c.logger,
			},
			Backlog: c.sendBuf, Linger: c.linger,
		}
		return feed.NewSink(context.Background(), endpoint, pc)
	}
	return nil, unsupported(endpoint)
}

// Source opens a subscribing endpoint: it connects to tcp:// and ipc://
// endpoints, and joins an epgm:// or pgm:// group on the named interface.
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
	case "epgm", "pgm":
		sc := zmq.SubConfig{
			Receiver: transport.ReceiverConfig{
				Receiver: receiver.Config{Rate: c.pgmRate * 1000 / 8, RecoveryInterval: c.recovery,
					NAKBackoffInterval: c.nak.backoff, NAKRepeatInterval: c.nak.repeat, NAKRDataInterval: c.nak.rdata},
				Hops: c.hops, Logger: c.logger,
			},
			MaxMessageSize: c.maxMsg,
		}
		return feed.NewSource(context.Background(), endpoint, sc)
	}
	return nil, unsupported(endpoint)
}

func scheme(endpoint string) string {
	s, _, _ := strings.Cut(endpoint, "://")
	return s
}

func unsupported(endpoint string) error {
	return fmt.Errorf("%w %q: unsupported transport %q (supported: tcp://host:port, ipc://path, epgm://iface;group:port, pgm://iface;group:port)", zmtp.ErrEndpoint, endpoint, scheme(endpoint))
}

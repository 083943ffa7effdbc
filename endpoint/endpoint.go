// Package endpoint opens transports by endpoint string, the way ZeroMQ
// names them: tcp://host:port and ipc://path (package zmtp), inproc://name
// (package inproc: a publisher and subscribers in one process), and the
// multicast epgm://iface;group:port (PGM in UDP) and pgm://iface;group:port
// (raw PGM, IP protocol 113, needs CAP_NET_RAW) (package pgm/pgmline). It sits
// above the transports so that publisher and subscriber need not know them.
//
// inproc:// names live in a namespace (inproc.Namespace): the process-wide
// inproc.DefaultNamespace unless WithInprocNamespace gives another. Its
// sockets bind and connect like tcp:// ones, "@" and ">" included, and a
// subscriber may connect before the publisher binds.
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
//
// # Bind or connect
//
// Either side of a tcp:// or ipc:// feed may bind, as in ZeroMQ, with CZMQ's
// prefixes: "@tcp://host:port" binds, ">tcp://host:port" connects, and an
// endpoint without a prefix keeps the default: a sink (a publisher) binds,
// a source (a subscriber) connects. So a publisher can connect to a
// subscriber that binds, or into a zmq_proxy's XSUB, whose XPUB the
// subscribers connect to: Sink(">tcp://proxy:5559") and
// Source("tcp://proxy:5560"). SplitMode is the one place the prefixes are
// read. A multicast endpoint (epgm://, pgm://) joins a group: it neither
// binds nor connects, and a prefix on one is refused rather than ignored,
// as it says something that cannot be done.
//
// A transport names its endpoint without the prefix (SinkStats.Endpoint,
// Source.Endpoint): the bound address for one that binds (with the port
// the system chose for tcp://host:0), the endpoint as given for one that
// connects.
//
// ValidateSink and ValidateSource check an endpoint string without opening
// anything; Sink and Source check it the same way first. Errors about an
// endpoint string wrap ErrEndpoint; errors of the system (an address in
// use) are wrapped as they are, so errors.Is(err, syscall.EADDRINUSE) works.
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tickcast/tickcast/inproc"
	"github.com/tickcast/tickcast/pgm/pgmline"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/transport"
	"github.com/tickcast/tickcast/pgm/zmq"
	"github.com/tickcast/tickcast/port"
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
	inprocNS  *inproc.Namespace
}

// PGM defaults: see the package documentation.
const (
	DefaultPGMRate     = 1_000_000 // kbit/s: 1 Gbit/s
	DefaultPGMRecovery = 250 * time.Millisecond
	// LibzmqPGMRate and LibzmqPGMRecovery are libzmq's ZMQ_RATE and
	// ZMQ_RECOVERY_IVL defaults.
	LibzmqPGMRate     = 100 // kbit/s
	LibzmqPGMRecovery = 10 * time.Second
	// MinPGMRate and MaxPGMRate bound WithRate: 1 kbit/s to 100 Gbit/s.
	MinPGMRate = 1           // kbit/s
	MaxPGMRate = 100_000_000 // kbit/s
)

// WithRate sets the PGM rate limit in kilobits per second, as ZMQ_RATE
// (epgm, pgm): ODATA is paced to it, counting IP and UDP headers. Both ends
// should use the same value with WithRecoveryInterval: together they size
// the transmit and receive windows as libzmq does. Sink and Source refuse a
// rate outside MinPGMRate..MaxPGMRate for epgm and pgm.
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

// WithInprocNamespace opens inproc:// endpoints in ns instead of the
// process-wide inproc.DefaultNamespace (tests that run in parallel with the
// same names use namespaces of their own).
func WithInprocNamespace(ns *inproc.Namespace) Option { return func(c *config) { c.inprocNS = ns } }

// inprocOptions are the options an inproc:// socket takes: the namespace,
// the logger and the queue bounds (WithSendHWM, WithSendBuffer).
func (c *config) inprocOptions() []inproc.Option {
	o := []inproc.Option{inproc.WithNamespace(c.inprocNS), inproc.WithLogger(c.logger)}
	if c.sendHWM > 0 {
		o = append(o, inproc.WithSendHWM(c.sendHWM))
	}
	if c.sendBuf > 0 {
		o = append(o, inproc.WithSendBuffer(c.sendBuf))
	}
	return o
}

// checkRate refuses a PGM rate that is out of range: in bytes per second
// (kbit/s * 1000 / 8) it must not overflow, nor turn negative, which the
// source takes as no limit at all.
func (c *config) checkRate() error {
	if c.pgmRate < MinPGMRate || c.pgmRate > MaxPGMRate {
		return fmt.Errorf("endpoint: PGM rate %d kbit/s out of range [%d, %d]", c.pgmRate, MinPGMRate, MaxPGMRate)
	}
	return nil
}

func configure(opts []Option) config {
	c := config{logger: slog.Default(), pgmRate: DefaultPGMRate, recovery: DefaultPGMRecovery}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Sink opens a publishing endpoint: it binds tcp:// and ipc:// endpoints
// (or connects, given ">": to a subscriber that binds, or a proxy's XSUB;
// WithReconnect sets the pause between attempts), and sends epgm:// and
// pgm:// to the group from the named interface. An endpoint ValidateSink
// refuses is an error wrapping ErrEndpoint; an error opening a valid one
// (the address is in use, raw sockets need a privilege) wraps the system's
// error instead.
func Sink(endpoint string, opts ...Option) (s port.Sink, err error) {
	if err := ValidateSink(endpoint); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s = nil // not a typed nil
		}
	}()
	c := configure(opts)
	mode, bare := SplitMode(endpoint)
	bind := mode.binds(true)
	switch scheme(bare) {
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
		if c.reconnect > 0 {
			po = append(po, zmtp.WithPubReconnect(c.reconnect))
		}
		if bind {
			return zmtp.Listen(bare, po...)
		}
		return zmtp.DialPub(bare, po...)
	case "inproc":
		if bind {
			return inproc.Listen(bare, c.inprocOptions()...)
		}
		return inproc.DialPub(bare, c.inprocOptions()...)
	case "epgm", "pgm":
		if err := c.checkRate(); err != nil {
			return nil, err
		}
		pc := zmq.PubConfig{
			Sender: transport.SenderConfig{
				Source: source.Config{Rate: c.pgmRate * 1000 / 8, RecoveryInterval: c.recovery},
				Hops:   c.hops, Logger: c.logger,
			},
			Backlog: c.sendBuf, Linger: c.linger,
		}
		return pgmline.NewSender(context.Background(), bare, pc)
	}
	return nil, badEndpoint(endpoint, zmtp.ErrEndpoint, "unsupported transport %q (supported: %s)", scheme(bare), supported)
}

// Source opens a subscribing endpoint: it connects to tcp:// and ipc://
// endpoints (in the background: a publisher that is not up yet is not an
// error), or binds them, given "@", for publishers to connect to; and it
// joins an epgm:// or pgm:// group on the named interface. An endpoint
// ValidateSource refuses is an error wrapping ErrEndpoint.
func Source(endpoint string, opts ...Option) (src port.Source, err error) {
	if err := ValidateSource(endpoint); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			src = nil // not a typed nil
		}
	}()
	c := configure(opts)
	mode, bare := SplitMode(endpoint)
	bind := mode.binds(false)
	switch scheme(bare) {
	case "tcp", "ipc":
		so := []zmtp.SubOption{zmtp.WithSubLogger(c.logger)}
		if c.maxMsg > 0 {
			so = append(so, zmtp.WithMaxMessage(c.maxMsg))
		}
		if c.reconnect > 0 {
			so = append(so, zmtp.WithReconnect(c.reconnect))
		}
		if bind {
			return zmtp.ListenSub(bare, so...)
		}
		return zmtp.Dial(bare, so...)
	case "inproc":
		if bind {
			return inproc.ListenSub(bare, c.inprocOptions()...)
		}
		return inproc.Dial(bare, c.inprocOptions()...)
	case "epgm", "pgm":
		if err := c.checkRate(); err != nil {
			return nil, err
		}
		sc := zmq.SubConfig{
			Receiver: transport.ReceiverConfig{
				Receiver: receiver.Config{Rate: c.pgmRate * 1000 / 8, RecoveryInterval: c.recovery,
					NAKBackoffInterval: c.nak.backoff, NAKRepeatInterval: c.nak.repeat, NAKRDataInterval: c.nak.rdata},
				Hops: c.hops, Logger: c.logger,
			},
			MaxMessageSize: c.maxMsg,
		}
		return pgmline.NewReceiver(context.Background(), bare, sc)
	}
	return nil, badEndpoint(endpoint, zmtp.ErrEndpoint, "unsupported transport %q (supported: %s)", scheme(bare), supported)
}

// Requester opens the client of a recovery service at endpoint (tcp:// or
// ipc://, or the same with ">"): it connects at the first request.
func Requester(endpoint string, opts ...Option) (port.Requester, error) {
	if err := ValidateSource(endpoint); err != nil {
		return nil, err
	}
	mode, bare := SplitMode(endpoint)
	switch {
	case scheme(bare) != "tcp" && scheme(bare) != "ipc":
		return nil, badEndpoint(endpoint, zmtp.ErrEndpoint, "a recovery service answers on tcp:// or ipc://")
	case mode == Bind:
		return nil, badEndpoint(endpoint, zmtp.ErrEndpoint, "a recovery client connects to its service: it cannot bind (drop the @)")
	}
	c := configure(opts)
	return zmtp.DialRequester(bare, zmtp.WithRequesterLogger(c.logger))
}

func scheme(endpoint string) string {
	s, _, _ := strings.Cut(endpoint, "://")
	return s
}

// Mode is which side of a connection an endpoint takes, as its prefix
// says (CZMQ's convention).
type Mode uint8

const (
	// Default is an endpoint without a prefix: a sink binds, a source
	// connects.
	Default Mode = iota
	// Bind is "@": the endpoint binds, and peers connect to it.
	Bind
	// Connect is ">": the endpoint connects to a peer that binds.
	Connect
)

// SplitMode separates CZMQ's bind-or-connect prefix from endpoint:
// "@tcp://..." binds, ">tcp://..." connects; an endpoint without either is
// Default. bare is endpoint without its prefix, what a transport is given.
// It checks nothing else: ValidateSink and ValidateSource do, and refuse a
// prefix where it means nothing (on epgm:// and pgm://).
func SplitMode(endpoint string) (mode Mode, bare string) {
	switch {
	case strings.HasPrefix(endpoint, "@"):
		return Bind, endpoint[1:]
	case strings.HasPrefix(endpoint, ">"):
		return Connect, endpoint[1:]
	}
	return Default, endpoint
}

// binds reports whether an endpoint in mode m binds: for a sink, unless it
// connects; for a source, only if it binds.
func (m Mode) binds(sink bool) bool { return m == Bind || (m == Default && sink) }

// ErrEndpoint is wrapped by every error about an endpoint string that
// cannot be used as written: an unsupported scheme, a malformed or
// out-of-range part, an interface that does not exist. It is port.ErrEndpoint,
// which the transports' own sentinels (zmtp.ErrEndpoint for tcp:// and
// ipc://, pgm/transport.ErrEndpoint for epgm:// and pgm://) wrap too, so
// errors.Is(err, endpoint.ErrEndpoint) holds for all of them. Errors opening
// a valid endpoint (an address in use, a missing privilege) do not wrap it:
// they are not the endpoint's fault, and wrap the system's error
// (errors.Is(err, syscall.EADDRINUSE)).
var ErrEndpoint = port.ErrEndpoint

// ValidateSink checks that Sink could open endpoint, without opening
// anything: the scheme is tcp, ipc, inproc, epgm or pgm; tcp:// has a host (an IP
// address, a host name, or * or nothing for every interface) and a port
// from 0 to 65535 or * (0 and * take an ephemeral port); ipc:// has a
// path; epgm:// and pgm:// parse as pgm/transport.ParseEndpoint says, and
// name an interface this host has. A tcp:// or ipc:// endpoint may start
// with "@" (bind, the default for a sink) or ">" (connect): one that
// connects needs a host to connect to and a port from 1 to 65535, as
// ValidateSource's. A multicast one may not. Host names are not looked up.
// inproc:// has a name of 1 to inproc.MaxName bytes. Errors wrap
// ErrEndpoint.
func ValidateSink(endpoint string) error { return validate(endpoint, true) }

// ValidateSource checks that Source could open endpoint, without opening
// anything: as ValidateSink, except that a source connects unless its
// endpoint starts with "@": tcp:// then needs a host to connect to and a
// port from 1 to 65535. Errors wrap ErrEndpoint.
func ValidateSource(endpoint string) error { return validate(endpoint, false) }

func validate(endpoint string, sink bool) error {
	mode, bare := SplitMode(endpoint)
	bind := mode.binds(sink)
	sch, rest, ok := strings.Cut(bare, "://")
	if !ok {
		return badEndpoint(endpoint, zmtp.ErrEndpoint, "not an endpoint (supported: %s)", supported)
	}
	switch sch {
	case "tcp":
		return validateTCP(endpoint, rest, bind)
	case "ipc":
		if rest == "" {
			return badEndpoint(endpoint, zmtp.ErrEndpoint, "no path (want ipc://path)")
		}
		return nil
	case "inproc":
		if _, err := inproc.ParseEndpoint(bare); err != nil {
			reason := strings.TrimPrefix(err.Error(), fmt.Sprintf("%v %q: ", inproc.ErrEndpoint, bare))
			return &endpointError{msg: fmt.Sprintf("%s %q: %s", endpointPrefix, endpoint, reason), err: err}
		}
		return nil
	case "epgm", "pgm":
		if mode != Default {
			return badEndpoint(endpoint, transport.ErrEndpoint,
				"a multicast endpoint joins its group, it neither binds nor connects: write it without %q", endpoint[:1])
		}
		if _, err := transport.ParseEndpoint(endpoint); err != nil {
			// The transport's message names the endpoint already: keep
			// only its reason.
			reason := strings.TrimPrefix(err.Error(), fmt.Sprintf("%v %q: ", transport.ErrEndpoint, endpoint))
			return &endpointError{msg: fmt.Sprintf("%s %q: %s", endpointPrefix, endpoint, reason), err: err}
		}
		return nil
	}
	return badEndpoint(endpoint, zmtp.ErrEndpoint, "unsupported transport %q (supported: %s)", sch, supported)
}

const supported = "tcp://host:port, ipc://path, inproc://name, epgm://iface;group:port, pgm://iface;group:port"

func validateTCP(endpoint, rest string, bind bool) error {
	bad := func(format string, args ...any) error {
		return badEndpoint(endpoint, zmtp.ErrEndpoint, format, args...)
	}
	if !strings.Contains(rest, ":") {
		return bad("no port (want tcp://host:port)")
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return bad("%v (want tcp://host:port, an IPv6 host in brackets)", err)
	}
	switch n, err := strconv.ParseUint(port, 10, 16); {
	case bind && port == "*":
	case bind && (err != nil || port == ""):
		return bad("port %q is not a number from 0 to 65535, or *", port)
	case !bind && (err != nil || n == 0):
		return bad("port %q is not a number from 1 to 65535", port)
	}
	switch {
	case host == "" || host == "*":
		if !bind {
			return bad("no host to connect to")
		}
		return nil
	case validHost(host):
		return nil
	}
	return bad("host %q is neither an IP address nor a host name", host)
}

// validHost reports whether h is an IP address (an IPv6 one with its zone,
// if any) or a syntactically valid host name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// endpointError is an error about an endpoint string: its message is one
// line naming the endpoint and what is wrong with it, and it wraps the
// transport's sentinel (which wraps ErrEndpoint) without repeating its text.
type endpointError struct {
	msg string
	err error
}

func (e *endpointError) Error() string { return e.msg }
func (e *endpointError) Unwrap() error { return e.err }

const endpointPrefix = "endpoint: bad endpoint"

func badEndpoint(endpoint string, sentinel error, format string, args ...any) error {
	return &endpointError{msg: fmt.Sprintf("%s %q: %s", endpointPrefix, endpoint, fmt.Sprintf(format, args...)),
		err: sentinel}
}

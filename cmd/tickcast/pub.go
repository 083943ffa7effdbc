package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/recovery"
)

// pubConfig is what publishing a simulated market takes.
type pubConfig struct {
	endpoints  []string
	symbols    int
	rate       float64 // ticks per second; 0: as fast as possible
	count      int64   // stop after this many ticks (0: no limit)
	duration   time.Duration
	maxBatch   int
	flushDelay time.Duration
	heartbeat  time.Duration
	hwm        int
	seed       uint64
	pgm        pgmFlags
	recovery   recoveryFlags
}

// pgmFlags are the PGM settings of pub and sub.
type pgmFlags struct {
	rate     int64 // kbit/s
	recovery time.Duration
	nak      string // BACKOFF,REPEAT,RDATA; a subscriber's only
}

// register adds the flags; --pgm-nak, the repair timers, only for a
// subscriber.
func (p *pgmFlags) register(fs *flag.FlagSet, subscriber bool) {
	fs.Int64Var(&p.rate, "pgm-rate", endpoint.DefaultPGMRate,
		"epgm/pgm rate limit in kbit/s (ZMQ_RATE), 1 (1 kbit/s) to 100000000 (100 Gbit/s); subscribers size their window with it too")
	fs.DurationVar(&p.recovery, "pgm-recovery", endpoint.DefaultPGMRecovery,
		"epgm/pgm recovery interval (ZMQ_RECOVERY_IVL), 1ms to 1m: how long data stays repairable")
	if subscriber {
		fs.StringVar(&p.nak, "pgm-nak", "",
			"epgm/pgm repair timers BACKOFF,REPEAT,RDATA, each 0 (the default) to 1m, e.g. 1ms,10ms,10ms (default libzmq's: 50ms,200ms,200ms): the tail latency under loss")
	}
}

// check checks the flags' values.
func (p *pgmFlags) check() error {
	if err := checkInt("pgm-rate", p.rate, endpoint.MinPGMRate, endpoint.MaxPGMRate,
		"want kbit/s from 1 (1 kbit/s) to 100000000 (100 Gbit/s)"); err != nil {
		return err
	}
	if err := checkDuration("pgm-recovery", p.recovery, minPGMRecovery, maxPGMRecovery, "want 1ms to 1m"); err != nil {
		return err
	}
	_, err := p.timers()
	return err
}

// options are the flags as endpoint options, once check has accepted them;
// zero values (pgmFlags not from flags: the demo's) are the defaults.
func (p *pgmFlags) options() []endpoint.Option {
	var opts []endpoint.Option
	if p.rate != 0 {
		opts = append(opts, endpoint.WithRate(p.rate))
	}
	if p.recovery != 0 {
		opts = append(opts, endpoint.WithRecoveryInterval(p.recovery))
	}
	if d, err := p.timers(); err == nil && p.nak != "" {
		opts = append(opts, endpoint.WithNAKTimers(d[0], d[1], d[2]))
	}
	return opts
}

// timers parses --pgm-nak: BACKOFF[,REPEAT[,RDATA]], each 0 (the default)
// to maxNAKTimer; "" is every default.
func (p *pgmFlags) timers() ([3]time.Duration, error) {
	var d [3]time.Duration
	if p.nak == "" {
		return d, nil
	}
	parts := strings.Split(p.nak, ",")
	if len(parts) > 3 {
		return d, fmt.Errorf("%w: --pgm-nak %q: want BACKOFF,REPEAT,RDATA", errUsage, p.nak)
	}
	for i, s := range parts {
		v, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || v < 0 || v > maxNAKTimer {
			return d, fmt.Errorf("%w: --pgm-nak %q: %q is not a duration from 0 to 1m", errUsage, p.nak, s)
		}
		d[i] = v
	}
	return d, nil
}

// maxSubscribersWait bounds --subscribers.
const maxSubscribersWait = 1_000_000

// pointToPoint reports whether an endpoint's transport knows its
// subscribers (tcp, ipc), as multicast cannot.
func pointToPoint(endpoint string) bool {
	return strings.HasPrefix(endpoint, "tcp://") || strings.HasPrefix(endpoint, "ipc://")
}

func runPub(ctx context.Context, e *env, args []string) (int, error) {
	var c pubConfig
	var endpoints listFlag
	fs := newFlags(e, "pub", "pub --endpoint E [--endpoint E2 ...] [--symbols N] [--rate R] [--count N | --duration D]")
	fs.Var(&endpoints, "endpoint", "endpoint to publish on, repeatable: tcp://host:port (bind; port 0 or *: any), ipc://path, epgm://iface;group:port, pgm://iface;group:port")
	fs.IntVar(&c.symbols, "symbols", 50, "instruments in the simulated market (one topic each), 1 to 1000000")
	fs.Float64Var(&c.rate, "rate", 10_000, "ticks per second, 0.001 to 1e9; 0 publishes as fast as possible")
	fs.Int64Var(&c.count, "count", 0, "stop after this many ticks (0: no limit)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: no limit)")
	delay := fs.Duration("delay", 0, "wait this long before the first tick (heartbeats flow): time for subscribers to join")
	waitSubs := fs.Int("subscribers", 0, "wait until this many subscribers have subscribed on every tcp and ipc endpoint before the first tick (after --delay; 0: do not wait)")
	fs.IntVar(&c.maxBatch, "batch", publisher.DefaultMaxBatch, "most ticks in one message, 1 to 65536")
	fs.DurationVar(&c.flushDelay, "flush-delay", 0, "let a batch wait this long for more ticks, up to 1s (0: never wait)")
	fs.DurationVar(&c.heartbeat, "heartbeat", publisher.DefaultHeartbeat, "heartbeat interval, 1ms to 1h")
	fs.IntVar(&c.hwm, "hwm", 0, "messages queued per subscriber before dropping for it, tcp and ipc (0: the default, 10,000)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the simulated market")
	c.pgm.register(fs, false)
	c.recovery.register(fs, "recovery", "also serve the feed's recent history to subscribers that lost some on this endpoint (binds): tcp://host:port or ipc://path")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	c.endpoints = endpoints
	if err := e.setLogLevel(*logLevel); err != nil {
		return 0, err
	}
	if err := c.validate(); err != nil {
		return 0, err
	}
	if err := checkDuration("delay", *delay, 0, math.MaxInt64, "must not be negative"); err != nil {
		return 0, err
	}
	if err := checkInt("subscribers", int64(*waitSubs), 0, maxSubscribersWait, "want 0 to 1000000"); err != nil {
		return 0, err
	}
	if *waitSubs > 0 && !slices.ContainsFunc(c.endpoints, pointToPoint) {
		return 0, fmt.Errorf("%w: --subscribers needs a tcp:// or ipc:// endpoint: a multicast publisher cannot know its receivers (use --delay)", errUsage)
	}
	stopProfile, err := profile(*cpuprofile)
	if err != nil {
		return 0, err
	}
	defer stopProfile()

	pub, srv, err := c.open(e)
	if err != nil {
		return 0, err
	}
	if srv != nil {
		defer srv.Close() // on every path; the normal one closes it after its linger
	}
	skip := ""
	if srv != nil {
		skip = srv.Endpoint()
		fmt.Fprintf(e.stderr, "serving recovery on %s (%v, %s)\n", skip, c.recovery.retention.age, sizeString(c.recovery.retention.bytes))
	}
	fmt.Fprintf(e.stderr, "publishing %d symbols at %s to %v (session %016x)\n",
		c.symbols, rateString(c.rate), endpointsOf(pub, skip), pub.Session())

	stopStatus := e.statusLine(func() string {
		s := pub.Stats()
		return fmt.Sprintf("published %s ticks in %s messages, %s dropped for slow subscribers",
			count(s.Published), count(s.Messages), count(sinkDrops(s)))
	})
	sleep(ctx, *delay)
	if *waitSubs > 0 {
		fmt.Fprintf(e.stderr, "waiting for %d subscribers\n", *waitSubs)
		if err := pub.WaitSubscribers(ctx, *waitSubs); err != nil && ctx.Err() == nil {
			pub.Close()
			return 0, err
		}
	}
	start := time.Now()
	sim := c.simulate(ctx, pub)
	elapsed := time.Since(start)
	stopStatus()
	peers := map[string]int{} // connected subscribers before Close disconnects them
	for _, k := range pub.Stats().Sinks {
		peers[k.Endpoint] = k.Peers
	}
	err = pub.Close()
	s := pub.Stats()
	achieved := float64(sim.Published) / elapsed.Seconds()
	fmt.Fprintf(e.stdout, "published %d ticks in %d messages (%d bytes) in %v: %s ticks/s\n",
		s.Published, s.Messages, s.Bytes, elapsed.Round(time.Millisecond), count(uint64(achieved)))
	if sim.Skipped > 0 && c.rate > 0 {
		// The rate asked was more than this machine, or the subscribers
		// behind the publisher, could take.
		fmt.Fprintf(e.stdout, "  behind schedule: asked %s, achieved %s ticks/s (%.0f%%); %s ticks due more than %v before the publisher could take them were skipped (never sequenced: not gaps)\n",
			rateString(c.rate), count(uint64(achieved)), 100*achieved/c.rate, count(uint64(sim.Skipped)), maxLate)
	}
	if sim.QueueFull > 0 {
		fmt.Fprintf(e.stdout, "  the publisher's queue was full %s times: the simulator waited for it\n", count(uint64(sim.QueueFull)))
	}
	for _, k := range s.Sinks {
		if k.Endpoint == skip {
			continue
		}
		if k.Peers >= 0 {
			fmt.Fprintf(e.stdout, "  %s: %d subscribers at the end, %d message copies dropped for slow subscribers\n", k.Endpoint, peers[k.Endpoint], k.Dropped)
		} else {
			fmt.Fprintf(e.stdout, "  %s: multicast, %d messages dropped ahead of the rate limit\n", k.Endpoint, k.Dropped)
		}
	}
	if srv != nil {
		// Subscribers may ask for the last ticks after the end of the
		// session: the service answers a while longer.
		if c.recovery.linger > 0 {
			fmt.Fprintf(e.stderr, "serving recovery for %v more\n", c.recovery.linger)
			sleep(ctx, c.recovery.linger)
		}
		srv.Close()
		printServed(e.stdout, srv)
	}
	return exitOK, err
}

// validate checks the configuration before anything is opened: every
// error is a usage error (or wraps endpoint.ErrEndpoint), and open does not
// fail for a reason validate could have found.
func (c *pubConfig) validate() error {
	if len(c.endpoints) == 0 {
		return fmt.Errorf("%w: at least one --endpoint is needed", errUsage)
	}
	for _, err := range []error{
		checkEndpoints("", true, c.endpoints...),
		checkInt("symbols", int64(c.symbols), 1, maxSymbols, "want 1 to 1000000"),
		checkRate("rate", c.rate, true),
		checkInt("count", c.count, 0, math.MaxInt64, "must not be negative"),
		checkDuration("duration", c.duration, 0, math.MaxInt64, "must not be negative"),
		checkInt("batch", int64(c.maxBatch), 1, maxBatch, "want 1 to 65536"),
		checkDuration("flush-delay", c.flushDelay, 0, maxFlushDelay, "want 0 to 1s"),
		checkDuration("heartbeat", c.heartbeat, minHeartbeat, maxHeartbeat, "want 1ms to 1h"),
		checkInt("hwm", int64(c.hwm), 0, maxHWM, "want 0 (the default) to 2147483647"),
		c.pgm.check(),
		c.recovery.check("recovery"),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// open binds the endpoints and starts a publisher on them; validate has
// accepted the configuration, so its errors are failures, not usage.
func (c *pubConfig) open(e *env) (*publisher.Publisher, *recovery.Server, error) {
	logger := e.logger
	opts := []publisher.Option{publisher.WithLogger(logger)}
	var sinks []publisher.Sink
	var srv *recovery.Server
	if c.recovery.listen != "" {
		var err error
		if srv, err = c.recovery.open(e); err != nil {
			return nil, nil, err
		}
		sinks = append(sinks, srv.Sink()) // the service outlives the publisher: see runPub
	}
	for _, ep := range c.endpoints {
		eo := append([]endpoint.Option{endpoint.WithLogger(logger)}, c.pgm.options()...)
		if c.hwm > 0 {
			eo = append(eo, endpoint.WithSendHWM(c.hwm))
		}
		s, err := endpoint.Sink(ep, eo...)
		if err != nil {
			for _, s := range sinks {
				s.Close()
			}
			return nil, nil, err
		}
		sinks = append(sinks, s)
	}
	opts = append(opts, publisher.WithSink(sinks...), publisher.WithHeartbeat(c.heartbeat), publisher.WithFlushDelay(c.flushDelay))
	opts = append(opts, publisher.WithMaxBatch(c.maxBatch))
	pub, err := publisher.New(opts...) // owns the sinks: it closes them if it fails
	if err != nil {
		return nil, nil, err
	}
	return pub, srv, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// endpointsOf returns the endpoints p publishes on, but skip.
func endpointsOf(p *publisher.Publisher, skip string) []string {
	var out []string
	for _, s := range p.Stats().Sinks {
		if s.Endpoint != skip {
			out = append(out, s.Endpoint)
		}
	}
	return out
}

func sinkDrops(s publisher.Stats) uint64 {
	var n uint64
	for _, k := range s.Sinks {
		n += k.Dropped
	}
	return n
}

func rateString(r float64) string {
	switch {
	case r == 0:
		return "full speed"
	case r < 1:
		return strconv.FormatFloat(r, 'g', 3, 64) + " ticks/s"
	}
	return count(uint64(r)) + " ticks/s"
}

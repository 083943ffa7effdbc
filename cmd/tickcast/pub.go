package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/metrics"
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
	feed       feedFlags // PGM settings: zero (the demo's) means the defaults
	recovery   recoveryFlags
}

// maxSubscribersWait bounds --subscribers.
const maxSubscribersWait = 1_000_000

// pointToPoint reports whether an endpoint's transport knows its
// subscribers (tcp, ipc, inproc, bound or connecting), as multicast cannot.
func pointToPoint(ep string) bool {
	_, bare := endpoint.SplitMode(ep)
	for _, s := range []string{"tcp://", "ipc://", "inproc://"} {
		if strings.HasPrefix(bare, s) {
			return true
		}
	}
	return false
}

// requestReply reports whether a recovery service can answer on ep: tcp://
// or ipc://.
func requestReply(ep string) bool {
	_, bare := endpoint.SplitMode(ep)
	return strings.HasPrefix(bare, "tcp://") || strings.HasPrefix(bare, "ipc://")
}

func runPub(ctx context.Context, e *env, args []string) (int, error) {
	var c pubConfig
	var endpoints listFlag
	fs := newFlags(e, "pub", "pub --endpoint ENDPOINT [--endpoint ENDPOINT ...] [--symbols N] [--rate NUM] [--count N | --duration DURATION]")
	fs.Var(&endpoints, "endpoint", "`endpoint` to publish on, repeatable: tcp://host:port (binds; port 0 or *: any), ipc://path, epgm://iface;group:port, pgm://iface;group:port; >tcp://host:port connects instead (to a subscriber that binds, or a zmq_proxy's XSUB)")
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
	c.feed.register(fs, false)
	c.recovery.register(fs.FlagSet, "recovery", "also serve the feed's recent history to subscribers that lost some on this `endpoint` (binds): tcp://host:port or ipc://path")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this `file`")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	c.endpoints = endpoints
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
		e.notice("serving recovery on %s (%v, %s)", skip, c.recovery.retention.age, sizeString(c.recovery.retention.bytes))
	}
	e.notice("publishing %s symbols at %s to %v (session %016x)",
		count(uint64(c.symbols)), rateString(c.rate), endpointsOf(pub, skip), pub.Session())

	cs := []prometheus.Collector{metrics.NewPublisher(pub)}
	if srv != nil {
		cs = append(cs, metrics.NewRecovery(srv))
	}
	stopMetrics, err := e.serveMetrics(c.feed.metrics, cs...)
	if err != nil {
		pub.Close()
		return 0, err
	}
	defer stopMetrics()
	stopStatus := e.statusLine(c.feed.status, func() string {
		s := pub.Stats()
		return fmt.Sprintf("published %s ticks in %s messages, %s dropped for slow subscribers",
			count(s.Published), count(s.Messages), count(sinkDrops(s)))
	})
	sleep(ctx, *delay)
	if *waitSubs > 0 {
		e.notice("waiting for %s subscribers", count(uint64(*waitSubs)))
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
	fmt.Fprintf(e.stdout, "published %s ticks in %s messages (%s bytes) in %v: %s ticks/s\n",
		count(s.Published), count(s.Messages), count(s.Bytes), elapsed.Round(time.Millisecond), count(uint64(achieved)))
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
			fmt.Fprintf(e.stdout, "  %s: %s subscribers at the end, %s message copies dropped for slow subscribers\n",
				k.Endpoint, count(uint64(peers[k.Endpoint])), count(k.Dropped))
		} else {
			fmt.Fprintf(e.stdout, "  %s: multicast, %s messages dropped ahead of the rate limit\n", k.Endpoint, count(k.Dropped))
		}
	}
	if srv != nil {
		// Subscribers may ask for the last ticks after the end of the
		// session: the service answers a while longer.
		if c.recovery.linger > 0 {
			e.notice("serving recovery for %v more", c.recovery.linger)
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
		c.feed.check(),
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
		eo := append([]endpoint.Option{endpoint.WithLogger(logger)}, c.feed.pgm.options()...)
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

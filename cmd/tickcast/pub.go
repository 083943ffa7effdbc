package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/publisher"
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
}

// pgmFlags are the PGM settings shared by pub, sub and demo.
type pgmFlags struct {
	rate     int64 // kbit/s
	recovery time.Duration
	nak      string // BACKOFF,REPEAT,RDATA
}

func (p *pgmFlags) register(fs *flag.FlagSet) {
	fs.Int64Var(&p.rate, "pgm-rate", endpoint.DefaultPGMRate,
		"epgm/pgm rate limit in kbit/s (ZMQ_RATE); subscribers size their window with it too")
	fs.DurationVar(&p.recovery, "pgm-recovery", endpoint.DefaultPGMRecovery,
		"epgm/pgm recovery interval (ZMQ_RECOVERY_IVL): how long data stays repairable")
	fs.StringVar(&p.nak, "pgm-nak", "",
		"epgm/pgm subscriber repair timers BACKOFF,REPEAT,RDATA, e.g. 1ms,10ms,10ms (default libzmq's: 50ms,200ms,200ms): the tail latency under loss")
}

func (p *pgmFlags) options() ([]endpoint.Option, error) {
	var opts []endpoint.Option
	if p.rate > 0 {
		opts = append(opts, endpoint.WithRate(p.rate))
	}
	if p.recovery > 0 {
		opts = append(opts, endpoint.WithRecoveryInterval(p.recovery))
	}
	if p.nak != "" {
		d, err := p.timers()
		if err != nil {
			return nil, err
		}
		opts = append(opts, endpoint.WithNAKTimers(d[0], d[1], d[2]))
	}
	return opts, nil
}

// timers parses --pgm-nak: BACKOFF[,REPEAT[,RDATA]], zero for the default.
func (p *pgmFlags) timers() ([3]time.Duration, error) {
	var d [3]time.Duration
	parts := strings.Split(p.nak, ",")
	if len(parts) > 3 {
		return d, fmt.Errorf("%w: --pgm-nak %q: BACKOFF,REPEAT,RDATA", errUsage, p.nak)
	}
	for i, s := range parts {
		v, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || v < 0 {
			return d, fmt.Errorf("%w: --pgm-nak %q: %q is not a duration", errUsage, p.nak, s)
		}
		d[i] = v
	}
	return d, nil
}

func runPub(ctx context.Context, e *env, args []string) (int, error) {
	var c pubConfig
	var endpoints listFlag
	fs := newFlags(e, "pub", "pub --endpoint E [--endpoint E2 ...] [--symbols N] [--rate R] [--count N | --duration D]")
	fs.Var(&endpoints, "endpoint", "endpoint to publish on, repeatable: tcp://host:port (bind), ipc://path, epgm://iface;group:port, pgm://iface;group:port")
	fs.IntVar(&c.symbols, "symbols", 50, "instruments in the simulated market (one topic each)")
	fs.Float64Var(&c.rate, "rate", 10_000, "ticks per second; 0 publishes as fast as possible")
	fs.Int64Var(&c.count, "count", 0, "stop after this many ticks (0: no limit)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: no limit)")
	delay := fs.Duration("delay", 0, "wait this long before the first tick (heartbeats flow): time for subscribers to join")
	fs.IntVar(&c.maxBatch, "batch", publisher.DefaultMaxBatch, "most ticks in one message")
	fs.DurationVar(&c.flushDelay, "flush-delay", 0, "let a batch wait this long for more ticks (0: never wait)")
	fs.DurationVar(&c.heartbeat, "heartbeat", publisher.DefaultHeartbeat, "heartbeat interval")
	fs.IntVar(&c.hwm, "hwm", 0, "messages queued per subscriber before dropping for it (0: the default, 10,000)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the simulated market")
	c.pgm.register(fs)
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	stopProfile, err := profile(*cpuprofile)
	if err != nil {
		return 0, err
	}
	defer stopProfile()
	c.endpoints = endpoints
	if err := e.setLogLevel(*logLevel); err != nil {
		return 0, err
	}
	if err := c.validate(); err != nil {
		return 0, err
	}

	pub, err := c.open(e.logger)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(e.stderr, "publishing %d symbols at %s to %v (session %016x)\n",
		c.symbols, rateString(c.rate), endpointsOf(pub), pub.Session())

	stopStatus := e.statusLine(func() string {
		s := pub.Stats()
		return fmt.Sprintf("published %s ticks in %s messages, %s dropped for slow subscribers",
			count(s.Published), count(s.Messages), count(sinkDrops(s)))
	})
	sleep(ctx, *delay)
	start := time.Now()
	err = c.simulate(ctx, pub)
	elapsed := time.Since(start)
	stopStatus()
	if cerr := pub.Close(); err == nil {
		err = cerr
	}
	s := pub.Stats()
	fmt.Fprintf(e.stdout, "published %d ticks in %d messages (%d bytes) in %v: %s ticks/s\n",
		s.Published, s.Messages, s.Bytes, elapsed.Round(time.Millisecond), count(uint64(float64(s.Published)/elapsed.Seconds())))
	for _, k := range s.Sinks {
		if k.Peers >= 0 {
			fmt.Fprintf(e.stdout, "  %s: %d subscribers at close, %d message copies dropped for slow subscribers\n", k.Endpoint, k.Peers, k.Dropped)
		} else {
			fmt.Fprintf(e.stdout, "  %s: multicast, %d messages dropped ahead of the rate limit\n", k.Endpoint, k.Dropped)
		}
	}
	if s.Rejected > 0 {
		fmt.Fprintf(e.stdout, "  %d ticks refused by a full publisher queue\n", s.Rejected)
	}
	return exitOK, err
}

func (c *pubConfig) validate() error {
	switch {
	case len(c.endpoints) == 0:
		return fmt.Errorf("%w: at least one --endpoint is needed", errUsage)
	case c.symbols < 1:
		return fmt.Errorf("%w: --symbols must be at least 1", errUsage)
	case c.rate < 0:
		return fmt.Errorf("%w: --rate must not be negative", errUsage)
	case c.count < 0 || c.duration < 0:
		return fmt.Errorf("%w: --count and --duration must not be negative", errUsage)
	}
	return nil
}

// open binds the endpoints and starts a publisher on them.
func (c *pubConfig) open(logger *slog.Logger) (*publisher.Publisher, error) {
	opts := []publisher.Option{publisher.WithLogger(logger)}
	var sinks []publisher.Sink
	for _, ep := range c.endpoints {
		po, err := c.pgm.options()
		if err != nil {
			return nil, err
		}
		eo := append([]endpoint.Option{endpoint.WithLogger(logger)}, po...)
		if c.hwm > 0 {
			eo = append(eo, endpoint.WithSendHWM(c.hwm))
		}
		s, err := endpoint.Sink(ep, eo...)
		if err != nil {
			for _, s := range sinks {
				s.Close()
			}
			return nil, err
		}
		sinks = append(sinks, s)
	}
	opts = append(opts, publisher.WithSink(sinks...), publisher.WithHeartbeat(c.heartbeat), publisher.WithFlushDelay(c.flushDelay))
	opts = append(opts, publisher.WithMaxBatch(c.maxBatch))
	pub, err := publisher.New(opts...)
	if err != nil {
		for _, s := range sinks {
			s.Close()
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return pub, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func endpointsOf(p *publisher.Publisher) []string {
	var out []string
	for _, s := range p.Stats().Sinks {
		out = append(out, s.Endpoint)
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
	if r == 0 {
		return "full speed"
	}
	return count(uint64(r)) + " ticks/s"
}

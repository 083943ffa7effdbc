package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/relay"
	"github.com/tickcast/tickcast/schema"
)

func runRelay(ctx context.Context, e *env, args []string) (int, error) {
	var to listFlag
	fs := newFlags(e, "relay", "relay --from E --to E2 [--to E3 ...] [--drop F]")
	from := fs.String("from", "", "endpoint to read the feed from (connects): tcp://host:port, ipc://path, epgm://iface;group:port, pgm://iface;group:port")
	fs.Var(&to, "to", "endpoint to forward to (binds), repeatable")
	drop := fs.Float64("drop", 0, "fraction of tick batches to drop on purpose, 0..1, to test loss reporting")
	seed := fs.Uint64("seed", 1, "seed of the random drops")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	if err := e.setLogLevel(*logLevel); err != nil {
		return 0, err
	}
	if *from == "" || len(to) == 0 {
		return 0, fmt.Errorf("%w: --from and at least one --to are needed", errUsage)
	}
	for _, err := range []error{
		checkEndpoints("from", false, *from),
		checkEndpoints("to", true, to...),
		checkFloat("drop", *drop, 0, 1, "want a fraction from 0 to 1"),
		checkDuration("duration", *duration, 0, math.MaxInt64, "must not be negative"),
	} {
		if err != nil {
			return 0, err
		}
	}
	r, sinks, err := openRelay(e, *from, to, *drop, *seed)
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, s := range sinks {
			s.Close()
		}
	}()
	var eps []string
	for _, s := range sinks {
		eps = append(eps, s.Stats().Endpoint)
	}
	fmt.Fprintf(e.stderr, "relaying %s to %v, dropping %.2f%% of batches\n", *from, eps, *drop*100)
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	stopStatus := e.statusLine(func() string {
		s := r.Stats()
		return fmt.Sprintf("forwarded %s messages, dropped %s batches (%s ticks)", count(s.Forwarded), count(s.Dropped), count(s.DroppedTicks))
	})
	err = r.Run(ctx)
	stopStatus()
	s := r.Stats()
	fmt.Fprintf(e.stdout, "forwarded %d messages; dropped %d batches holding %d ticks\n", s.Forwarded, s.Dropped, s.DroppedTicks)
	return exitOK, err
}

// openRelay connects to from and binds every to. A bad endpoint is an
// error wrapping endpoint.ErrEndpoint (usage); other errors are failures.
func openRelay(e *env, from string, to []string, drop float64, seed uint64) (*relay.Relay, []publisher.Sink, error) {
	// The sinks first: binding is what can fail (an address in use), and a
	// failure then leaves nothing connected and nothing said about it.
	var sinks []publisher.Sink
	closeSinks := func() {
		for _, s := range sinks {
			s.Close()
		}
	}
	for _, ep := range to {
		// A relay forwards bursts as they come: give subscribers room.
		s, err := endpoint.Sink(ep, endpoint.WithLogger(e.logger), endpoint.WithSendHWM(100_000), endpoint.WithLinger(2*time.Second))
		if err != nil {
			closeSinks()
			return nil, nil, err
		}
		sinks = append(sinks, s)
	}
	src, err := endpoint.Source(from, endpoint.WithLogger(e.logger))
	if err != nil {
		closeSinks()
		return nil, nil, err
	}
	var dropFn func([]byte, *schema.Message) bool
	if drop > 0 {
		rng := rand.New(rand.NewPCG(seed, seed+1))
		dropFn = func([]byte, *schema.Message) bool { return rng.Float64() < drop }
	}
	return relay.New(src, dropFn, sinks...), sinks, nil
}

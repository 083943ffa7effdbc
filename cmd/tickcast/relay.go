package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/metrics"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/relay"
	"github.com/tickcast/tickcast/schema"
)

// relayConfig is what relaying a feed takes.
type relayConfig struct {
	from   string
	to     []string
	topics []string // prefixes; none: every topic
	drop   float64
	seed   uint64
	feed   feedFlags // PGM settings: zero (the demo's) means the defaults
}

func runRelay(ctx context.Context, e *env, args []string) (int, error) {
	var c relayConfig
	var to, topics listFlag
	fs := newFlags(e, "relay", "relay --from ENDPOINT --to ENDPOINT [--to ENDPOINT ...] [--topic PREFIX ...] [--drop NUM] [--json]")
	fs.StringVar(&c.from, "from", "", "`endpoint` to read the feed from (connects; @tcp://... binds): tcp://host:port, ipc://path, epgm://iface;group:port, pgm://iface;group:port")
	fs.Var(&to, "to", "`endpoint` to forward to (binds; >tcp://... connects), repeatable")
	fs.Var(&topics, "topic", "topic `prefix` to forward, repeatable; none (or '') means every topic (heartbeats and session ends are always forwarded)")
	fs.Float64Var(&c.drop, "drop", 0, "fraction of tick batches to drop on purpose, 0..1, to test loss reporting")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the random drops")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object")
	c.feed.register(fs, true)
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	c.to, c.topics = to, topics
	if slices.Contains(c.topics, "") {
		c.topics = nil // '' is every topic
	}
	if c.from == "" || len(c.to) == 0 {
		return 0, fmt.Errorf("%w: --from and at least one --to are needed", errUsage)
	}
	for _, err := range []error{
		checkEndpoints("from", false, c.from),
		checkEndpoints("to", true, c.to...),
		checkFloat("drop", c.drop, 0, 1, "want a fraction from 0 to 1"),
		checkDuration("duration", *duration, 0, math.MaxInt64, "must not be negative"),
		c.feed.check(),
	} {
		if err != nil {
			return 0, err
		}
	}
	r, sinks, err := c.open(e)
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
	what := "every topic"
	if len(c.topics) > 0 {
		what = "topics " + strings.Join(c.topics, ", ")
	}
	from := c.from
	if mode, _ := endpoint.SplitMode(c.from); mode == endpoint.Bind {
		from = "@" + r.Source().Endpoint() // where it listens: publishers connect to it
	}
	e.notice("relaying %s of %s to %v, dropping %.2f%% of batches", what, from, eps, c.drop*100)
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	stopMetrics, err := e.serveMetrics(c.feed.metrics, metrics.NewRelay(r))
	if err != nil {
		return 0, err
	}
	defer stopMetrics()
	stopStatus := e.statusLine(c.feed.status, func() string {
		s := r.Stats()
		return fmt.Sprintf("forwarded %s messages (%s ticks), dropped %s batches (%s ticks)",
			count(s.Forwarded), count(s.Ticks), count(s.Dropped), count(s.DroppedTicks))
	})
	start := time.Now()
	err = r.Run(ctx)
	elapsed := time.Since(start)
	stopStatus()
	sum := relaySummaryOf(c, r.Stats(), sinks, elapsed)
	if *asJSON {
		json.NewEncoder(e.stdout).Encode(sum)
	} else {
		sum.write(e)
	}
	return exitOK, err
}

// relaySummary is what relay prints at exit; with --json, as one object.
type relaySummary struct {
	Type      string   `json:"type"`
	From      string   `json:"from"`
	Topics    []string `json:"topics"` // the prefixes forwarded; empty: every topic
	Forwarded uint64   `json:"forwarded"`
	Ticks     uint64   `json:"ticks"`
	// Filtered counts messages on topics not forwarded: those a transport
	// that cannot filter upstream (PGM) delivered anyway.
	Filtered     uint64             `json:"filtered"`
	Dropped      uint64             `json:"dropped"`
	DroppedTicks uint64             `json:"dropped_ticks"`
	Seconds      float64            `json:"seconds"`
	To           []relaySinkSummary `json:"to"`
}

type relaySinkSummary struct {
	Endpoint string `json:"endpoint"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	// Dropped counts message copies not delivered to a slow subscriber
	// (over its high-water mark) or ahead of a multicast rate limit.
	Dropped uint64 `json:"dropped"`
}

func relaySummaryOf(c relayConfig, s relay.Stats, sinks []publisher.Sink, elapsed time.Duration) relaySummary {
	sum := relaySummary{
		Type: "summary", From: c.from, Topics: c.topics, Forwarded: s.Forwarded, Ticks: s.Ticks, Filtered: s.Filtered,
		Dropped: s.Dropped, DroppedTicks: s.DroppedTicks, Seconds: elapsed.Seconds(),
	}
	if sum.Topics == nil {
		sum.Topics = []string{}
	}
	for _, k := range sinks {
		st := k.Stats()
		sum.To = append(sum.To, relaySinkSummary{Endpoint: st.Endpoint, Messages: st.Messages, Bytes: st.Bytes, Dropped: st.Dropped})
	}
	return sum
}

func (s relaySummary) write(e *env) {
	fmt.Fprintf(e.stdout, "forwarded %s messages (%s ticks) in %.1fs; dropped %s batches holding %s ticks",
		count(s.Forwarded), count(s.Ticks), s.Seconds, count(s.Dropped), count(s.DroppedTicks))
	if s.Filtered > 0 {
		fmt.Fprintf(e.stdout, "; %s messages on other topics not forwarded", count(s.Filtered))
	}
	fmt.Fprintln(e.stdout)
	for _, k := range s.To {
		fmt.Fprintf(e.stdout, "  %s: %s messages, %s bytes, %s message copies dropped for slow subscribers or the rate limit\n",
			k.Endpoint, count(k.Messages), count(k.Bytes), count(k.Dropped))
	}
}

// open connects to c.from and binds every c.to. A bad endpoint is an error
// wrapping endpoint.ErrEndpoint (usage); other errors are failures.
func (c *relayConfig) open(e *env) (*relay.Relay, []publisher.Sink, error) {
	// The sinks first: binding is what can fail (an address in use), and a
	// failure then leaves nothing connected and nothing said about it.
	var sinks []publisher.Sink
	closeSinks := func() {
		for _, s := range sinks {
			s.Close()
		}
	}
	pgm := c.feed.pgm.options()
	for _, ep := range c.to {
		// A relay forwards bursts as they come: give subscribers room.
		opts := append([]endpoint.Option{endpoint.WithLogger(e.logger), endpoint.WithSendHWM(100_000), endpoint.WithLinger(2 * time.Second)}, pgm...)
		s, err := endpoint.Sink(ep, opts...)
		if err != nil {
			closeSinks()
			return nil, nil, err
		}
		sinks = append(sinks, s)
	}
	src, err := endpoint.Source(c.from, append([]endpoint.Option{endpoint.WithLogger(e.logger)}, pgm...)...)
	if err != nil {
		closeSinks()
		return nil, nil, err
	}
	var dropFn func([]byte, *schema.Message) bool
	if c.drop > 0 {
		rng := rand.New(rand.NewPCG(c.seed, c.seed+1))
		dropFn = func([]byte, *schema.Message) bool { return rng.Float64() < c.drop }
	}
	r := relay.New(src, dropFn, sinks...)
	r.SetTopics(c.topics...)
	r.SetLogger(e.logger)
	return r, sinks, nil
}

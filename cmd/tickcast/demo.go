package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/relay"
	"github.com/tickcast/tickcast/subscriber"
)

// demoSub is one of the demo's subscribers.
type demoSub struct {
	name      string
	endpoints []string
	topics    []string
	show      func(*subscriber.Event) bool // which events to print live

	sub   *subscriber.Subscriber
	tally *tally
	ended chan struct{} // closed at the end of the session (or failure)
	err   error
}

// demoLines returns the endpoints of the demo's three lines: A and B, which
// the publisher sends the feed on, and C, the lossy copy of B a relay makes.
// Multicast groups and ports are drawn at random so that demos and tests
// running at once do not hear each other; the interface is always
// 127.0.0.1, and the TTL 1.
func demoLines(transport string) (a, b, c string, err error) {
	switch transport {
	case "epgm":
		group, port := 1+rand.IntN(254), 20_000+rand.IntN(30_000)
		ep := func(i int) string { return fmt.Sprintf("epgm://127.0.0.1;239.192.%d.%d:%d", group, i, port+i) }
		return ep(1), ep(2), ep(3), nil
	case "tcp":
		return "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", nil
	}
	return "", "", "", fmt.Errorf("%w: --transport %q: epgm or tcp", errUsage, transport)
}

// demoConfig is what the demo's flags ask for.
type demoConfig struct {
	duration            time.Duration
	rate                float64
	symbols             int
	drop                float64
	lineA, lineB, lineC string // the endpoints to open, from demoLines
}

// demo is one run of the demo: the publisher on lines A and B, the relay
// from B to C, and the subscribers.
type demo struct {
	cfg demoConfig
	out *demoOut

	pc                  pubConfig
	pub                 *publisher.Publisher
	relay               *relay.Relay
	stopRelay           func()     // stops the relay and closes its sink
	lineA, lineB, lineC string     // the endpoints opened (tcp chooses ports)
	subs                []*demoSub // trader, risk and lossy
	readers             sync.WaitGroup
}

// runDemo runs a simulated market through a publisher, a lossy relay and
// three subscribers on loopback, prints what they see, and checks that
// each received exactly what it should have.
func runDemo(ctx context.Context, e *env, args []string) (int, error) {
	cfg, err := parseDemoFlags(e, args)
	if err != nil {
		return 0, err
	}
	d := &demo{cfg: cfg, out: &demoOut{w: e.stdout, start: time.Now()}}
	if err := d.startFeed(ctx, e); err != nil {
		return 0, err
	}
	defer d.stopRelay()
	d.subs = demoSubscribers(d.out, d.lineA, d.lineC)
	d.printSetup()
	defer d.closeSubscribers()
	if err := d.startSubscribers(ctx, e); err != nil {
		d.pub.Close()
		return 0, err
	}
	if err := d.awaitLines(ctx); err != nil {
		d.pub.Close()
		if ctx.Err() != nil {
			return exitOK, nil
		}
		return exitFailure, err
	}
	closeErr := d.runMarket(ctx)
	if ctx.Err() != nil {
		return exitOK, nil
	}
	if !d.report() {
		return exitFailure, closeErr
	}
	return exitOK, closeErr
}

// parseDemoFlags parses and checks the demo's flags, sets the logger,
// and draws the endpoints of its lines.
func parseDemoFlags(e *env, args []string) (demoConfig, error) {
	fs := newFlags(e, "demo", "demo [--transport epgm|tcp] [--duration DURATION] [--rate NUM] [--symbols N] [--drop NUM]")
	transport := fs.String("transport", "epgm", "`transport`: epgm (multicast on 127.0.0.1) or tcp")
	dur := fs.Duration("duration", 4*time.Second, "how long the market runs (positive)")
	rate := fs.Float64("rate", 50_000, "ticks per second, 0.001 to 1e9")
	symbols := fs.Int("symbols", 50, "instruments in the simulated market, 2 (AAPL and MSFT, the trader's) to 1000000")
	drop := fs.Float64("drop", 0.02, "fraction of batches the lossy line drops, 0 to 1")
	fs.setDefault("log-level", "error") // the demo's output is the feed
	if err := parse(fs, args); err != nil {
		return demoConfig{}, err
	}
	for _, err := range []error{
		checkDuration("duration", *dur, 1, math.MaxInt64, "must be positive"),
		checkRate("rate", *rate, false),
		checkInt("symbols", int64(*symbols), 2, maxSymbols, "want 2 (AAPL and MSFT, the trader's) to 1000000"),
		checkFloat("drop", *drop, 0, 1, "want a fraction from 0 to 1"),
	} {
		if err != nil {
			return demoConfig{}, err
		}
	}
	a, b, c, err := demoLines(*transport)
	if err != nil {
		return demoConfig{}, err
	}
	return demoConfig{duration: *dur, rate: *rate, symbols: *symbols, drop: *drop, lineA: a, lineB: b, lineC: c}, nil
}

// startFeed opens the publisher, which sends the feed on lines A and B,
// and the relay, which copies B to C dropping some batches: a lossy line.
// It starts the relay, which stopRelay stops, and records the endpoints
// opened. On failure nothing is left open.
func (d *demo) startFeed(ctx context.Context, e *env) error {
	d.pc = pubConfig{endpoints: []string{d.cfg.lineA, d.cfg.lineB}, symbols: d.cfg.symbols, rate: d.cfg.rate,
		duration: d.cfg.duration, heartbeat: 250 * time.Millisecond, seed: 42, maxBatch: publisher.DefaultMaxBatch}
	pub, _, err := d.pc.open(e)
	if err != nil {
		return err
	}
	eps := endpointsOf(pub, "") // with the ports tcp chose
	d.lineA, d.lineB = eps[0], eps[1]
	rc := relayConfig{from: d.lineB, to: []string{d.cfg.lineC}, drop: d.cfg.drop, seed: 7}
	r, relaySinks, err := rc.open(e)
	if err != nil {
		pub.Close()
		return err
	}
	d.pub, d.relay = pub, r
	d.lineC = relaySinks[0].Stats().Endpoint
	relayCtx, cancel := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); r.Run(relayCtx) }()
	d.stopRelay = func() {
		cancel()
		<-relayDone
		relaySinks[0].Close()
	}
	return nil
}

// demoSubscribers returns the demo's subscribers, not yet open: trader,
// which prints a sample of its ticks, risk, and lossy, which prints its
// first gaps.
func demoSubscribers(w *demoOut, lineA, lineC string) []*demoSub {
	var lastShown time.Time
	gaps := 0
	return []*demoSub{
		{name: "trader", endpoints: []string{lineA}, topics: []string{"AAPL", "MSFT"},
			show: func(ev *subscriber.Event) bool { // a sample of its ticks
				if ev.Kind != subscriber.EventTicks || ev.RecvTime.Sub(lastShown) < 150*time.Millisecond {
					return false
				}
				lastShown = ev.RecvTime
				return true
			}},
		{name: "risk", endpoints: []string{lineA, lineC}},
		{name: "lossy", endpoints: []string{lineC}, show: func(ev *subscriber.Event) bool { // its first gaps
			if ev.Kind != subscriber.EventGap {
				return false
			}
			if gaps++; gaps == 11 {
				w.printf("%8s  %-7s %s\n", "", "lossy", "... further gaps are counted in the summary")
			}
			return gaps <= 10
		}},
	}
}

// printSetup prints what the demo runs: the market, the lines and the
// subscribers.
func (d *demo) printSetup() {
	w := d.out
	w.printf("tickcast demo: a simulated market of %s instruments at %s ticks/s for %v, on loopback\n", count(uint64(d.cfg.symbols)), count(uint64(d.cfg.rate)), d.cfg.duration)
	w.printf("  line A  %s  the feed\n", d.lineA)
	w.printf("  line B  %s  the same feed (one session: A/B lines)\n", d.lineB)
	w.printf("  line C  %s  line B through a relay that drops %.0f%% of batches\n", d.lineC, d.cfg.drop*100)
	w.printf("  subscribers  trader: AAPL, MSFT on A   risk: everything on A and C   lossy: everything on C\n\n")
}

// startSubscribers opens the subscribers and starts a reader for each,
// which closeSubscribers stops. On failure the subscribers opened so far
// are left for closeSubscribers.
func (d *demo) startSubscribers(ctx context.Context, e *env) error {
	for _, s := range d.subs {
		s.tally, s.ended = newTally(), make(chan struct{})
		// A generous arbitration window: the demo claims exactness, and it
		// runs three subscribers, a relay and a publisher on one machine
		// whose lines may lag each other by tens of milliseconds.
		sub, err := openSubscriber(ctx, e, s.endpoints, s.topics, []subscriber.Option{subscriber.WithArbitration(time.Second)})
		if err != nil {
			return err
		}
		s.sub = sub
		d.readers.Add(1)
		go func() { defer d.readers.Done(); s.run(d.out) }()
	}
	return nil
}

// closeSubscribers closes the subscribers opened, the last first, and
// waits for their readers to return.
func (d *demo) closeSubscribers() {
	for i := len(d.subs) - 1; i >= 0; i-- {
		if s := d.subs[i]; s.sub != nil {
			s.sub.Close()
		}
	}
	d.readers.Wait()
}

// awaitLines waits until every subscriber hears the feed on every line
// (the publisher, or the relay, has its subscriptions; multicast lines
// have joined), so that the counts can be checked against what was
// published. It gives up after 10 seconds, or when ctx ends.
func (d *demo) awaitLines(ctx context.Context) error {
	for deadline := time.Now().Add(10 * time.Second); ; {
		waiting := ""
		for _, s := range d.subs {
			if !s.allLinesActive() {
				waiting = s.name
			}
		}
		if waiting == "" {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("subscriber %s did not hear the feed on every line", waiting)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runMarket runs the simulated market for its duration, closes the
// publisher, and waits for every subscriber to hear the end of the session
// (10 seconds at most each) before closing it. It returns the publisher's
// Close error.
func (d *demo) runMarket(ctx context.Context) error {
	d.out.printf("%8s  %-7s %s\n", "time", "sub", "what")
	d.pc.simulate(ctx, d.pub)
	err := d.pub.Close()
	for _, s := range d.subs {
		select {
		case <-s.ended:
		case <-time.After(10 * time.Second):
			s.err = errors.New("no end of session")
		}
		s.sub.Close()
	}
	d.readers.Wait()
	return err
}

// report prints the summary, and the checks that make it a demonstration;
// it reports whether every subscriber ran and every check passed.
func (d *demo) report() bool {
	ps := d.pub.Stats()
	tableOK := d.printTable(ps)
	checksOK := d.checkClaims(ps)
	return tableOK && checksOK
}

// printTable prints what was published and what each subscriber received,
// with the errors of the subscribers that failed; it reports whether none
// did.
func (d *demo) printTable(ps publisher.Stats) bool {
	w := d.out
	w.printf("\npublished %s ticks in %s messages (%.1f ticks per message), each on lines A and B\n\n",
		count(ps.Published), count(ps.Messages), float64(ps.Published)/float64(max(ps.Messages, 1)))
	w.printf("%-8s %-10s %-6s %12s %6s %9s %9s %9s %9s\n", "sub", "topics", "lines", "ticks", "gaps", "missing", "p50", "p99", "max")
	ok := true
	for _, s := range d.subs {
		st := s.sub.Stats()
		l := latencyOf(s.tally.lat)
		topics := "all"
		if len(s.topics) > 0 {
			topics = strings.Join(s.topics, ",")
		}
		w.printf("%-8s %-10s %-6s %12s %6s %9s %9s %9s %9s\n", s.name, topics, lineNames(s.endpoints, d.lineA, d.lineC),
			count(s.tally.ticks), count(st.Gaps), count(st.Missing), duration(l.P50), duration(l.P99), duration(l.Max))
		if s.err != nil {
			w.printf("  %s: %v\n", s.name, s.err)
			ok = false
		}
	}
	w.printf("\n")
	return ok
}

// checkClaims checks and prints the demo's three claims: the trader
// received exactly its topics, risk every tick published, and lossy
// reported exactly what the relay dropped. It reports whether all hold.
func (d *demo) checkClaims(ps publisher.Stats) bool {
	ok := true
	check := func(good bool, format string, args ...any) {
		mark := "ok  "
		if !good {
			mark, ok = "FAIL", false
		}
		d.out.printf("%s %s\n", mark, fmt.Sprintf(format, args...))
	}
	trader, risk, lossy := d.subs[0], d.subs[1], d.subs[2]
	rs := d.relay.Stats()
	want := risk.tally.topics["AAPL"].Received + risk.tally.topics["MSFT"].Received
	check(trader.tally.ticks == want && len(trader.tally.topics) == 2,
		"trader received exactly AAPL and MSFT (%s ticks, %d topics)", count(trader.tally.ticks), len(trader.tally.topics))
	rst := risk.sub.Stats()
	check(risk.tally.ticks == ps.Published && rst.Gaps == 0 && rst.Lines[1].Missing == rs.DroppedTicks,
		"risk received every tick published (%s of %s): line C lost %s ticks, line A filled every one (A first with %s, C with %s)",
		count(risk.tally.ticks), count(ps.Published), count(rst.Lines[1].Missing), count(rst.Lines[0].Ticks), count(rst.Lines[1].Ticks))
	lst := lossy.sub.Stats()
	check(lst.Missing == rs.DroppedTicks && lossy.tally.ticks+lst.Missing == ps.Published,
		"the relay dropped %s batches (%s ticks) on line C; lossy, on C alone, reported %s gaps, %s ticks missing: exact",
		count(rs.Dropped), count(rs.DroppedTicks), count(lst.Gaps), count(lst.Missing))
	return ok
}

// lineNames names a subscriber's lines for the summary table.
func lineNames(endpoints []string, a, c string) string {
	var names []string
	for _, ep := range endpoints {
		switch ep {
		case a:
			names = append(names, "A")
		case c:
			names = append(names, "C")
		default:
			names = append(names, "B")
		}
	}
	return strings.Join(names, "+")
}

// run reads the subscriber until its session ends.
func (s *demoSub) run(w *demoOut) {
	defer close(s.ended)
	for {
		ev, err := s.sub.Next(context.Background())
		if err != nil {
			if !errors.Is(err, subscriber.ErrClosed) {
				s.err = err
			}
			return
		}
		s.tally.add(&ev)
		if s.show != nil && s.show(&ev) {
			w.event(s.name, &ev)
		}
		if ev.Kind == subscriber.EventSessionEnd {
			return
		}
	}
}

// allLinesActive reports whether the subscriber hears the feed on every line.
func (s *demoSub) allLinesActive() bool {
	for _, l := range s.sub.Stats().Lines {
		if l.State != subscriber.LineActive {
			return false
		}
	}
	return true
}

// demoOut serialises the demo's output and stamps it with the elapsed time.
type demoOut struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

// printf prints, one writer at a time.
func (d *demoOut) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.w, format, args...)
}

// event prints one of who's events, stamped with the time since the start.
func (d *demoOut) event(who string, ev *subscriber.Event) {
	at := time.Since(d.start).Seconds()
	var what string
	if ev.Kind == subscriber.EventTicks {
		t := &ev.Ticks[0]
		what = fmt.Sprintf("%-5s %-5s %10s x %-5s seq %-6d latency %s", ev.Topic, t.Kind,
			decimal(t.Price, t.PriceExp), decimal(t.Size, t.SizeExp), t.Seq, duration(ev.RecvTime.UnixNano()-t.EventTime))
	} else {
		what = strings.TrimPrefix(eventLine(ev), "-- ")
	}
	d.printf("%7.2fs  %-7s %s\n", at, who, what)
}

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

func runDemo(ctx context.Context, e *env, args []string) (int, error) {
	fs := newFlags(e, "demo", "demo [--transport epgm|tcp] [--duration D] [--rate R] [--symbols N] [--drop F]")
	transport := fs.String("transport", "epgm", "epgm (multicast on 127.0.0.1) or tcp")
	dur := fs.Duration("duration", 4*time.Second, "how long the market runs (positive)")
	rate := fs.Float64("rate", 50_000, "ticks per second, 0.001 to 1e9")
	symbols := fs.Int("symbols", 50, "instruments in the simulated market, 2 (AAPL and MSFT, the trader's) to 1000000")
	drop := fs.Float64("drop", 0.02, "fraction of batches the lossy line drops, 0 to 1")
	logLevel := fs.String("log-level", "error", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	if err := e.setLogLevel(*logLevel); err != nil {
		return 0, err
	}
	for _, err := range []error{
		checkDuration("duration", *dur, 1, math.MaxInt64, "must be positive"),
		checkRate("rate", *rate, false),
		checkInt("symbols", int64(*symbols), 2, maxSymbols, "want 2 (AAPL and MSFT, the trader's) to 1000000"),
		checkFloat("drop", *drop, 0, 1, "want a fraction from 0 to 1"),
	} {
		if err != nil {
			return 0, err
		}
	}
	lineA, lineB, lineC, err := demoLines(*transport)
	if err != nil {
		return 0, err
	}
	w := &demoOut{w: e.stdout, start: time.Now()}

	// The publisher sends the feed on lines A and B; a relay copies B to
	// C, dropping some batches: a lossy line.
	pc := pubConfig{endpoints: []string{lineA, lineB}, symbols: *symbols, rate: *rate,
		duration: *dur, heartbeat: 250 * time.Millisecond, seed: 42, maxBatch: publisher.DefaultMaxBatch}
	pub, err := pc.open(e.logger)
	if err != nil {
		return 0, err
	}
	eps := endpointsOf(pub) // with the ports tcp chose
	lineA, lineB = eps[0], eps[1]
	r, relaySinks, err := openRelay(e, lineB, []string{lineC}, *drop, 7)
	if err != nil {
		pub.Close()
		return 0, err
	}
	lineC = relaySinks[0].Stats().Endpoint
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); r.Run(relayCtx) }()
	defer func() {
		stopRelay()
		<-relayDone
		relaySinks[0].Close()
	}()

	var lastShown time.Time
	gaps := 0
	subs := []*demoSub{
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
	w.printf("tickcast demo: a simulated market of %d instruments at %s ticks/s for %v, on loopback\n", *symbols, count(uint64(*rate)), *dur)
	w.printf("  line A  %s  the feed\n", lineA)
	w.printf("  line B  %s  the same feed (one session: A/B lines)\n", lineB)
	w.printf("  line C  %s  line B through a relay that drops %.0f%% of batches\n", lineC, *drop*100)
	w.printf("  subscribers  trader: AAPL, MSFT on A   risk: everything on A and C   lossy: everything on C\n\n")

	var wg sync.WaitGroup
	for _, s := range subs {
		s.tally, s.ended = newTally(), make(chan struct{})
		// A generous arbitration window: the demo claims exactness, and it
		// runs three subscribers, a relay and a publisher on one machine
		// whose lines may lag each other by tens of milliseconds.
		s.sub, err = openSubscriber(ctx, e, s.endpoints, s.topics, []subscriber.Option{subscriber.WithArbitration(time.Second)})
		if err != nil {
			pub.Close()
			return 0, err
		}
		defer s.sub.Close()
		wg.Add(1)
		go func() { defer wg.Done(); s.run(w) }()
	}
	// Start the market once every subscriber hears the feed on every line
	// (the publisher, or the relay, has its subscriptions; multicast lines
	// have joined), so that the counts can be checked against what was
	// published.
	for deadline := time.Now().Add(10 * time.Second); ; {
		waiting := ""
		for _, s := range subs {
			if !s.allLinesActive() {
				waiting = s.name
			}
		}
		if waiting == "" {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			pub.Close()
			if ctx.Err() != nil {
				return exitOK, nil
			}
			return exitFailure, fmt.Errorf("subscriber %s did not hear the feed on every line", waiting)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.printf("%8s  %-7s %s\n", "time", "sub", "what")
	pc.simulate(ctx, pub)
	err = pub.Close()
	for _, s := range subs {
		select {
		case <-s.ended:
		case <-time.After(10 * time.Second):
			s.err = errors.New("no end of session")
		}
		s.sub.Close()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return exitOK, nil
	}

	// The summary, and the checks that make it a demonstration.
	ps := pub.Stats()
	w.printf("\npublished %s ticks in %s messages (%.1f ticks per message), each on lines A and B\n\n",
		count(ps.Published), count(ps.Messages), float64(ps.Published)/float64(max(ps.Messages, 1)))
	w.printf("%-8s %-10s %-6s %12s %6s %9s %9s %9s %9s\n", "sub", "topics", "lines", "ticks", "gaps", "missing", "p50", "p99", "max")
	ok := true
	for _, s := range subs {
		st := s.sub.Stats()
		l := latencyOf(s.tally.lat)
		topics := "all"
		if len(s.topics) > 0 {
			topics = strings.Join(s.topics, ",")
		}
		w.printf("%-8s %-10s %-6s %12s %6s %9s %9s %9s %9s\n", s.name, topics, lineNames(s.endpoints, lineA, lineC),
			count(s.tally.ticks), count(st.Gaps), count(st.Missing), duration(l.P50), duration(l.P99), duration(l.Max))
		if s.err != nil {
			w.printf("  %s: %v\n", s.name, s.err)
			ok = false
		}
	}
	w.printf("\n")
	check := func(good bool, format string, args ...any) {
		mark := "ok  "
		if !good {
			mark, ok = "FAIL", false
		}
		w.printf("%s %s\n", mark, fmt.Sprintf(format, args...))
	}
	trader, risk, lossy := subs[0], subs[1], subs[2]
	rs := r.Stats()
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
	if !ok {
		return exitFailure, err
	}
	return exitOK, err
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

func (d *demoOut) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.w, format, args...)
}

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

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/subscriber"
)

// demoSub is one of the demo's subscribers.
type demoSub struct {
	name     string
	endpoint string
	topics   []string
	show     func(*subscriber.Event) bool // which events to print live

	sub   *subscriber.Subscriber
	tally *tally
	ready chan struct{} // closed at the first message: connected and subscribed
	ended chan struct{} // closed at the end of the session (or failure)
	err   error
}

func runDemo(ctx context.Context, e *env, args []string) (int, error) {
	fs := newFlags(e, "demo", "demo [--duration D] [--rate R] [--symbols N] [--drop F]")
	dur := fs.Duration("duration", 4*time.Second, "how long the market runs")
	rate := fs.Float64("rate", 50_000, "ticks per second")
	symbols := fs.Int("symbols", 50, "instruments in the simulated market")
	drop := fs.Float64("drop", 0.02, "fraction of batches the lossy line drops")
	logLevel := fs.String("log-level", "error", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	if err := e.setLogLevel(*logLevel); err != nil {
		return 0, err
	}
	if *dur <= 0 || *rate <= 0 || *symbols < 2 || *drop < 0 || *drop > 1 {
		return 0, fmt.Errorf("%w: --duration, --rate positive; --symbols at least 2; --drop within 0..1", errUsage)
	}
	w := &demoOut{w: e.stdout, start: time.Now()}

	// A publisher on an ephemeral loopback port, and a relay from it to a
	// second port that drops some batches: a lossy line.
	pc := pubConfig{endpoints: []string{"tcp://127.0.0.1:0"}, symbols: *symbols, rate: *rate,
		duration: *dur, heartbeat: 250 * time.Millisecond, seed: 42, maxBatch: publisher.DefaultMaxBatch}
	pub, err := pc.open(e.logger)
	if err != nil {
		return 0, err
	}
	pubEP := endpointsOf(pub)[0]
	r, relaySinks, err := openRelay(e, pubEP, []string{"tcp://127.0.0.1:0"}, *drop, 7)
	if err != nil {
		pub.Close()
		return 0, err
	}
	lossyEP := relaySinks[0].Stats().Endpoint
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
		{name: "trader", endpoint: pubEP, topics: []string{"AAPL", "MSFT"},
			show: func(ev *subscriber.Event) bool { // a sample of its ticks
				if ev.Kind != subscriber.EventTicks || ev.RecvTime.Sub(lastShown) < 150*time.Millisecond {
					return false
				}
				lastShown = ev.RecvTime
				return true
			}},
		{name: "risk", endpoint: pubEP},
		{name: "lossy", endpoint: lossyEP, show: func(ev *subscriber.Event) bool { // its first gaps
			if ev.Kind != subscriber.EventGap {
				return false
			}
			if gaps++; gaps == 13 {
				w.printf("%8s  %-7s %s\n", "", "lossy", "... further gaps are counted in the summary")
			}
			return gaps <= 12
		}},
	}
	w.printf("tickcast demo: a simulated market of %d instruments at %s ticks/s for %v, on loopback\n", *symbols, count(uint64(*rate)), *dur)
	w.printf("  publisher     %s\n", pubEP)
	w.printf("  lossy line    %s  (a relay that drops %.0f%% of batches)\n", lossyEP, *drop*100)
	w.printf("  subscribers   trader: AAPL, MSFT   risk: every topic   lossy: every topic, through the lossy line\n\n")

	var wg sync.WaitGroup
	for _, s := range subs {
		s.tally, s.ready, s.ended = newTally(), make(chan struct{}), make(chan struct{})
		s.sub, err = openSubscriber(ctx, e, []string{s.endpoint}, s.topics, 0)
		if err != nil {
			pub.Close()
			return 0, err
		}
		defer s.sub.Close()
		wg.Add(1)
		go func() { defer wg.Done(); s.run(w) }()
	}
	// Start the market once every subscriber hears the feed, so that the
	// counts can be checked against what was published.
	for _, s := range subs {
		select {
		case <-s.ready:
		case <-time.After(10 * time.Second):
			pub.Close()
			return exitFailure, fmt.Errorf("subscriber %s did not connect", s.name)
		case <-ctx.Done():
			pub.Close()
			return exitOK, nil
		}
	}
	w.printf("%8s  %-7s %s\n", "time", "sub", "what")
	err = pc.simulate(ctx, pub)
	if cerr := pub.Close(); err == nil {
		err = cerr
	}
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
	perTopic := map[string]uint64{}
	for _, s := range subs {
		for name, tt := range s.tally.topics {
			if s.name == "risk" {
				perTopic[name] = tt.Received
			}
		}
	}
	w.printf("\npublished %s ticks in %s messages (%.1f ticks per message)\n\n",
		count(ps.Published), count(ps.Messages), float64(ps.Published)/float64(max(ps.Messages, 1)))
	w.printf("%-8s %-14s %12s %6s %9s %9s %9s %9s\n", "sub", "topics", "ticks", "gaps", "missing", "p50", "p99", "max")
	ok := true
	for _, s := range subs {
		st := s.sub.Stats()
		l := latencyOf(s.tally.lat)
		topics := "all"
		if len(s.topics) > 0 {
			topics = strings.Join(s.topics, ",")
		}
		w.printf("%-8s %-14s %12s %6s %9s %9s %9s %9s\n", s.name, topics, count(s.tally.ticks), count(st.Gaps),
			count(st.Missing), duration(l.P50), duration(l.P99), duration(l.Max))
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
	risk, trader, lossy := subs[1], subs[0], subs[2]
	check(risk.tally.ticks == ps.Published, "risk received every tick published (%s of %s)", count(risk.tally.ticks), count(ps.Published))
	want := perTopic["AAPL"] + perTopic["MSFT"]
	check(trader.tally.ticks == want && len(trader.tally.topics) == 2,
		"trader received exactly AAPL and MSFT (%s ticks, %d topics)", count(trader.tally.ticks), len(trader.tally.topics))
	rs := r.Stats()
	lst := lossy.sub.Stats()
	check(lst.Missing == rs.DroppedTicks && lossy.tally.ticks+lst.Missing == ps.Published,
		"the lossy line dropped %s batches (%s ticks); the lossy subscriber reported %s gaps, %s ticks missing: exact",
		count(rs.Dropped), count(rs.DroppedTicks), count(lst.Gaps), count(lst.Missing))
	if !ok {
		return exitFailure, err
	}
	return exitOK, err
}

// run reads the subscriber until its session ends.
func (s *demoSub) run(w *demoOut) {
	defer close(s.ended)
	// Ready at the first message of the session: the publisher has our
	// subscriptions then (they went out before the control topic's).
	readyOnce := sync.OnceFunc(func() { close(s.ready) })
	defer readyOnce()
	for {
		ev, err := s.sub.Next()
		if err != nil {
			if !errors.Is(err, subscriber.ErrClosed) {
				s.err = err
			}
			return
		}
		if ev.Kind == subscriber.EventSessionStart {
			readyOnce()
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

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/metrics"
	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/subscriber"
)

func runSub(ctx context.Context, e *env, args []string) (int, error) {
	var endpoints, topics listFlag
	fs := newFlags(e, "sub", "sub --endpoint ENDPOINT [--endpoint ENDPOINT ...] [--topic PREFIX ...] [--count N] [--timeout DURATION] [--json]")
	fs.Var(&endpoints, "endpoint", "`endpoint` to read, repeatable: tcp://host:port (connects; port 1 to 65535), ipc://path, epgm://iface;group:port, pgm://iface;group:port; @tcp://host:port binds instead (publishers connect to it)")
	fs.Var(&topics, "topic", "topic `prefix` to subscribe to, repeatable; none (or '') means every topic")
	n := fs.Int64("count", 0, "exit 0 once this many ticks arrived (exit 3 if --timeout passes first)")
	timeout := fs.Duration("timeout", 0, "stop after this long (with --count: fail with exit 3)")
	asJSON := fs.Bool("json", false, "print one JSON object per line; the summary is the last line")
	quiet := fs.Bool("quiet", false, "print only the summary")
	untilEnd := fs.Bool("until-end", false, "exit once the publisher ends its session")
	stale := fs.Duration("stale", 0, "report a line stale after this much silence (default: 3 publisher heartbeats)")
	arbitration := fs.Duration("arbitration", 0, "with several lines of one feed: how long ticks after a hole on one line wait for another line to fill it (default: 50ms)")
	var recov listFlag
	fs.Var(&recov, "recovery", "`endpoint` of a recovery service to ask for what no line brought (tcp://host:port or ipc://path of a pub --recovery or a tickcast recovery), repeatable: a request that fails is tried once on the next; 4 connections to each, a request in flight on each")
	recTimeout := fs.Duration("recovery-timeout", subscriber.DefaultRecoveryTimeout, "how long a recovery request may go unanswered once sent (and waits unsent at most 4 times as long) before it is tried on the next service or its range is reported as a gap")
	snapshot := fs.Bool("snapshot", false, "with --recovery: start each session from a snapshot, every subscribed topic's last value (\"type\":\"snapshot\" with --json), then the live ticks after it")
	var feed feedFlags
	feed.register(fs, true)
	metricsTopics := fs.Int("metrics-topics", 0, "with --metrics: count ticks and gaps per topic (a topic label) for the first N topics, the rest as topic=\"_other\"")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this `file`")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	if len(endpoints) == 0 {
		return 0, fmt.Errorf("%w: at least one --endpoint is needed", errUsage)
	}
	for _, err := range []error{
		checkEndpoints("", false, endpoints...),
		checkInt("count", *n, 0, math.MaxInt64, "must not be negative"),
		checkDuration("timeout", *timeout, 0, math.MaxInt64, "must not be negative"),
		checkDuration("stale", *stale, 0, math.MaxInt64, "must not be negative"),
		checkDuration("arbitration", *arbitration, 0, math.MaxInt64, "must not be negative"),
		checkDuration("recovery-timeout", *recTimeout, time.Millisecond, time.Minute, "want 1ms to 1m"),
		checkRecovery(recov),
		checkSnapshot(*snapshot, recov),
		feed.check(),
		checkInt("metrics-topics", int64(*metricsTopics), 0, 100_000, "want 0 to 100000"),
	} {
		if err != nil {
			return 0, err
		}
	}
	stopProfile, err := profile(*cpuprofile)
	if err != nil {
		return 0, err
	}
	defer stopProfile()

	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if *timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, *timeout)
	}
	defer cancel()
	var so []subscriber.Option
	if *stale > 0 {
		so = append(so, subscriber.WithStaleAfter(*stale))
	}
	if *arbitration > 0 {
		so = append(so, subscriber.WithArbitration(*arbitration))
	}
	if len(recov) > 0 {
		// Several connections to each service: one request in flight on each.
		var reqs []port.Requester
		for _, ep := range recov {
			for range subscriber.RecoveryConnections {
				r, err := endpoint.Requester(ep, endpoint.WithLogger(e.logger))
				if err != nil {
					for _, r := range reqs {
						r.Close()
					}
					return 0, err
				}
				reqs = append(reqs, r)
			}
		}
		so = append(so, subscriber.WithRecovery(reqs...), subscriber.WithRecoveryTimeout(*recTimeout))
		if *snapshot {
			so = append(so, subscriber.WithSnapshot())
		}
	}
	sub, err := openSubscriber(runCtx, e, endpoints, topics, so, feed.pgm.options()...)
	if err != nil {
		return 0, err
	}
	defer sub.Close()

	out := newPrinter(e.stdout)
	defer out.close()
	t := newTally()
	ms := metrics.NewSubscriber(sub, metrics.WithTopics(*metricsTopics))
	stopMetrics, err := e.serveMetrics(feed.metrics, ms)
	if err != nil {
		return 0, err
	}
	defer stopMetrics()
	stopStatus := e.statusLine(feed.status, func() string { return t.status(sub.Stats()) })
	start := time.Now()
	var runErr error
	for *n == 0 || t.ticks < uint64(*n) {
		ev, err := sub.Next(context.Background())
		if err != nil {
			if !errors.Is(err, subscriber.ErrClosed) {
				runErr = err
			}
			break
		}
		t.add(&ev)
		if feed.metrics != "" {
			ms.Observe(ev)
		}
		if !*quiet {
			out.event(&ev, *asJSON)
		}
		if *untilEnd && ev.Kind == subscriber.EventSessionEnd {
			break
		}
	}
	stopStatus()
	elapsed := time.Since(start)
	sub.Close()
	timedOut := *n > 0 && t.ticks < uint64(*n)
	s := t.summary(sub.Stats(), elapsed, timedOut)
	out.summary(s, *asJSON)
	switch {
	case runErr != nil:
		return exitFailure, runErr
	case timedOut:
		return exitTimeout, nil
	}
	return exitOK, nil
}

// checkSnapshot checks that --snapshot has a service to ask.
func checkSnapshot(snapshot bool, recov []string) error {
	if snapshot && len(recov) == 0 {
		return fmt.Errorf("%w: --snapshot needs --recovery: snapshots come from a recovery service", errUsage)
	}
	return nil
}

// checkRecovery checks --recovery endpoints: tcp:// or ipc://.
func checkRecovery(eps []string) error {
	for _, ep := range eps {
		if !requestReply(ep) {
			return fmt.Errorf("%w: --recovery %q: a recovery service answers on tcp:// or ipc://", errUsage, ep)
		}
	}
	return checkEndpoints("recovery", false, eps...)
}

// openSubscriber opens a source per endpoint and a subscriber on them. A
// bad endpoint is an error wrapping endpoint.ErrEndpoint (usage); other
// errors are failures.
func openSubscriber(ctx context.Context, e *env, endpoints, topics []string, so []subscriber.Option, eo ...endpoint.Option) (*subscriber.Subscriber, error) {
	opts := append([]subscriber.Option{subscriber.WithLogger(e.logger), subscriber.WithTopics(topics...)}, so...)
	var srcs []subscriber.Source
	for _, ep := range endpoints {
		src, err := endpoint.Source(ep, append([]endpoint.Option{endpoint.WithLogger(e.logger)}, eo...)...)
		if err != nil {
			for _, s := range srcs {
				s.Close()
			}
			return nil, err
		}
		srcs = append(srcs, src)
	}
	// The subscriber owns the sources from here: it closes them if it fails.
	return subscriber.New(ctx, append(opts, subscriber.WithSource(srcs...))...)
}

// tally accumulates what a subscriber delivered, for the summary.
type tally struct {
	ticks     uint64
	topics    map[string]*topicTally
	lat       *hdrhistogram.Histogram
	clockSkew uint64 // ticks received before their event time (clocks disagree)
	starts    uint64
	restarts  uint64
	ends      uint64
	other     *topicTally // topics beyond maxTallyTopics
}

type topicTally struct {
	Received uint64 `json:"received"`
	Gaps     uint64 `json:"gaps"`
	Missing  uint64 `json:"missing"`
	LastSeq  uint64 `json:"last_seq"`
}

func newTally() *tally {
	// 1 ns to 1 hour at 3 significant digits.
	return &tally{topics: map[string]*topicTally{}, lat: hdrhistogram.New(1, int64(time.Hour), 3)}
}

// maxTallyTopics bounds the summary's table of topics: beyond it (a feed
// whose topics come and go), topics are added up in one row.
const maxTallyTopics = subscriber.DefaultMaxTopics

func (t *tally) topic(name []byte) *topicTally {
	tt := t.topics[string(name)]
	if tt == nil {
		if len(t.topics) >= maxTallyTopics {
			if t.other == nil {
				t.other = &topicTally{}
			}
			return t.other
		}
		tt = &topicTally{}
		t.topics[string(name)] = tt
	}
	return tt
}

func (t *tally) add(ev *subscriber.Event) {
	switch ev.Kind {
	case subscriber.EventTicks:
		tt := t.topic(ev.Topic)
		recv := ev.RecvTime.UnixNano()
		for i := range ev.Ticks {
			l := recv - ev.Ticks[i].EventTime
			if l < 0 {
				t.clockSkew++
				l = 0
			}
			t.lat.RecordValue(max(l, 1))
		}
		n := uint64(len(ev.Ticks))
		t.ticks += n
		tt.Received += n
		tt.LastSeq = ev.Ticks[len(ev.Ticks)-1].Seq
	case subscriber.EventGap:
		tt := t.topic(ev.Topic)
		tt.Gaps++
		tt.Missing += ev.Gap.Missing
	case subscriber.EventSessionStart:
		t.starts++
		if ev.PrevSession != 0 {
			t.restarts++
		}
	case subscriber.EventSessionEnd:
		t.ends++
	}
}

func (t *tally) status(s subscriber.Stats) string {
	var lines []string
	for _, l := range s.Lines {
		line := fmt.Sprintf("%s %s", l.Endpoint, l.State)
		if len(s.Lines) > 1 { // A/B: who delivers first, what each loses
			line += fmt.Sprintf(" first %s lost %s", count(l.Ticks), count(l.Missing))
		}
		lines = append(lines, line)
	}
	return fmt.Sprintf("received %s ticks, %s gaps, %s missing, %s decode errors | %s",
		count(s.Ticks), count(s.Gaps), count(s.Missing), count(s.Total.DecodeErrors),
		strings.Join(lines, " | "))
}

// summary is what sub prints at exit; with --json it is the last line.
type summary struct {
	Type         string `json:"type"`
	Received     uint64 `json:"received"`
	Gaps         uint64 `json:"gaps"`
	Missing      uint64 `json:"missing"`
	DecodeErrors uint64 `json:"decode_errors"`
	Duplicates   uint64 `json:"duplicates"`
	// Implausible, Backwards and TopicsRefused count what the lines'
	// senders claimed and the subscriber did not believe or could not take
	// (see subscriber.LineStats); TopicsExpired the topics forgotten idle.
	Implausible   uint64 `json:"implausible"`
	Backwards     uint64 `json:"backwards"`
	TopicsRefused uint64 `json:"topics_refused"`
	TopicsExpired uint64 `json:"topics_expired"`
	// Recovered counts ticks delivered through recovery (in Received too),
	// Recoveries the replies taken, Unrecovered the ticks asked for and not
	// recovered (in Missing too).
	Recovered   uint64 `json:"recovered"`
	Recoveries  uint64 `json:"recoveries"`
	Unrecovered uint64 `json:"unrecovered"`
	// Snapshots counts the topics started from a snapshot.
	Snapshots   uint64                 `json:"snapshots"`
	TopicsOther *topicTally            `json:"topics_other,omitempty"` // topics beyond the table's bound, added up
	Latency     latencySummary         `json:"latency_ns"`
	ClockSkew   uint64                 `json:"clock_skew_ticks,omitempty"`
	Sessions    uint64                 `json:"sessions"`
	Restarts    uint64                 `json:"restarts"`
	Ends        uint64                 `json:"session_ends"`
	Seconds     float64                `json:"seconds"`
	TimedOut    bool                   `json:"timed_out"`
	Topics      map[string]*topicTally `json:"topics"`
	Lines       []lineSummary          `json:"lines"`
}

type latencySummary struct {
	Count int64 `json:"count"`
	P50   int64 `json:"p50"`
	P90   int64 `json:"p90"`
	P99   int64 `json:"p99"`
	P999  int64 `json:"p99_9"`
	P9999 int64 `json:"p99_99"`
	Max   int64 `json:"max"`
}

type lineSummary struct {
	Endpoint      string `json:"endpoint"`
	State         string `json:"state"`
	Messages      uint64 `json:"messages"`
	Bytes         uint64 `json:"bytes"`
	Ticks         uint64 `json:"ticks_first"` // ticks this line delivered first
	Gaps          uint64 `json:"line_gaps"`   // holes in this line's own sequence
	Missing       uint64 `json:"line_missing"`
	DecodeErrors  uint64 `json:"decode_errors"`
	Duplicates    uint64 `json:"duplicates"`
	Connects      uint64 `json:"connects"`
	Disconnects   uint64 `json:"disconnects"`
	Stale         uint64 `json:"stale"`
	TransportLoss uint64 `json:"transport_loss"`
	Implausible   uint64 `json:"implausible"`
	Backwards     uint64 `json:"backwards"`
	TopicsRefused uint64 `json:"topics_refused"`
}

func latencyOf(h *hdrhistogram.Histogram) latencySummary {
	// ValueAtQuantile takes a percentage, not a fraction.
	return latencySummary{
		Count: h.TotalCount(),
		P50:   h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), P9999: h.ValueAtQuantile(99.99), Max: h.Max(),
	}
}

func (t *tally) summary(s subscriber.Stats, elapsed time.Duration, timedOut bool) summary {
	out := summary{
		Type: "summary", Received: t.ticks, Gaps: s.Gaps, Missing: s.Missing,
		DecodeErrors: s.Total.DecodeErrors, Duplicates: s.Total.Duplicates,
		Implausible: s.Total.Implausible, Backwards: s.Total.Backwards,
		TopicsRefused: s.Total.TopicsRefused, TopicsExpired: s.TopicsExpired, TopicsOther: t.other,
		Recovered: s.Recovered, Recoveries: s.Recoveries, Unrecovered: s.Unrecovered, Snapshots: s.Snapshots,
		Latency: latencyOf(t.lat), ClockSkew: t.clockSkew,
		Sessions: t.starts, Restarts: t.restarts, Ends: t.ends,
		Seconds: elapsed.Seconds(), TimedOut: timedOut, Topics: t.topics,
	}
	for _, l := range s.Lines {
		out.Lines = append(out.Lines, lineSummary{
			Endpoint: l.Endpoint, State: l.State.String(), Messages: l.Messages, Bytes: l.Bytes, Ticks: l.Ticks,
			Gaps: l.Gaps, Missing: l.Missing, DecodeErrors: l.DecodeErrors, Duplicates: l.Duplicates,
			Connects: l.Connects, Disconnects: l.Disconnects, Stale: l.Stale, TransportLoss: l.TransportLoss,
			Implausible: l.Implausible, Backwards: l.Backwards, TopicsRefused: l.TopicsRefused,
		})
	}
	return out
}

// printer writes ticks and events to stdout through a buffer that is
// flushed every 100ms, so a fast feed costs few writes and a slow one
// still shows promptly.
type printer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	done chan struct{}
	wg   sync.WaitGroup
}

func newPrinter(w io.Writer) *printer {
	p := &printer{w: bufio.NewWriterSize(w, 64<<10), done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.mu.Lock()
				p.w.Flush()
				p.mu.Unlock()
			case <-p.done:
				return
			}
		}
	}()
	return p
}

func (p *printer) close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.wg.Wait()
	p.mu.Lock()
	p.w.Flush()
	p.mu.Unlock()
}

func (p *printer) event(ev *subscriber.Event, asJSON bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if asJSON {
		enc := json.NewEncoder(p.w)
		if ev.Kind == subscriber.EventTicks || ev.Kind == subscriber.EventSnapshot && len(ev.Ticks) > 0 {
			recv := ev.RecvTime.UnixNano()
			typ := "tick"
			if ev.Kind == subscriber.EventSnapshot {
				typ = "snapshot"
			}
			for i := range ev.Ticks {
				tk := &ev.Ticks[i]
				enc.Encode(tickJSON{
					Type: typ, Topic: string(ev.Topic), Seq: tk.Seq, Kind: tk.Kind.String(),
					Price: json.Number(decimal(tk.Price, tk.PriceExp)), Size: json.Number(decimal(tk.Size, tk.SizeExp)),
					Instrument: tk.Instrument, EventTimeNs: tk.EventTime, RecvTimeNs: recv, LatencyNs: recv - tk.EventTime,
					Session: fmt.Sprintf("%016x", ev.Session),
				})
			}
			return
		}
		enc.Encode(eventJSON(ev))
		return
	}
	if ev.Kind == subscriber.EventTicks {
		recv := ev.RecvTime.UnixNano()
		for i := range ev.Ticks {
			fmt.Fprintln(p.w, tickLine(ev.Topic, &ev.Ticks[i], recv-ev.Ticks[i].EventTime))
		}
		return
	}
	fmt.Fprintln(p.w, eventLine(ev))
}

type tickJSON struct {
	Type        string      `json:"type"`
	Topic       string      `json:"topic"`
	Seq         uint64      `json:"seq"`
	Kind        string      `json:"kind"`
	Price       json.Number `json:"price"`
	Size        json.Number `json:"size"`
	Instrument  uint32      `json:"instrument"`
	EventTimeNs int64       `json:"event_time_ns"`
	RecvTimeNs  int64       `json:"recv_time_ns"`
	LatencyNs   int64       `json:"latency_ns"`
	Session     string      `json:"session"`
}

func eventJSON(ev *subscriber.Event) map[string]any {
	m := map[string]any{"type": strings.ReplaceAll(ev.Kind.String(), "-", "_"), "line": ev.Line}
	if ev.Session != 0 {
		m["session"] = fmt.Sprintf("%016x", ev.Session)
	}
	switch ev.Kind {
	case subscriber.EventBackwards:
		m["topic"] = string(ev.Topic)
		m["from"] = ev.Gap.Expected
		m["to"] = ev.Gap.Received
	case subscriber.EventGap:
		m["topic"] = string(ev.Topic)
		m["expected"] = ev.Gap.Expected
		m["received"] = ev.Gap.Received
		m["missing"] = ev.Gap.Missing
		m["by_heartbeat"] = ev.Gap.Heartbeat
	case subscriber.EventRecovered:
		m["topic"] = string(ev.Topic)
		m["from"] = ev.Gap.Expected
		m["to"] = ev.Gap.Received - 1
		m["ticks"] = ev.Gap.Missing
		m["took_ns"] = ev.Took.Nanoseconds()
	case subscriber.EventSessionStart:
		if ev.PrevSession != 0 {
			m["previous_session"] = fmt.Sprintf("%016x", ev.PrevSession)
		}
	}
	if ev.Detail != "" {
		m["detail"] = ev.Detail
	}
	return m
}

func eventLine(ev *subscriber.Event) string {
	switch ev.Kind {
	case subscriber.EventGap:
		how := "a later tick"
		if ev.Gap.Heartbeat {
			how = "the topic heartbeat"
		}
		line := fmt.Sprintf("-- GAP %s: seq %d..%d missing (%s), seen by %s", ev.Topic,
			ev.Gap.Expected, ev.Gap.Received-1, plural(ev.Gap.Missing, "tick"), how)
		if ev.Detail != "" {
			line += "; " + ev.Detail
		}
		return line
	case subscriber.EventSessionStart:
		if ev.PrevSession != 0 {
			return fmt.Sprintf("-- RESTART %s: session %016x replaces %016x (sequences restart: not a gap)", ev.Line, ev.Session, ev.PrevSession)
		}
		return fmt.Sprintf("-- SESSION %016x on %s", ev.Session, ev.Line)
	case subscriber.EventSessionEnd:
		return fmt.Sprintf("-- END of session %016x on %s", ev.Session, ev.Line)
	case subscriber.EventBackwards:
		return fmt.Sprintf("-- BACKWARDS %s on %s: from seq %d back to %d (not delivered)", ev.Topic, ev.Line, ev.Gap.Expected, ev.Gap.Received)
	case subscriber.EventSnapshot:
		if len(ev.Ticks) == 0 {
			return "-- NO SNAPSHOT: " + ev.Detail
		}
		return fmt.Sprintf("-- SNAPSHOT %s", tickLine(ev.Topic, &ev.Ticks[0], 0))
	case subscriber.EventRecovered:
		return fmt.Sprintf("-- RECOVERED %s: seq %d..%d (%s) from %s in %v", ev.Topic, ev.Gap.Expected, ev.Gap.Received-1,
			plural(ev.Gap.Missing, "tick"), ev.Line, ev.Took.Round(time.Microsecond))
	}
	s := fmt.Sprintf("-- %s %s", strings.ToUpper(ev.Kind.String()), ev.Line)
	if ev.Detail != "" {
		s += ": " + ev.Detail
	}
	return s
}

func (p *printer) summary(s summary, asJSON bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if asJSON {
		json.NewEncoder(p.w).Encode(s)
		return
	}
	writeSummary(p.w, s)
}

func writeSummary(w io.Writer, s summary) {
	fmt.Fprintf(w, "received %s ticks on %s topics in %.1fs", count(s.Received), count(uint64(len(s.Topics))), s.Seconds)
	if s.TimedOut {
		fmt.Fprint(w, " (timed out before --count)")
	}
	fmt.Fprintf(w, "\ngaps %s, missing %s ticks, decode errors %s, duplicates %s\n",
		count(s.Gaps), count(s.Missing), count(s.DecodeErrors), count(s.Duplicates))
	if s.Recoveries > 0 || s.Unrecovered > 0 {
		fmt.Fprintf(w, "recovered %s ticks in %s replies; %s ticks asked for and not recovered\n",
			count(s.Recovered), count(s.Recoveries), count(s.Unrecovered))
	}
	if s.Implausible+s.Backwards+s.TopicsRefused > 0 {
		fmt.Fprintf(w, "not believed: %s implausible messages, %s ticks behind their line's sequence; %s messages on topics over the limit\n",
			count(s.Implausible), count(s.Backwards), count(s.TopicsRefused))
	}
	if l := s.Latency; l.Count > 0 {
		fmt.Fprintf(w, "latency event→receive: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%s ticks)\n",
			duration(l.P50), duration(l.P90), duration(l.P99), duration(l.P999), duration(l.Max), count(uint64(l.Count)))
	}
	if s.ClockSkew > 0 {
		fmt.Fprintf(w, "  %s ticks arrived before their event time: the clocks disagree, latency is not meaningful\n", count(s.ClockSkew))
	}
	names := slices.Sorted(maps.Keys(s.Topics))
	const maxRows = 20
	fmt.Fprintf(w, "%-10s %12s %6s %9s %10s\n", "topic", "ticks", "gaps", "missing", "last seq")
	for i, name := range names {
		tt := s.Topics[name]
		if i >= maxRows && tt.Gaps == 0 {
			continue // keep the table short: every topic with a gap is shown
		}
		fmt.Fprintf(w, "%-10s %12s %6s %9s %10d\n", name, count(tt.Received), count(tt.Gaps), count(tt.Missing), tt.LastSeq)
	}
	if len(names) > maxRows {
		fmt.Fprintf(w, "(%s topics in all; with --json every one is listed)\n", count(uint64(len(names))))
	}
	for _, l := range s.Lines {
		fmt.Fprintf(w, "line %s (%s): %s messages, %s bytes; first with %s ticks, %s duplicates; lost %s ticks in %s holes; connected %s, disconnected %s, stale %s, transport loss %s\n",
			l.Endpoint, l.State, count(l.Messages), count(l.Bytes), count(l.Ticks), count(l.Duplicates), count(l.Missing), count(l.Gaps),
			count(l.Connects), count(l.Disconnects), count(l.Stale), count(l.TransportLoss))
	}
	if s.Sessions > 0 {
		fmt.Fprintf(w, "sessions %s (restarts %s, ended %s)\n", count(s.Sessions), count(s.Restarts), count(s.Ends))
	}
}

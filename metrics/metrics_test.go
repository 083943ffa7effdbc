package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickcast/tickcast"
	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/internal/promtest"
	"github.com/tickcast/tickcast/metrics"
	"github.com/tickcast/tickcast/port"
	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/relay"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/subscriber"
	"github.com/tickcast/tickcast/zmtp"
)

// A lossy feed: publisher → relay dropping every 7th batch → subscriber.
// Scraped while it runs and at its end, every number the metrics give is
// the one the components' own counters give, and promtool finds nothing to
// say about the exposition.
func TestTheMetricsOfALossyFeedAreItsCountersAndPassPromtool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pub, err := tickcast.NewPublisher("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	feed := pub.Stats().Sinks[0].Endpoint
	from, err := endpoint.Source(feed)
	if err != nil {
		t.Fatal(err)
	}
	to, err := endpoint.Sink("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	n := 0
	r := relay.New(from, func([]byte, *schema.Message) bool { n++; return n%7 == 0 }, to)
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); r.Run(relayCtx) }()
	defer func() { stopRelay(); <-relayDone }()

	sub, err := tickcast.Subscribe(ctx, to.Stats().Endpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	reg := metrics.NewRegistry()
	ms := metrics.NewSubscriber(sub, metrics.WithTopics(1))
	reg.MustRegister(metrics.NewPublisher(pub), metrics.NewRelay(r), ms)
	srv, err := metrics.Listen("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := to.(port.SubscriberWaiter).WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	const perTopic = 400
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range perTopic {
			for _, topic := range []string{"AAPL", "MSFT"} {
				pub.Publish(topic, tickcast.Tick{Kind: tickcast.Trade, Price: int64(i), Size: 1, EventTime: time.Now().UnixNano()})
			}
			time.Sleep(50 * time.Microsecond)
		}
		pub.Close()
	}()

	var ticks, gaps, missing, messages uint64
	perTopicTicks := map[string]uint64{}
	scrapedMidway := false
	for done := false; !done; {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ms.Observe(ev)
		switch ev.Kind {
		case tickcast.EventTicks:
			ticks += uint64(len(ev.Ticks))
			messages++
			perTopicTicks[string(ev.Topic)] += uint64(len(ev.Ticks))
			if !scrapedMidway && ticks > perTopic {
				scrapedMidway = true
				promtest.Lint(t, promtest.Scrape(t, srv.URL()))
			}
		case tickcast.EventGap:
			gaps++
			missing += ev.Gap.Missing
		case tickcast.EventSessionEnd:
			done = true
		}
	}
	stopRelay()
	<-relayDone
	<-published // Close has returned: the publisher's counters are final

	text := promtest.Scrape(t, srv.URL())
	promtest.Lint(t, text)
	f := promtest.Parse(t, text)
	rs := r.Stats()
	if gaps == 0 || missing != rs.DroppedTicks || ticks+missing != 2*perTopic {
		t.Fatalf("the feed itself: %d ticks, %d gaps, %d missing; the relay dropped %d ticks", ticks, gaps, missing, rs.DroppedTicks)
	}
	want := map[string]float64{
		"tickcast_publisher_ticks_total":          2 * perTopic,
		"tickcast_subscriber_ticks_total":         float64(ticks),
		"tickcast_subscriber_gaps_total":          float64(gaps),
		"tickcast_subscriber_missing_ticks_total": float64(missing),
		"tickcast_relay_dropped_ticks_total":      float64(rs.DroppedTicks),
		"tickcast_relay_dropped_batches_total":    float64(rs.Dropped),
		"tickcast_line_ticks_total":               float64(ticks),
		"tickcast_line_gaps_total":                float64(gaps),
		"tickcast_subscriber_latency_seconds":     float64(messages), // a histogram: its count
		"tickcast_subscriber_sessions_total":      1,
		"tickcast_subscriber_session_ends_total":  1,
	}
	for name, v := range want {
		if got := f.Value(t, name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	// The first topic seen has its own series; the other is counted
	// under _other (WithTopics(1)).
	var first, second string
	for topic := range perTopicTicks {
		if _, ok := f.Get("tickcast_topic_ticks_total", "topic", topic); ok {
			first = topic
		} else {
			second = topic
		}
	}
	if first == "" || second == "" {
		t.Fatalf("want one topic labelled and one under %s; metrics:\n%s", metrics.OtherTopics, grep(text, "tickcast_topic_ticks_total"))
	}
	if got := f.Value(t, "tickcast_topic_ticks_total", "topic", first); got != float64(perTopicTicks[first]) {
		t.Errorf("%s ticks = %v, want %d", first, got, perTopicTicks[first])
	}
	if got := f.Value(t, "tickcast_topic_ticks_total", "topic", metrics.OtherTopics); got != float64(perTopicTicks[second]) {
		t.Errorf("%s ticks = %v, want %s's %d", metrics.OtherTopics, got, second, perTopicTicks[second])
	}
	// The lines and sinks are labelled with their endpoints; the
	// subscriber's line has ended with the session.
	if got := f.Value(t, "tickcast_line_state", "endpoint", to.Stats().Endpoint, "state", "ended"); got != 1 {
		t.Errorf("line state ended = %v, want 1", got)
	}
	if got := f.Value(t, "tickcast_sink_messages_total", "endpoint", feed); got != float64(pub.Stats().Sinks[0].Messages) {
		t.Errorf("publisher's sink messages = %v, want %d", got, pub.Stats().Sinks[0].Messages)
	}
	// The Go runtime's and the process's metrics come with NewRegistry.
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		f.Value(t, name)
	}
}

// A subscriber that stops reading shows as the one whose drops grow: the
// publisher's metrics name it (by its address over TCP, by its
// connection's number over IPC, where peers have no address), and give no
// series to one that has lost nothing.
func TestASlowSubscriberIsNamedByItsDrops(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:0", "ipc://" + filepath.Join(t.TempDir(), "feed")} {
		t.Run(ep[:3], func(t *testing.T) { slowSubscriber(t, ep) })
	}
}

func slowSubscriber(t *testing.T, ep string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sink, err := zmtp.Listen(ep, zmtp.WithSendHWM(10), zmtp.WithSendBuffer(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publisher.New(publisher.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ep = sink.Endpoint()
	stalled, err := zmtp.Dial(ep) // subscribes and never reads
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if err := stalled.Subscribe(nil); err != nil {
		t.Fatal(err)
	}
	if err := sink.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	stalledPeer := sink.Peers()[0]
	// Another subscriber, to a topic not published: it loses nothing.
	other, err := tickcast.Subscribe(ctx, ep, []string{"MSFT"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := sink.WaitSubscribers(ctx, 2); err != nil {
		t.Fatal(err)
	}

	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewPublisher(pub))
	srv, err := metrics.Listen("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	tick := tickcast.Tick{Kind: tickcast.Trade, Price: 1, Size: 1}
	dropped := func() uint64 {
		for _, pe := range sink.Peers() {
			if pe.ID == stalledPeer.ID {
				return pe.Dropped
			}
		}
		return 0
	}
	for i := 0; dropped() == 0; i++ {
		if i == 1_000_000 {
			t.Fatal("a subscriber that never reads lost nothing")
		}
		if err := pub.Publish("AAPL", tick); errors.Is(err, publisher.ErrQueueFull) {
			time.Sleep(time.Millisecond)
		}
	}
	text := promtest.Scrape(t, srv.URL())
	promtest.Lint(t, text)
	f := promtest.Parse(t, text)
	label := stalledPeer.Addr
	if strings.HasPrefix(ep, "ipc://") {
		label = fmt.Sprintf("conn#%d", stalledPeer.ID)
	}
	if got := f.Value(t, "tickcast_sink_subscriber_dropped_messages_total", "endpoint", ep, "peer", label); got == 0 {
		t.Errorf("the stalled subscriber's drops: 0")
	}
	if n := len(f["tickcast_sink_subscriber_dropped_messages_total"].GetMetric()); n != 1 {
		t.Errorf("%d subscribers have series, want the slow one only:\n%s", n, grep(text, "peer="))
	}
	if got := f.Value(t, "tickcast_sink_slow_subscribers", "endpoint", ep); got != 1 {
		t.Errorf("slow subscribers = %v, want 1", got)
	}
	if got := f.Value(t, "tickcast_sink_subscribed_peers", "endpoint", ep); got != 2 {
		t.Errorf("subscribed peers = %v, want 2", got)
	}
}

func grep(text []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(text), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A PGM line's own counters (what its source sent and its receiver heard,
// the repairs asked for) are exported, labelled with the endpoint, on both
// sides.
func TestAPGMLineExportsItsTransportCounters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	line := "epgm://127.0.0.1;239.192.79.1:7791"
	pub, err := tickcast.NewPublisher(line)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := tickcast.Subscribe(ctx, line, []string{"AAPL"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewPublisher(pub), metrics.NewSubscriber(sub))
	srv, err := metrics.Listen("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// Publish until the subscriber has some ticks (multicast has no way
	// to say when a receiver has joined).
	for got := 0; got < 100; {
		pub.Publish("AAPL", tickcast.Tick{Kind: tickcast.Trade, Price: 1, Size: 1})
		wait, stop := context.WithTimeout(ctx, 5*time.Millisecond)
		ev, err := sub.Next(wait)
		stop()
		if err != nil && ctx.Err() != nil {
			t.Fatal(err)
		}
		if ev.Kind == tickcast.EventTicks {
			got += len(ev.Ticks)
		}
	}
	text := promtest.Scrape(t, srv.URL())
	promtest.Lint(t, text)
	f := promtest.Parse(t, text)
	for _, name := range []string{"tickcast_pgm_odata_sent_total", "tickcast_pgm_spms_sent_total"} {
		if v := f.Value(t, name, "endpoint", line); v == 0 {
			t.Errorf("%s = 0", name)
		}
	}
	if v := f.Value(t, "tickcast_pgm_odata_received_total", "endpoint", line, "line", "0"); v == 0 {
		t.Error("tickcast_pgm_odata_received_total = 0")
	}
	for _, name := range []string{"tickcast_pgm_naks_sent_total", "tickcast_pgm_lost_sqns_total", "tickcast_pgm_naks_received_total", "tickcast_pgm_queued_batches", "tickcast_pgm_window_capacity_sqns"} {
		f.Value(t, name, "endpoint", line)
	}
	// Multicast cannot count its subscribers: no peer gauges.
	if _, ok := f.Get("tickcast_sink_peers", "endpoint", line); ok {
		t.Error("a multicast sink reports a peer count")
	}
}

// Scrapers cannot make the server hold more than a few gatherings at once:
// a flood of them is answered (200, or 503 beyond the limit), and Close
// returns with the flood still coming.
func TestAFloodOfScrapesIsAnsweredAndCloseReturns(t *testing.T) {
	reg := metrics.NewRegistry()
	srv, err := metrics.Listen("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, busy, failed atomic.Int64
	for range 64 {
		wg.Go(func() {
			resp, err := http.Get(srv.URL())
			if err != nil {
				failed.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusServiceUnavailable:
				busy.Add(1)
			default:
				t.Errorf("status %s", resp.Status)
			}
		})
	}
	wg.Wait()
	if ok.Load() == 0 || failed.Load() > 0 {
		t.Errorf("%d answered, %d told busy, %d failed", ok.Load(), busy.Load(), failed.Load())
	}
	// A client that connects and sends nothing does not hold Close.
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := http.Get(srv.URL()); err == nil {
		t.Error("the server still answers after Close")
	}
}

// Observe may see new topics while Prometheus scrapes: every topic up to
// the limit has its own series once, the rest are under _other, and the
// race detector finds nothing.
func TestTopicsSeenWhileScrapingAreEachCountedOnce(t *testing.T) {
	sub, err := tickcast.Subscribe(context.Background(), "inproc://topics-while-scraping", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const limit, topics = 2000, 3000
	m := metrics.NewSubscriber(sub, metrics.WithTopics(limit))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range topics {
			m.Observe(subscriber.Event{Kind: subscriber.EventTicks, Topic: fmt.Appendf(nil, "T%04d", i), Ticks: make([]schema.Tick, 1)})
			runtime.Gosched()
		}
	}()
	for scraping := true; scraping; {
		select {
		case <-done:
			scraping = false
		default:
		}
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "tickcast_topic_ticks_total" {
			continue
		}
		if len(f.Metric) != limit+1 {
			t.Errorf("%d topic series, want %d and %s", len(f.Metric), limit, metrics.OtherTopics)
		}
		var sum float64
		for _, s := range f.Metric {
			sum += s.GetCounter().GetValue()
		}
		if sum != topics {
			t.Errorf("the topics' ticks add up to %v, want %d", sum, topics)
		}
	}
}

// A subscriber that binds, with a publisher that connects to it, both in
// one registry: the subscriber's line counts its publishers, and the two
// collectors' metrics go together (promtool is content).
func TestABindingSubscriberCountsItsPublishers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := tickcast.Subscribe(ctx, "@tcp://127.0.0.1:0", []string{"AAPL"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ep := sub.Stats().Lines[0].Endpoint
	pub, err := tickcast.NewPublisher(">" + ep)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewPublisher(pub), metrics.NewSubscriber(sub))
	srv, err := metrics.Listen("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	text := promtest.Scrape(t, srv.URL())
	promtest.Lint(t, text)
	f := promtest.Parse(t, text)
	if got := f.Value(t, "tickcast_zmtp_publishers", "line", "0", "endpoint", ep); got != 1 {
		t.Errorf("publishers = %v, want 1", got)
	}
	if got := f.Value(t, "tickcast_sink_subscribed_peers", "endpoint", ep); got != 1 {
		t.Errorf("the connecting publisher's subscribed peers = %v, want 1", got)
	}
}

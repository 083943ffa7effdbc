package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/internal/promtest"
)

// bgCmd is a command line running in the background until the test ends,
// or until it exits by itself.
type bgCmd struct {
	stdout, stderr buffer
	cancel         context.CancelFunc
	done           chan int
	code           int
	exited         bool
}

func background(t *testing.T, args ...string) *bgCmd {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &bgCmd{cancel: cancel, done: make(chan int, 1)}
	go func() { p.done <- run(ctx, &env{stdout: &p.stdout, stderr: &p.stderr}, args) }()
	t.Cleanup(func() { p.stop() })
	return p
}

// wait waits for the command to exit by itself, for up to a minute, and
// returns its exit status.
func (p *bgCmd) wait(t *testing.T) int {
	t.Helper()
	if !p.exited {
		select {
		case p.code = <-p.done:
			p.exited = true
		case <-time.After(time.Minute):
			t.Fatalf("still running: %s", p.stderr.String())
		}
	}
	return p.code
}

// stop interrupts the command and returns its exit status.
func (p *bgCmd) stop() int {
	if !p.exited {
		p.cancel()
		p.code = <-p.done
		p.exited = true
	}
	return p.code
}

// await returns the first submatch of re in b once it appears.
func await(t *testing.T, b *buffer, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := rx.FindStringSubmatch(b.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("never said %s: %s", re, b.String())
	return ""
}

// A lossy feed run from the command line, every process with --metrics:
// what Prometheus scrapes passes promtool, and the subscriber's metrics
// are the numbers of its JSON summary; the gaps it counts are the ticks
// the relay dropped.
func TestMetricsOfLiveProcessesPassPromtoolAndMatchTheSummaries(t *testing.T) {
	// The relay binds both sides; the subscriber connects to it, and once
	// the relay has it, the publisher connects into the relay and waits for
	// the relay's subscription before it publishes: the subscriber sees the
	// whole session.
	relay := background(t, "relay", "--from", "@tcp://127.0.0.1:0", "--to", "tcp://127.0.0.1:0", "--drop", "0.05",
		"--metrics", "127.0.0.1:0", "--json")
	feed := await(t, &relay.stderr, `of @(tcp://127\.0\.0\.1:\d+)`)
	lossy := await(t, &relay.stderr, `to \[(tcp://127\.0\.0\.1:\d+)\]`)
	relayMetrics := await(t, &relay.stderr, `metrics at (http://\S+)`)
	sub := background(t, "sub", "--endpoint", lossy, "--json", "--quiet",
		"--metrics", "127.0.0.1:0", "--metrics-topics", "3")
	subMetrics := await(t, &sub.stderr, `metrics at (http://\S+)`)
	for f := promtest.Parse(t, promtest.Scrape(t, relayMetrics)); f.Value(t, "tickcast_sink_subscribed_peers") == 0; f = promtest.Parse(t, promtest.Scrape(t, relayMetrics)) {
		time.Sleep(5 * time.Millisecond)
	}
	pub := background(t, "pub", "--endpoint", ">"+feed, "--symbols", "10", "--rate", "20000",
		"--count", "20000", "--subscribers", "1", "--metrics", "127.0.0.1:0")
	pubMetrics := await(t, &pub.stderr, `metrics at (http://\S+)`)

	// While the feed runs: every process's exposition passes promtool.
	for f := promtest.Parse(t, promtest.Scrape(t, subMetrics)); f.Value(t, "tickcast_subscriber_ticks_total") == 0; f = promtest.Parse(t, promtest.Scrape(t, subMetrics)) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, url := range []string{pubMetrics, relayMetrics, subMetrics} {
		promtest.Lint(t, promtest.Scrape(t, url))
	}
	if code := pub.wait(t); code != exitOK {
		t.Fatalf("pub exited %d: %s", code, pub.stderr.String())
	}
	// The feed has ended: wait for the subscriber to have the end of the
	// session, then compare its last scrape with its summary.
	var f promtest.Families
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		f = promtest.Parse(t, promtest.Scrape(t, subMetrics))
		if v, _ := f.Get("tickcast_line_state", "state", "ended"); v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subscriber never saw the end of the session: %s", sub.stderr.String())
		}
	}
	text := promtest.Scrape(t, subMetrics)
	promtest.Lint(t, text)
	f = promtest.Parse(t, text)
	// The relay may still be forwarding the publisher's last words (sent
	// three times): scrape it once its count has stopped moving.
	var rf promtest.Families
	for last := -1.0; ; time.Sleep(50 * time.Millisecond) {
		rf = promtest.Parse(t, promtest.Scrape(t, relayMetrics))
		n := rf.Value(t, "tickcast_relay_forwarded_messages_total")
		if n == last {
			break
		}
		last = n
	}
	if code := sub.stop(); code != exitOK {
		t.Fatalf("sub exited %d: %s", code, sub.stderr.String())
	}
	lines := jsonLines(t, sub.stdout.String())
	var sum summary
	last, _ := json.Marshal(lines[len(lines)-1])
	if err := json.Unmarshal(last, &sum); err != nil || sum.Type != "summary" {
		t.Fatalf("no summary: %s", sub.stdout.String())
	}
	for name, want := range map[string]uint64{
		"tickcast_subscriber_ticks_total":         sum.Received,
		"tickcast_subscriber_gaps_total":          sum.Gaps,
		"tickcast_subscriber_missing_ticks_total": sum.Missing,
		"tickcast_line_decode_errors_total":       sum.DecodeErrors,
	} {
		if got := f.Value(t, name); got != float64(want) {
			t.Errorf("%s = %v, the summary says %d", name, got, want)
		}
	}
	if sum.Received+sum.Missing != 20000 || sum.Gaps == 0 {
		t.Errorf("received %d + missing %d, %d gaps: want 20,000 published, some lost", sum.Received, sum.Missing, sum.Gaps)
	}
	if got := rf.Value(t, "tickcast_relay_dropped_ticks_total"); got != float64(sum.Missing) {
		t.Errorf("the relay dropped %v ticks, the subscriber is missing %d", got, sum.Missing)
	}
	// The relay's metrics are its JSON summary's numbers too (the feed
	// has ended: they no longer move).
	if code := relay.stop(); code != exitOK {
		t.Fatalf("relay exited %d: %s", code, relay.stderr.String())
	}
	var rsum relaySummary
	if err := json.Unmarshal([]byte(strings.TrimSpace(relay.stdout.String())), &rsum); err != nil {
		t.Fatalf("relay --json: %v: %s", err, relay.stdout.String())
	}
	for name, want := range map[string]uint64{
		"tickcast_relay_forwarded_messages_total": rsum.Forwarded,
		"tickcast_relay_ticks_total":              rsum.Ticks,
		"tickcast_relay_dropped_batches_total":    rsum.Dropped,
		"tickcast_relay_dropped_ticks_total":      rsum.DroppedTicks,
	} {
		if got := rf.Value(t, name); got != float64(want) {
			t.Errorf("%s = %v, the relay's summary says %d", name, got, want)
		}
	}
	// Three topics have their own series, the rest are counted together.
	var topics, perTopic float64
	for name, tt := range sum.Topics {
		if v, ok := f.Get("tickcast_topic_ticks_total", "topic", name); ok {
			topics++
			if v != float64(tt.Received) {
				t.Errorf("topic %s: %v ticks in the metrics, %d in the summary", name, v, tt.Received)
			}
		}
	}
	perTopic = f.Value(t, "tickcast_topic_ticks_total")
	if topics != 3 || perTopic != float64(sum.Received) {
		t.Errorf("%v topics labelled (want 3); per-topic ticks add up to %v, want %d", topics, perTopic, sum.Received)
	}
	if h := f.Value(t, "tickcast_subscriber_latency_seconds"); h == 0 {
		t.Error("the latency histogram is empty")
	}
}

// tickcast stat shows a process's live counters: a subscriber's ticks,
// gaps and lines, read from its metrics.
func TestStatShowsALiveSubscriber(t *testing.T) {
	ep := startPub(t, "--symbols", "5", "--rate", "5000")
	sub := background(t, "sub", "--endpoint", ep, "--quiet", "--metrics", "127.0.0.1:0")
	url := await(t, &sub.stderr, `metrics at (http://\S+)`)
	code, out, stderr := tickcast(context.Background(), "stat", "--metrics", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/metrics"),
		"--count", "2", "--interval", "200ms")
	if code != exitOK {
		t.Fatalf("stat exited %d: %s", code, stderr)
	}
	for _, want := range []string{"subscriber", "ticks ", "gaps ", "line", ep, "msgs/s", "latency p50"} {
		if !strings.Contains(out, want) {
			t.Errorf("stat's output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "tickcast stat "); n != 2 {
		t.Errorf("%d refreshes, want 2:\n%s", n, out)
	}
	// Not a tickcast process: said so, no crash.
	code, out, _ = tickcast(context.Background(), "stat", "--metrics", "127.0.0.1:1", "--count", "1")
	if code != exitOK || !strings.Contains(out, "connection refused") {
		t.Errorf("stat of nothing: exit %d, %s", code, out)
	}
}

// sub --status prints a timestamped status line every interval when its
// stderr is not a terminal, so that a piped run can be watched.
func TestSubStatusLinesWhenPiped(t *testing.T) {
	ep := startPub(t, "--symbols", "5", "--rate", "5000")
	code, _, stderr := tickcast(context.Background(), "sub", "--endpoint", ep, "--quiet", "--timeout", "1s", "--status", "200ms")
	if code != exitOK {
		t.Fatalf("sub exited %d: %s", code, stderr)
	}
	n := len(regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} received [\d,]+ ticks`).FindAllString(stderr, -1))
	if n < 2 {
		t.Errorf("%d status lines in a second at 200ms, want several:\n%s", n, stderr)
	}
}

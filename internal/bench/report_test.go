package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestRatios(t *testing.T) {
	lat := func(impl Impl, p50, max int64, st Status) *Result {
		s := RunSpec{Scenario: ScenarioLatency, Transport: "tcp", Impl: impl, Rate: 10_000, Subscribers: 1}
		s.ID = runID(&s)
		return &Result{RunSpec: s, Status: st, All: SubResult{Latency: Percentiles{P50: p50, P90: p50, P99: p50, P999: p50, P9999: p50, Max: max}}}
	}
	thr := func(impl Impl, batch int, tps float64, st Status) *Result {
		s := RunSpec{Scenario: ScenarioThroughput, Transport: "tcp", Impl: impl, Batch: batch, Subscribers: 1}
		s.ID = runID(&s)
		return &Result{RunSpec: s, Status: st, All: SubResult{TicksPerSec: tps}}
	}
	rs := ratios([]*Result{
		lat(ImplTickcast, 50, 1000, StatusOK), lat(ImplLibzmq, 100, 500, StatusOK), lat(ImplZmq4, 200, 1000, StatusFail),
		thr(ImplTickcast, 1, 1e6, StatusOK), thr(ImplLibzmq, 1, 2e6, StatusOK), thr(ImplZmq4, 1, 2.5e5, StatusOK),
		thr(ImplTickcast, 32, 8e6, StatusOK), thr(ImplLibzmq, 32, 4e6, StatusOK),
	})
	type key struct {
		group  string
		versus Impl
	}
	got := map[key]Ratio{}
	for _, r := range rs {
		got[key{r.Group, r.Versus}] = r
	}
	tests := []struct {
		k          key
		throughput float64
		p50, max   float64
		valid      bool
	}{
		{key{"latency tcp 10k/s", ImplLibzmq}, 0, 0.5, 2, true},
		{key{"latency tcp 10k/s", ImplZmq4}, 0, 0.25, 1, false},
		{key{"throughput tcp batch 1", ImplLibzmq}, 0.5, 0, 0, true},
		{key{"throughput tcp batch 1", ImplZmq4}, 4, 0, 0, true},
		{key{"throughput tcp batch 32", ImplLibzmq}, 2, 0, 0, true},
		{key{"throughput tcp batch 32", ImplZmq4}, 32, 0, 0, true}, // against the naive one-tick baseline
	}
	if len(rs) != len(tests) {
		t.Fatalf("%d ratios, want %d: %+v", len(rs), len(tests), rs)
	}
	for _, tt := range tests {
		r, ok := got[tt.k]
		if !ok {
			t.Fatalf("no ratio for %v", tt.k)
		}
		if r.Throughput != tt.throughput || r.Valid != tt.valid {
			t.Errorf("%v: throughput %g valid %v, want %g %v", tt.k, r.Throughput, r.Valid, tt.throughput, tt.valid)
		}
		if tt.p50 > 0 && (r.Latency[0] != tt.p50 || r.Latency[5] != tt.max) {
			t.Errorf("%v: latency ratios %v, want p50 %g max %g", tt.k, r.Latency, tt.p50, tt.max)
		}
	}
}

func TestWriteTextMarksFailures(t *testing.T) {
	s := RunSpec{Scenario: ScenarioLatency, Transport: "tcp", Impl: ImplTickcast, Rate: 1e9, Subscribers: 1}
	r := &Result{RunSpec: s, Pub: PubResult{Sent: 10, Rate: 1e6}, Subs: []SubResult{{Name: "sub1", Received: 10, Rate: 1e6}}}
	judge(r, 0.01)
	skipped := &Result{RunSpec: RunSpec{Scenario: ScenarioLatency, Transport: "epgm", Impl: ImplZmq4, Rate: 1000, Subscribers: 1},
		Status: StatusSkip, Reasons: []string{"go-zeromq/zmq4 has no epgm transport"}}
	rep := &Report{Results: []*Result{r, skipped}}
	var b bytes.Buffer
	rep.WriteText(&b)
	out := b.String()
	for _, want := range []string{"FAIL", "missed its target", "SKIP", "has no epgm transport", "p99.99"} {
		if !strings.Contains(out, want) {
			t.Errorf("the text report lacks %q:\n%s", want, out)
		}
	}
	if !rep.Failed() {
		t.Error("Failed() = false with a FAIL run")
	}
}

func TestAxisLabels(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{1, "0%"}, {2, "50%"}, {10, "90%"}, {100, "99%"}, {1000, "99.9%"}, {1e4, "99.99%"}, {1e6, "99.9999%"},
	}
	for _, tt := range tests {
		if got := percentLabel(tt.x); got != tt.want {
			t.Errorf("percentLabel(%g) = %q, want %q", tt.x, got, tt.want)
		}
	}
	ticks := durationTicks{}.Ticks(800, 2e6)
	var labels []string
	for _, tk := range ticks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if strings.Join(labels, " ") != "1µs 10µs 100µs 1ms" {
		t.Errorf("duration ticks from 800ns to 2ms: %q", labels)
	}
}

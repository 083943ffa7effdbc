package bench

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/schema"
)

func testConfig() Config {
	c := DefaultConfig()
	c.Exe = "/bin/true"
	return c
}

func TestPlan(t *testing.T) {
	c := testConfig()
	c.Scenarios = []Scenario{ScenarioLatency, ScenarioThroughput, ScenarioFanout, ScenarioLoss}
	c.Rates = []float64{1_000, 100_000}
	c.Batches = []int{1, 32}
	c.FlushDelays = []time.Duration{0, 100 * time.Microsecond}
	c.Drops = []float64{0.001, 0.01}
	runs := c.Plan()
	count := map[Scenario]int{}
	ids := map[string]bool{}
	for _, r := range runs {
		count[r.Scenario]++
		if ids[r.ID] {
			t.Fatalf("duplicate run id %q", r.ID)
		}
		ids[r.ID] = true
		if r.Warmup != c.Warmup || r.Duration != c.Duration || r.PayloadSize < rawHeaderSize {
			t.Fatalf("run %s lacks the plan's parameters: %+v", r.ID, r)
		}
		if r.Scenario == ScenarioFanout && r.Subscribers != c.Subscribers {
			t.Fatalf("fanout run %s has %d subscribers", r.ID, r.Subscribers)
		}
		if r.Scenario != ScenarioFanout && r.Subscribers != 1 {
			t.Fatalf("run %s has %d subscribers", r.ID, r.Subscribers)
		}
		if (r.Scenario == ScenarioThroughput) == r.Paced() {
			t.Fatalf("run %s: throughput runs have no target rate, the others do", r.ID)
		}
	}
	want := map[Scenario]int{
		ScenarioLatency: 2 * 3,
		ScenarioFanout:  2 * 3,
		ScenarioLoss:    2 * 2 * 3,
		// tickcast: 2 batches × 2 flush delays; libzmq: 2 batches; zmq4: once.
		ScenarioThroughput: 4 + 2 + 1,
	}
	if !reflect.DeepEqual(count, want) {
		t.Fatalf("runs per scenario %v, want %v", count, want)
	}
	// Implementations alternate innermost: compared runs are neighbours.
	if runs[0].Impl != ImplTickcast || runs[1].Impl != ImplLibzmq || runs[2].Impl != ImplZmq4 || runs[0].Rate != runs[2].Rate {
		t.Fatalf("first runs %s %s %s: implementations should alternate", runs[0].ID, runs[1].ID, runs[2].ID)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"default", func(*Config) {}, ""},
		{"no scenario", func(c *Config) { c.Scenarios = nil }, "no scenario"},
		{"bad scenario", func(c *Config) { c.Scenarios = []Scenario{"speed"} }, "unknown scenario"},
		{"bad impl", func(c *Config) { c.Impls = []Impl{"nanomsg"} }, "unknown implementation"},
		{"bad transport", func(c *Config) { c.Transports = []string{"udp"} }, "unknown transport"},
		{"epgm is a transport", func(c *Config) { c.Transports = []string{"epgm", "pgm"} }, ""},
		{"zero rate", func(c *Config) { c.Rates = []float64{0} }, "must be positive"},
		{"zero batch", func(c *Config) { c.Batches = []int{0} }, "batch 0"},
		{"drop of 1", func(c *Config) { c.Drops = []float64{1} }, "drop fraction"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "duration"},
		{"bad pace", func(c *Config) { c.Pace = "nap" }, "pace"},
		{"no executable", func(c *Config) { c.Exe = "" }, "executable"},
	}
	for _, tt := range tests {
		c := testConfig()
		tt.change(&c)
		err := c.Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		ok   bool
	}{
		{"", nil, true}, {"0", []int{0}, true}, {"0,1", []int{0, 1}, true}, {"0-3", []int{0, 1, 2, 3}, true},
		{"1,3-4", []int{1, 3, 4}, true}, {"x", nil, false}, {"3-1", nil, false}, {"-1", nil, false},
	}
	for _, tt := range tests {
		got, err := ParseCPUs(tt.in)
		if (err == nil) != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCPUs(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestPayloadSizeIsATickcastMessage(t *testing.T) {
	for _, n := range []int{1, 8, 128, 512} {
		got := payloadSize(n)
		if got < n*schema.TickSize || got > n*schema.TickSize+200 {
			t.Errorf("payloadSize(%d) = %d: not the size of %d encoded ticks", n, got, n)
		}
	}
}

func TestRawPayload(t *testing.T) {
	b := make([]byte, payloadSize(1))
	tests := []struct {
		intended, index int64
		ticks           uint32
	}{
		{1_700_000_000_123_456_789, 0, 1}, {5, -1, 1}, {7, endIndex, 0}, {9, 1 << 40, 512},
	}
	for _, tt := range tests {
		putRaw(b, tt.intended, tt.index, tt.ticks)
		in, ix, n, ok := parseRaw(b)
		if !ok || in != tt.intended || ix != tt.index || n != tt.ticks {
			t.Errorf("round trip of %+v: %d %d %d %v", tt, in, ix, n, ok)
		}
	}
	if _, _, _, ok := parseRaw(b[:rawHeaderSize-1]); ok {
		t.Error("a short payload parsed")
	}
	if warmupIndex(0, 10) != -10 || warmupIndex(9, 10) != -1 {
		t.Error("warm-up indexes should run from −n to −1")
	}
}

func TestLabelsAndRates(t *testing.T) {
	tests := []struct {
		spec RunSpec
		want string
	}{
		{RunSpec{Scenario: ScenarioLatency, Transport: "tcp", Impl: ImplTickcast, Rate: 100_000, Subscribers: 1}, "latency tcp tickcast 100k/s"},
		{RunSpec{Scenario: ScenarioThroughput, Transport: "ipc", Impl: ImplLibzmq, Batch: 32, Subscribers: 1}, "throughput ipc libzmq batch 32"},
		{RunSpec{Scenario: ScenarioFanout, Transport: "tcp", Impl: ImplZmq4, Rate: 1_500_000, Subscribers: 4}, "fanout tcp zmq4 1.5M/s ×4 subs"},
		{RunSpec{Scenario: ScenarioLoss, Transport: "tcp", Impl: ImplTickcast, Rate: 10_000, Subscribers: 1, Drop: 0.001}, "loss tcp tickcast 10k/s drop 0.1%"},
	}
	for _, tt := range tests {
		if got := tt.spec.Label(); got != tt.want {
			t.Errorf("Label() = %q, want %q", got, tt.want)
		}
	}
}

package bench

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// Scenario names what a run measures.
type Scenario string

// Scenarios.
const (
	ScenarioLatency    Scenario = "latency"
	ScenarioThroughput Scenario = "throughput"
	ScenarioFanout     Scenario = "fanout"
	ScenarioLoss       Scenario = "loss"
)

// Impl names the stack that drives a run, publisher and subscribers alike.
type Impl string

// Implementations.
const (
	// ImplTickcast is tickcast's publisher and subscriber (packages
	// publisher, subscriber, endpoint).
	ImplTickcast Impl = "tickcast"
	// ImplLibzmq is Debian's libzmq, through the C peer in libzmqpeer.
	ImplLibzmq Impl = "libzmq"
	// ImplZmq4 is go-zeromq/zmq4's PUB and SUB, one tick per message: the
	// naive Go baseline.
	ImplZmq4 Impl = "zmq4"
)

// Config is a benchmark plan: which scenarios, transports and
// implementations, and the parameters they sweep.
type Config struct {
	Scenarios  []Scenario
	Transports []string // endpoint schemes: tcp, ipc, epgm, pgm
	Impls      []Impl

	Rates       []float64       // ticks/s of the paced scenarios (latency, fanout, loss)
	Batches     []int           // throughput: ticks per message (tickcast: WithMaxBatch)
	FlushDelays []time.Duration // throughput: tickcast's WithFlushDelay
	Subscribers int             // fanout: subscriber processes
	Drops       []float64       // loss: fraction of the publisher's packets dropped
	Topics      int             // tickcast topics the ticks are spread over
	Warmup      time.Duration   // excluded from the results
	Duration    time.Duration   // measured
	Pace        PaceMode
	PubCPUs     []int // pin publishers to these CPUs (none: not pinned)
	SubCPUs     []int // pin subscribers to these CPUs
	HWM         int   // tickcast: messages queued per subscriber (0: the default)
	// PGMRate is the epgm/pgm rate limit in kbit/s for every implementation
	// (tickcast's endpoint.WithRate, libzmq's ZMQ_RATE); 0: 1 Gbit/s.
	PGMRate int64
	// NAKBackoff, NAKRepeat and NAKRData are tickcast's PGM repair timers
	// (endpoint.WithNAKTimers; zero: libzmq's 50, 200, 200 ms). libzmq
	// cannot set them.
	NAKBackoff, NAKRepeat, NAKRData time.Duration
	// RateTolerance is how far below its target rate a paced run may fall
	// before it is marked FAIL (0.01: 1%).
	RateTolerance float64
	// Interface is the interface address multicast transports are named
	// with (epgm://IFACE;group:port). Never left to the OS.
	Interface string

	// Command is the command line that asked for the plan, for the record.
	Command string

	// Exe and ChildArgs start a child process: Exe ChildArgs... must run
	// Child. Exe is normally os.Executable().
	Exe       string
	ChildArgs []string
	ChildEnv  []string // added to the children's environment
	// CacheDir is where the libzmq C peer is compiled.
	CacheDir string
	Logger   *slog.Logger
	// Progress receives one line per run, and a live status line when
	// ProgressTTY is set (a terminal). Nil: no progress.
	Progress    io.Writer
	ProgressTTY bool
}

// DefaultConfig returns the plan `tickcast bench` runs without flags.
func DefaultConfig() Config {
	return Config{
		Scenarios:     []Scenario{ScenarioLatency, ScenarioThroughput},
		Transports:    []string{"tcp"},
		Impls:         []Impl{ImplTickcast, ImplLibzmq, ImplZmq4},
		Rates:         []float64{1_000, 10_000, 100_000},
		Batches:       []int{1, 8, 32, 128, 512},
		FlushDelays:   []time.Duration{0},
		Subscribers:   4,
		Drops:         []float64{0.001},
		Topics:        1,
		Warmup:        time.Second,
		Duration:      5 * time.Second,
		Pace:          PaceHybrid,
		RateTolerance: 0.01,
		Interface:     "127.0.0.1",
	}
}

// RunSpec is one run of a plan.
type RunSpec struct {
	ID        string   `json:"id"`
	Scenario  Scenario `json:"scenario"`
	Transport string   `json:"transport"`
	Impl      Impl     `json:"impl"`
	// Rate is the target in ticks/s; 0 means as fast as possible.
	Rate float64 `json:"rate"`
	// Batch: tickcast's max ticks per message; libzmq and zmq4 send
	// exactly this many ticks' worth of bytes per message.
	Batch       int           `json:"batch"`
	FlushDelay  time.Duration `json:"flush_delay_ns"`
	Subscribers int           `json:"subscriber_count"`
	Drop        float64       `json:"drop,omitempty"`
	Topics      int           `json:"topics"`
	Warmup      time.Duration `json:"warmup_ns"`
	Duration    time.Duration `json:"duration_ns"`
	Pace        PaceMode      `json:"pace,omitempty"`
	// PayloadSize is the size of one message body of libzmq and zmq4 runs:
	// that of a tickcast message carrying Batch ticks, so all three move
	// the same bytes.
	PayloadSize int              `json:"payload_bytes"`
	PubCPUs     []int            `json:"pub_cpus,omitempty"`
	SubCPUs     []int            `json:"sub_cpus,omitempty"`
	HWM         int              `json:"hwm,omitempty"`
	PGMRate     int64            `json:"pgm_rate_kbps,omitempty"`
	NAK         [3]time.Duration `json:"nak_timers,omitempty"`
}

// Paced reports whether the run follows a schedule (has a target rate).
func (s *RunSpec) Paced() bool { return s.Rate > 0 }

// Label is a short human name of the run: "latency tcp tickcast 10k/s".
func (s *RunSpec) Label() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", s.Scenario, s.Transport, s.Impl)
	if s.Paced() {
		fmt.Fprintf(&b, " %s/s", FormatRate(s.Rate))
	} else {
		fmt.Fprintf(&b, " batch %d", s.Batch)
		if s.FlushDelay > 0 {
			fmt.Fprintf(&b, " flush %v", s.FlushDelay)
		}
	}
	if s.Subscribers > 1 {
		fmt.Fprintf(&b, " ×%d subs", s.Subscribers)
	}
	if s.Drop > 0 {
		fmt.Fprintf(&b, " drop %g%%", s.Drop*100)
	}
	if s.Impl == ImplTickcast && s.NAK != ([3]time.Duration{}) && (s.Transport == "epgm" || s.Transport == "pgm") {
		fmt.Fprintf(&b, " nak %v", s.NAK[0]) // tuned repair timers
	}
	return b.String()
}

// FormatRate writes a rate compactly: 1k, 10k, 100k, 1.5M.
func FormatRate(r float64) string {
	switch {
	case r >= 1e6:
		return strconv.FormatFloat(r/1e6, 'f', -1, 64) + "M"
	case r >= 1e3:
		return strconv.FormatFloat(r/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// Validate checks a configuration before anything runs.
func (c *Config) Validate() error {
	switch {
	case len(c.Scenarios) == 0:
		return fmt.Errorf("bench: no scenario")
	case len(c.Transports) == 0:
		return fmt.Errorf("bench: no transport")
	case len(c.Impls) == 0:
		return fmt.Errorf("bench: no implementation")
	case c.Warmup < 0 || c.Duration <= 0:
		return fmt.Errorf("bench: the duration must be positive and the warm-up not negative")
	case c.Topics < 1:
		return fmt.Errorf("bench: at least one topic")
	case c.RateTolerance < 0 || c.RateTolerance >= 1:
		return fmt.Errorf("bench: rate tolerance %g out of [0, 1)", c.RateTolerance)
	case c.Exe == "":
		return fmt.Errorf("bench: no executable for the child processes")
	}
	for _, s := range c.Scenarios {
		switch s {
		case ScenarioLatency, ScenarioThroughput, ScenarioFanout, ScenarioLoss:
		default:
			return fmt.Errorf("bench: unknown scenario %q (latency, throughput, fanout, loss)", s)
		}
	}
	for _, im := range c.Impls {
		switch im {
		case ImplTickcast, ImplLibzmq, ImplZmq4:
		default:
			return fmt.Errorf("bench: unknown implementation %q (tickcast, libzmq, zmq4)", im)
		}
	}
	for _, t := range c.Transports {
		switch t {
		case "tcp", "ipc", "epgm", "pgm":
		default:
			return fmt.Errorf("bench: unknown transport %q (tcp, ipc, epgm, pgm)", t)
		}
	}
	for _, r := range c.Rates {
		if r <= 0 {
			return fmt.Errorf("bench: rate %g: must be positive", r)
		}
	}
	for _, b := range c.Batches {
		if b < 1 || b > 1<<16 {
			return fmt.Errorf("bench: batch %d out of [1, 65536]", b)
		}
	}
	for _, d := range c.Drops {
		if d <= 0 || d >= 1 {
			return fmt.Errorf("bench: drop fraction %g out of (0, 1)", d)
		}
	}
	if _, err := ParsePaceMode(string(c.Pace)); err != nil {
		return err
	}
	return nil
}

// Plan expands the configuration into runs, in the order they run. The
// implementations alternate innermost, so runs that are compared run next
// to each other, under the same machine conditions.
func (c *Config) Plan() []RunSpec {
	var runs []RunSpec
	add := func(s RunSpec) {
		s.Topics, s.Warmup, s.Duration, s.Pace = c.Topics, c.Warmup, c.Duration, c.Pace
		s.PubCPUs, s.SubCPUs, s.HWM, s.PGMRate = c.PubCPUs, c.SubCPUs, c.HWM, c.PGMRate
		s.NAK = [3]time.Duration{c.NAKBackoff, c.NAKRepeat, c.NAKRData}
		if s.Subscribers == 0 {
			s.Subscribers = 1
		}
		if s.Batch == 0 {
			s.Batch = defaultBatch(s.Impl)
		}
		s.PayloadSize = payloadSize(s.Batch)
		if s.Impl != ImplTickcast {
			s.Topics = 1
		}
		s.ID = runID(&s)
		runs = append(runs, s)
	}
	for _, sc := range c.Scenarios {
		for _, tr := range c.Transports {
			switch sc {
			case ScenarioLatency:
				for _, r := range c.Rates {
					for _, im := range c.Impls {
						add(RunSpec{Scenario: sc, Transport: tr, Impl: im, Rate: r})
					}
				}
			case ScenarioFanout:
				for _, r := range c.Rates {
					for _, im := range c.Impls {
						add(RunSpec{Scenario: sc, Transport: tr, Impl: im, Rate: r, Subscribers: max(c.Subscribers, 1)})
					}
				}
			case ScenarioLoss:
				for _, d := range c.Drops {
					for _, r := range c.Rates {
						for _, im := range c.Impls {
							add(RunSpec{Scenario: sc, Transport: tr, Impl: im, Rate: r, Drop: d})
						}
					}
				}
			case ScenarioThroughput:
				for _, b := range c.Batches {
					for _, im := range c.Impls {
						switch im {
						case ImplTickcast:
							for _, fd := range c.FlushDelays {
								add(RunSpec{Scenario: sc, Transport: tr, Impl: im, Batch: b, FlushDelay: fd})
							}
						case ImplZmq4:
							// The naive baseline is one tick per message:
							// run it once, in the row of batch 1 (or the
							// smallest batch swept).
							if b == minInt(c.Batches) {
								add(RunSpec{Scenario: sc, Transport: tr, Impl: im, Batch: 1})
							}
						default:
							add(RunSpec{Scenario: sc, Transport: tr, Impl: im, Batch: b})
						}
					}
				}
			}
		}
	}
	return runs
}

func minInt(xs []int) int {
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}

// defaultBatch is the batch of paced runs: tickcast's default max batch,
// and one tick per message for the ZeroMQ baselines (paced ticks leave one
// by one: nothing is there to batch with).
func defaultBatch(im Impl) int {
	if im == ImplTickcast {
		return 128
	}
	return 1
}

func runID(s *RunSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s-%s-%s", s.Scenario, s.Transport, s.Impl)
	if s.Paced() {
		fmt.Fprintf(&b, "-r%s", FormatRate(s.Rate))
	} else {
		fmt.Fprintf(&b, "-b%d", s.Batch)
		if s.FlushDelay > 0 {
			fmt.Fprintf(&b, "-fd%s", s.FlushDelay)
		}
	}
	if s.Subscribers > 1 {
		fmt.Fprintf(&b, "-s%d", s.Subscribers)
	}
	if s.Drop > 0 {
		fmt.Fprintf(&b, "-d%g", s.Drop)
	}
	return strings.NewReplacer(".", "_", "µ", "u").Replace(b.String())
}

// payloadSize is the size of a tickcast message body carrying n ticks: the
// body size libzmq and zmq4 runs send, so every implementation moves the
// same bytes.
func payloadSize(n int) int {
	enc := schema.NewEncoder(64 + n*schema.TickSize)
	h := schema.Header{Type: schema.Batch, Session: 1, StreamSeq: 1, SendTime: 1}
	return max(len(enc.Encode(h, make([]schema.Tick, n))), rawHeaderSize)
}

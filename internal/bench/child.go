package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// childSpec is what the parent tells a child process (the first line of
// its standard input).
type childSpec struct {
	Role     string `json:"role"` // "pub" or "sub"
	Name     string `json:"name"`
	Impl     Impl   `json:"impl"`
	Endpoint string `json:"endpoint"` // pub: where to bind; sub: where to connect

	// Publisher.
	Rate        float64          `json:"rate"` // ticks/s; 0: as fast as possible
	WarmupTicks int64            `json:"warmup_ticks"`
	Ticks       int64            `json:"ticks"` // paced: measured ticks
	Warmup      time.Duration    `json:"warmup"`
	Duration    time.Duration    `json:"duration"` // flood: measured time
	Batch       int              `json:"batch"`
	FlushDelay  time.Duration    `json:"flush_delay"`
	HWM         int              `json:"hwm"`
	PGMRate     int64            `json:"pgm_rate_kbps"` // epgm/pgm rate limit; 0: 1 Gbit/s
	NAK         [3]time.Duration `json:"nak_timers"`    // tickcast's PGM repair timers; 0: libzmq's
	Topics      int              `json:"topics"`
	PayloadSize int              `json:"payload_size"`
	Pace        PaceMode         `json:"pace"`
	Subscribers int              `json:"subscribers"` // wait for this many, where the transport tells

	CPUs     []int `json:"cpus,omitempty"`
	Deadline int64 `json:"deadline"` // ns since the epoch: stop by then, whatever happens
}

// childEvent is one line a child writes on its standard output.
type childEvent struct {
	Event    string       `json:"event"` // listening, ready, result, error
	Endpoint string       `json:"endpoint,omitempty"`
	Error    string       `json:"error,omitempty"`
	Result   *childResult `json:"result,omitempty"`
}

// childResult is what a child measured. The C peer writes the same JSON,
// with its latencies in a file instead of an encoded histogram.
type childResult struct {
	// Publisher.
	Sent          int64  `json:"sent"`
	WarmupSent    int64  `json:"warmup_sent"`
	FirstIntended int64  `json:"first_intended"` // the first measured tick's, ns
	LastIntended  int64  `json:"last_intended"`
	LastActual    int64  `json:"last_actual"` // when the last measured tick was handed over
	Messages      uint64 `json:"messages"`
	Bytes         uint64 `json:"bytes"`
	Dropped       uint64 `json:"dropped"`
	Rejected      uint64 `json:"rejected"`
	Lateness      string `json:"lateness,omitempty"` // encoded histogram
	LatenessFile  string `json:"lateness_file,omitempty"`

	// Subscriber.
	Received       int64  `json:"received"`
	WarmupReceived int64  `json:"warmup_received"`
	FirstRecv      int64  `json:"first_recv"`
	LastRecv       int64  `json:"last_recv"`
	MinIntended    int64  `json:"min_intended"`
	RecvMessages   uint64 `json:"recv_messages"`
	RecvBytes      uint64 `json:"recv_bytes"`
	Gaps           uint64 `json:"gaps"`
	Missing        uint64 `json:"missing"`
	Duplicates     uint64 `json:"duplicates"`
	DecodeErrors   uint64 `json:"decode_errors"`
	ClockSkew      int64  `json:"clock_skew"`
	Latency        string `json:"latency,omitempty"` // encoded histogram
	LatencyFile    string `json:"latency_file,omitempty"`
	Ended          bool   `json:"ended"` // saw the end of the run (not a deadline)

	Proc ProcStats `json:"proc"`
}

// Child runs one process of a benchmark run, as the parent started it
// (Config.Exe with Config.ChildArgs): its spec is the first line of in, the
// word "go" the second (publishers), and it writes JSON events to out. It
// returns once it has written its result, or with an error it has written
// too.
func Child(ctx context.Context, in io.Reader, out io.Writer, logger *slog.Logger) error {
	enc := json.NewEncoder(out)
	emit := func(ev childEvent) { _ = enc.Encode(ev) }
	fail := func(err error) error {
		emit(childEvent{Event: "error", Error: err.Error()})
		return err
	}
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 1<<16), 1<<20)
	if !lines.Scan() {
		return fail(fmt.Errorf("bench child: no spec on stdin: %v", lines.Err()))
	}
	var spec childSpec
	if err := json.Unmarshal(lines.Bytes(), &spec); err != nil {
		return fail(fmt.Errorf("bench child: bad spec: %w", err))
	}
	if err := pinSelf(spec.CPUs); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithDeadline(ctx, time.Unix(0, spec.Deadline))
	defer cancel()
	var (
		res *childResult
		err error
	)
	switch spec.Role {
	case "pub":
		// "go" arrives on stdin once every subscriber is ready, "close"
		// once every subscriber is done; EOF (the parent gave up) cancels.
		start, release := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(release)
			if !lines.Scan() || lines.Text() != "go" {
				cancel()
				return
			}
			close(start)
			for lines.Scan() && lines.Text() != "close" {
			}
		}()
		res, err = runPub(ctx, &spec, start, release, func(ep string) { emit(childEvent{Event: "listening", Endpoint: ep}) }, logger)
	case "sub":
		res, err = runSub(ctx, &spec, func() { emit(childEvent{Event: "ready"}) }, logger)
	default:
		err = fmt.Errorf("bench child: unknown role %q", spec.Role)
	}
	if err != nil {
		return fail(err)
	}
	res.Proc = procStats()
	res.Proc.CPUs = spec.CPUs
	emit(childEvent{Event: "result", Result: res})
	return nil
}

// pubDriver is a publisher of one implementation.
type pubDriver interface {
	// endpoint is the bound endpoint.
	endpoint() string
	// subscribed returns how many subscribers are connected and
	// subscribed, or -1 if the transport cannot tell.
	subscribed() int
	// publish hands one tick over for sending.
	publish(topic int, intended, index int64) error
	// flood hands over the next chunk of ticks, starting at index, built
	// at now, and returns how many it sent. It holds back while the
	// transport's queues are deep (flow control), so that a throughput run
	// measures what is delivered, not a drop policy.
	flood(now, index int64) (int64, error)
	// close ends the run: the end of session or end marker, then close.
	close() error
	stats(r *childResult)
}

// startDelay is how long after "go" the schedule's first tick is due.
const startDelay = 20 * time.Millisecond

func runPub(ctx context.Context, spec *childSpec, start, release <-chan struct{}, listening func(string), logger *slog.Logger) (*childResult, error) {
	var (
		d   pubDriver
		err error
	)
	switch spec.Impl {
	case ImplTickcast:
		d, err = newTickcastPub(spec, logger)
	case ImplZmq4:
		d, err = newZmq4Pub(ctx, spec, release)
	default:
		err = fmt.Errorf("bench child: no Go publisher for %q", spec.Impl)
	}
	if err != nil {
		return nil, err
	}
	listening(d.endpoint())
	select {
	case <-start:
	case <-ctx.Done():
		d.close()
		return nil, fmt.Errorf("bench child: publisher: no go from the parent: %w", context.Cause(ctx))
	}
	// Wait (a bounded time) for the subscribers' subscriptions to arrive,
	// where the transport can tell; the warm-up covers the rest.
	for wait := time.Now().Add(5 * time.Second); d.subscribed() >= 0 && d.subscribed() < spec.Subscribers && time.Now().Before(wait); {
		time.Sleep(time.Millisecond)
	}
	var res childResult
	if spec.Rate > 0 {
		err = paced(ctx, d, spec, &res)
	} else {
		err = flood(ctx, d, spec, &res)
	}
	if cerr := d.close(); err == nil {
		err = cerr
	}
	d.stats(&res)
	return &res, err
}

// paced publishes on the schedule: the warm-up ticks, then the measured
// ones, each carrying its intended send time. It never sleeps past a
// tick's time (see PaceMode). It does not lock its OS thread: a locked
// goroutine that yields parks its thread and needs a futex wake to run
// again, which costs tens of microseconds per yield (measured: p50
// lateness 63ns unlocked, 11–30µs locked, in PaceYield). A tick that
// falls due while the pacer is behind (a descheduled thread, a GC pause)
// is sent at once, still with its intended time: the delay is charged to
// it, not forgotten.
func paced(ctx context.Context, d pubDriver, spec *childSpec, res *childResult) error {
	// The pacer keeps a P busy for the whole run, and a P that yields
	// takes its next goroutine from its own or the global queue, never
	// steals: a goroutine the publisher woke (its sender, a connection's
	// writer) could wait behind the busy P until preempted, 10ms later.
	// So the pacer gets a P of its own, on top of the publisher's.
	procs := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(procs + 1)
	defer runtime.GOMAXPROCS(procs)
	late := newHistogram() // one per recording goroutine: this one
	p := pacer{mode: spec.Pace, now: wallNow}
	sched := newSchedule(wallNow()+int64(startDelay), spec.Rate)
	warm, total := spec.WarmupTicks, spec.WarmupTicks+spec.Ticks
	topics := int64(max(spec.Topics, 1))
	res.FirstIntended = sched.at(warm)
	var err error
	for i := int64(0); i < total && err == nil; {
		now := p.wait(sched.at(i))
		for due := min(sched.due(now), total); i < due; i++ {
			intended := sched.at(i)
			if err = d.publish(int(i%topics), intended, warmupIndex(i, warm)); err != nil {
				break
			}
			if i >= warm {
				record(late, now-intended)
				res.Sent++
				res.LastIntended, res.LastActual = intended, now
			} else {
				res.WarmupSent++
			}
			now = wallNow() // the next tick of a catch-up burst leaves after this one
		}
		if ctx.Err() != nil && err == nil {
			err = fmt.Errorf("bench child: publisher stopped after %d of %d ticks: %w", i, total, context.Cause(ctx))
		}
	}
	var eerr error
	res.Lateness, eerr = encodeHistogram(late)
	return errors.Join(err, eerr)
}

// flood publishes as fast as the driver lets it: the warm-up time, then
// the measured time.
func flood(ctx context.Context, d pubDriver, spec *childSpec, res *childResult) error {
	t0 := wallNow()
	warmEnd := t0 + int64(spec.Warmup)
	end := warmEnd + int64(spec.Duration)
	// Warm-up indexes count down to −1 from a start far enough below zero.
	index := int64(-1) << 40
	for {
		now := wallNow()
		if now >= end {
			break
		}
		if now >= warmEnd && index < 0 {
			index = 0
			res.FirstIntended = now
		}
		n, err := d.flood(now, index)
		if err != nil {
			return err
		}
		if index >= 0 {
			res.Sent += n
			res.LastIntended, res.LastActual = now, now
		} else {
			res.WarmupSent += n
		}
		index += n
		if index >= 0 && res.FirstIntended == 0 {
			// The warm-up ran into the measured indexes: take them as measured.
			res.FirstIntended = now
		}
		if ctx.Err() != nil {
			return fmt.Errorf("bench child: publisher stopped: %w", context.Cause(ctx))
		}
	}
	return nil
}

// subDriver is a subscriber of one implementation: it runs until the end
// of the run or ctx is done, recording into rec.
type subDriver func(ctx context.Context, spec *childSpec, rec *tickRecorder, ready func(), logger *slog.Logger) error

func runSub(ctx context.Context, spec *childSpec, ready func(), logger *slog.Logger) (*childResult, error) {
	var run subDriver
	switch spec.Impl {
	case ImplTickcast:
		run = runTickcastSub
	case ImplZmq4:
		run = runZmq4Sub
	default:
		return nil, fmt.Errorf("bench child: no Go subscriber for %q", spec.Impl)
	}
	rec := newTickRecorder()
	err := run(ctx, spec, rec, ready, logger)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // the deadline is a normal end: what is missing counts as lost
	}
	res := rec.result()
	var eerr error
	res.Latency, eerr = encodeHistogram(rec.lat)
	return res, errors.Join(err, eerr)
}

// tickRecorder accumulates what a subscriber receives. Its methods run for
// every tick and allocate nothing.
type tickRecorder struct {
	lat         *hdrhistogram.Histogram
	received    int64
	warmup      int64
	firstRecv   int64
	lastRecv    int64
	minIntended int64
	skew        int64
	messages    uint64
	bytes       uint64
	ended       bool
	// tickcast's own reports.
	gaps, missing, duplicates, decodeErrors uint64
}

func newTickRecorder() *tickRecorder { return &tickRecorder{lat: newHistogram()} }

// tick records n ticks received at now that were intended at intended,
// the first with index index (< 0: warm-up, not recorded).
func (r *tickRecorder) tick(now, intended, index int64, n int64) {
	if index < 0 {
		r.warmup += n
		return
	}
	lat := now - intended
	if lat < 0 {
		r.skew += n
	}
	_ = r.lat.RecordValues(min(max(lat, histLowest), histHighest), n)
	if r.received == 0 {
		r.firstRecv, r.minIntended = now, intended
	}
	r.minIntended = min(r.minIntended, intended)
	r.received += n
	r.lastRecv = now
}

func (r *tickRecorder) result() *childResult {
	return &childResult{
		Received: r.received, WarmupReceived: r.warmup, FirstRecv: r.firstRecv, LastRecv: r.lastRecv,
		MinIntended: r.minIntended, ClockSkew: r.skew, RecvMessages: r.messages, RecvBytes: r.bytes,
		Ended: r.ended, Gaps: r.gaps, Missing: r.missing, Duplicates: r.duplicates, DecodeErrors: r.decodeErrors,
	}
}

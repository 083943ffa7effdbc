package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/tickcast/tickcast/endpoint"
)

// Report is a benchmark's outcome: the machine, the plan, every run and
// the ratios between implementations.
type Report struct {
	Meta    Metadata  `json:"metadata"`
	Config  ConfigOut `json:"config"`
	Results []*Result `json:"results"`
	Ratios  []Ratio   `json:"ratios"`
}

// ConfigOut is the plan as the report records it.
type ConfigOut struct {
	Scenarios     []Scenario `json:"scenarios"`
	Transports    []string   `json:"transports"`
	Impls         []Impl     `json:"impls"`
	Rates         []float64  `json:"rates"`
	Batches       []int      `json:"batches"`
	FlushDelaysNs []int64    `json:"flush_delays_ns"`
	Subscribers   int        `json:"subscribers"`
	Drops         []float64  `json:"drops"`
	Topics        int        `json:"topics"`
	WarmupNs      int64      `json:"warmup_ns"`
	DurationNs    int64      `json:"duration_ns"`
	Pace          PaceMode   `json:"pace"`
	PubCPUs       []int      `json:"pub_cpus"`
	SubCPUs       []int      `json:"sub_cpus"`
	HWM           int        `json:"hwm"`
	RateTolerance float64    `json:"rate_tolerance"`
	Interface     string     `json:"interface"`
}

func configOut(c *Config) ConfigOut {
	o := ConfigOut{Scenarios: c.Scenarios, Transports: c.Transports, Impls: c.Impls, Rates: c.Rates,
		Batches: c.Batches, Subscribers: c.Subscribers, Drops: c.Drops, Topics: c.Topics,
		WarmupNs: int64(c.Warmup), DurationNs: int64(c.Duration), Pace: c.Pace, PubCPUs: c.PubCPUs,
		SubCPUs: c.SubCPUs, HWM: c.HWM, RateTolerance: c.RateTolerance, Interface: c.Interface}
	for _, d := range c.FlushDelays {
		o.FlushDelaysNs = append(o.FlushDelaysNs, int64(d))
	}
	return o
}

// Run runs the plan of cfg, one run at a time, and returns the report.
// Runs that cannot be made on this machine are SKIP, with the reason;
// a cancelled ctx stops the benchmark after killing the current run's
// processes, and returns what was measured so far with ctx's error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RateTolerance == 0 {
		cfg.RateTolerance = 0.01
	}
	if cfg.Interface == "" {
		cfg.Interface = "127.0.0.1"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		cfg.CacheDir = filepath.Join(dir, "tickcast-bench")
	}
	work, err := os.MkdirTemp("", "tickcast-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(work)
	r := &runner{cfg: cfg, work: work, log: cfg.Logger}
	rep := &Report{Meta: collectMetadata(ctx), Config: configOut(&cfg)}
	rep.Meta.Command = cfg.Command
	plan := cfg.Plan()
	for _, im := range cfg.Impls {
		if im == ImplLibzmq {
			r.peer, rep.Meta.Libzmq, r.peerErr = buildPeer(ctx, cfg.CacheDir, cfg.Logger)
		}
	}
	prog := newProgress(cfg.Progress, cfg.ProgressTTY, len(plan))
	for i, spec := range plan {
		if ctx.Err() != nil {
			break
		}
		prog.begin(i, &spec)
		res := r.run(ctx, spec, prog)
		rep.Results = append(rep.Results, res)
		prog.end(res)
	}
	rep.Ratios = ratios(rep.Results)
	return rep, ctx.Err()
}

// runner runs the runs of one benchmark.
type runner struct {
	cfg     Config
	work    string // scratch directory: samples files, ipc sockets
	log     *slog.Logger
	peer    string // the libzmq peer binary
	peerErr error
	seq     int
}

// skipReason says why spec cannot run here, or "".
func (r *runner) skipReason(spec *RunSpec) string {
	switch spec.Impl {
	case ImplLibzmq:
		if r.peerErr != nil {
			return r.peerErr.Error()
		}
	case ImplZmq4:
		if spec.Transport != "tcp" && spec.Transport != "ipc" {
			return fmt.Sprintf("go-zeromq/zmq4 has no %s transport", spec.Transport)
		}
	case ImplTickcast:
		if spec.Transport != "tcp" && spec.Transport != "ipc" {
			// Opening a subscriber checks the scheme, the interface and,
			// for pgm, the right to raw sockets.
			src, err := endpoint.Source(spec.Transport + "://" + r.cfg.Interface + ";" + mcastGroup + ":1")
			if err != nil {
				return fmt.Sprintf("tickcast: cannot open %s here (%v)", spec.Transport, err)
			}
			src.Close()
		}
	}
	if spec.Transport == "pgm" {
		if err := canRawPGM(); err != nil {
			return fmt.Sprintf("pgm runs over raw IP sockets, which need root or CAP_NET_RAW (%v); epgm runs without", err)
		}
	}
	if spec.Scenario == ScenarioLoss {
		if spec.Transport == "ipc" {
			return "the loss scenario needs a network transport (ipc does not cross network namespaces)"
		}
		if err := canMakeNetns(); err != nil {
			return err.Error()
		}
	}
	return ""
}

// childDeadline is how long a run's processes may live: start-up, the
// warm-up and measured time, and time to drain (a flood's backlog).
func childDeadline(spec *RunSpec) time.Duration {
	d := 15*time.Second + spec.Warmup + spec.Duration
	if !spec.Paced() {
		d += 2 * spec.Duration
	}
	return d
}

func (r *runner) run(ctx context.Context, spec RunSpec, prog *progress) *Result {
	res := &Result{RunSpec: spec}
	if why := r.skipReason(&spec); why != "" {
		res.Status, res.Reasons = StatusSkip, []string{why}
		return res
	}
	r.seq++
	dir := filepath.Join(r.work, fmt.Sprintf("run%03d", r.seq))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.Status, res.Reasons = StatusFail, []string{err.Error()}
		return res
	}
	defer os.RemoveAll(dir)

	net := localNet(r.cfg.Interface)
	if spec.Scenario == ScenarioLoss {
		var err error
		if net, err = setupLossNet(ctx, spec.Drop, r.log); err != nil {
			var skip *errSkip
			if errors.As(err, &skip) {
				res.Status, res.Reasons = StatusSkip, []string{skip.reason}
			} else {
				res.Status, res.Reasons = StatusFail, []string{err.Error()}
			}
			return res
		}
		defer func() {
			if n := net.dropped(); n >= 0 {
				res.Notes = append(res.Notes, fmt.Sprintf("nftables dropped %d of the publisher's packets", n))
			}
			net.teardown()
		}()
	}
	deadline := time.Now().Add(childDeadline(&spec))
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(5*time.Second))
	defer cancel()
	if err := r.execute(ctx, &spec, res, net, dir, deadline, prog); err != nil {
		res.Status = StatusFail
		res.Reasons = append(res.Reasons, err.Error())
	}
	judge(res, r.cfg.RateTolerance)
	return res
}

// execute starts the run's processes, waits for them, and fills res.
func (r *runner) execute(ctx context.Context, spec *RunSpec, res *Result, net *network, dir string, deadline time.Time, prog *progress) error {
	base := childSpec{
		Impl: spec.Impl, Rate: spec.Rate, Warmup: spec.Warmup, Duration: spec.Duration,
		Batch: spec.Batch, FlushDelay: spec.FlushDelay, HWM: spec.HWM, PGMRate: spec.PGMRate, NAK: spec.NAK, Topics: spec.Topics,
		PayloadSize: spec.PayloadSize, Pace: spec.Pace, Subscribers: spec.Subscribers,
		Deadline: deadline.UnixNano(),
	}
	if spec.Paced() {
		base.WarmupTicks = int64(spec.Rate * spec.Warmup.Seconds())
		base.Ticks = max(int64(spec.Rate*spec.Duration.Seconds()), 1)
	}
	pubSpec := base
	pubSpec.Role, pubSpec.Name, pubSpec.CPUs = "pub", "pub", spec.PubCPUs
	pubSpec.Endpoint = net.bindEndpoint(spec.Transport, dir, r.seq)
	pub, err := r.start(ctx, &pubSpec, net.pubPrefix, filepath.Join(dir, "pub.samples"))
	if err != nil {
		return err
	}
	defer pub.kill()
	ev, err := pub.expect("listening", 10*time.Second)
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	connect := net.connectEndpoint(spec.Transport, ev.Endpoint)

	subs := make([]*proc, spec.Subscribers)
	for i := range subs {
		s := base
		s.Role, s.Name, s.CPUs, s.Endpoint = "sub", fmt.Sprintf("sub%d", i+1), spec.SubCPUs, connect
		p, err := r.start(ctx, &s, net.subPrefix, filepath.Join(dir, s.Name+".samples"))
		if err != nil {
			return err
		}
		defer p.kill()
		subs[i] = p
	}
	for _, p := range subs {
		if _, err := p.expect("ready", 10*time.Second); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	if err := pub.send("go"); err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	prog.running(spec)

	// Subscribers end when the run does (or at their deadline); then the
	// publisher may close.
	var errs []error
	for _, p := range subs {
		if err := p.wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
		}
	}
	_ = pub.send("close")
	if err := pub.wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("publisher: %w", err))
	}
	if err := r.collect(spec, res, pub, subs); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// collect turns the processes' results into res.
func (r *runner) collect(spec *RunSpec, res *Result, pub *proc, subs []*proc) error {
	var errs []error
	period := 0.0
	if spec.Paced() {
		period = 1e9 / spec.Rate
	}
	if pr := pub.result; pr != nil {
		h, err := pub.histogram(pr.Lateness, pr.LatenessFile)
		errs = append(errs, err)
		res.lateness = h
		last := max(pr.LastActual, pr.LastIntended)
		res.Pub = PubResult{
			Sent: pr.Sent, WarmupSent: pr.WarmupSent, Messages: pr.Messages, Bytes: pr.Bytes,
			Dropped: pr.Dropped, Rejected: pr.Rejected, Proc: pr.Proc,
			Seconds: float64(last-pr.FirstIntended) / 1e9,
		}
		if spec.Paced() {
			res.Pub.Rate = achievedRate(pr.Sent, pr.FirstIntended, last, period)
			res.Pub.Lateness = percentilesOf(h)
		} else if last > pr.FirstIntended {
			res.Pub.Rate = float64(pr.Sent) * 1e9 / float64(last-pr.FirstIntended)
		}
	}
	res.latency = newHistogram()
	res.All.Name = "all"
	for _, p := range subs {
		sr := p.result
		if sr == nil {
			res.Subs = append(res.Subs, SubResult{Name: p.name, Lost: res.Pub.Sent})
			res.subLatency = append(res.subLatency, newHistogram())
			continue
		}
		h, err := p.histogram(sr.Latency, sr.LatencyFile)
		errs = append(errs, err)
		res.latency.Merge(h)
		res.subLatency = append(res.subLatency, h)
		s := SubResult{
			Name: p.name, Received: sr.Received, Lost: res.Pub.Sent - sr.Received,
			Gaps: sr.Gaps, Missing: sr.Missing, Duplicates: sr.Duplicates, DecodeErrors: sr.DecodeErrors,
			Messages: sr.RecvMessages, Bytes: sr.RecvBytes, ClockSkew: sr.ClockSkew, Ended: sr.Ended,
			Latency: percentilesOf(h), Proc: sr.Proc,
		}
		if span := sr.LastRecv - sr.FirstRecv; span > 0 {
			s.Seconds = float64(span) / 1e9
			s.TicksPerSec = float64(sr.Received) / s.Seconds
			s.BytesPerSec = float64(sr.RecvBytes) / s.Seconds
		}
		if spec.Paced() && sr.Received > 0 && pub.result != nil {
			s.Rate = achievedRate(sr.Received, pub.result.FirstIntended, sr.LastRecv, period)
		}
		res.Subs = append(res.Subs, s)
		a := &res.All
		a.Received += s.Received
		a.Lost += s.Lost
		a.Gaps += s.Gaps
		a.Missing += s.Missing
		a.Duplicates += s.Duplicates
		a.DecodeErrors += s.DecodeErrors
		a.Messages += s.Messages
		a.Bytes += s.Bytes
		a.TicksPerSec += s.TicksPerSec
		a.BytesPerSec += s.BytesPerSec
		a.ClockSkew += s.ClockSkew
		a.Seconds = max(a.Seconds, s.Seconds)
		if a.Rate == 0 || s.Rate < a.Rate {
			a.Rate = s.Rate
		}
	}
	res.All.Latency = percentilesOf(res.latency)
	res.All.Ended = len(subs) > 0
	for _, s := range res.Subs {
		res.All.Ended = res.All.Ended && s.Ended
	}
	return errors.Join(errs...)
}

// proc is one running process of a run.
type proc struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	events  chan childEvent
	stderr  *tailBuffer
	exited  chan struct{}
	waitErr error
	result  *childResult

	mu     sync.Mutex
	errMsg string // from an error event
}

// start starts one process: a Go child (the harness's own binary), or
// the libzmq peer, behind prefix (ip netns exec NAME) if any.
func (r *runner) start(ctx context.Context, spec *childSpec, prefix []string, samples string) (*proc, error) {
	var argv []string
	goChild := spec.Impl != ImplLibzmq
	if goChild {
		argv = append([]string{r.cfg.Exe}, r.cfg.ChildArgs...)
	} else {
		argv = append([]string{r.peer}, peerArgs(spec, samples)...)
	}
	argv = append(append([]string(nil), prefix...), argv...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), r.cfg.ChildEnv...)
	p := &proc{name: spec.Name, cmd: cmd, events: make(chan childEvent, 16), stderr: &tailBuffer{max: 16 << 10},
		exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %w", spec.Name, err)
	}
	r.log.Debug("bench: started", "name", spec.Name, "pid", cmd.Process.Pid, "argv", argv)
	go p.read(stdout)
	if goChild {
		b, _ := json.Marshal(spec)
		if err := p.send(string(b)); err != nil {
			p.kill()
			return nil, err
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			p.kill()
		case <-p.exited:
		}
	}()
	return p, nil
}

// read parses the process's events until its stdout closes, then reaps it.
func (p *proc) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<16), 16<<20) // results carry encoded histograms
	for sc.Scan() {
		var ev childEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			fmt.Fprintf(p.stderr, "stdout: %s\n", sc.Bytes())
			continue
		}
		switch ev.Event {
		case "result":
			p.result = ev.Result
		case "error":
			p.mu.Lock()
			p.errMsg = ev.Error
			p.mu.Unlock()
		}
		select {
		case p.events <- ev:
		default: // nobody is waiting for this one
		}
	}
	p.waitErr = p.cmd.Wait()
	close(p.exited)
}

func (p *proc) send(line string) error {
	_, err := io.WriteString(p.stdin, line+"\n")
	return err
}

// expect waits for the event named, failing on an error event, the
// process's exit, or the timeout.
func (p *proc) expect(name string, timeout time.Duration) (childEvent, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case ev := <-p.events:
			if ev.Event == name {
				return ev, nil
			}
			if ev.Event == "error" {
				return ev, errors.New(ev.Error)
			}
		case <-p.exited:
			return childEvent{}, p.failure("exited before %q", name)
		case <-t.C:
			return childEvent{}, p.failure("no %q within %v", name, timeout)
		}
	}
}

// wait waits for the process to exit on its own.
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.exited:
	case <-ctx.Done():
		p.kill()
		<-p.exited
		return p.failure("killed: the run outlived its deadline")
	}
	if msg := p.errorEvent(); msg != "" {
		return errors.New(msg)
	}
	if p.waitErr != nil || p.result == nil {
		return p.failure("exited without a result (%v)", p.waitErr)
	}
	return nil
}

func (p *proc) failure(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if e := p.errorEvent(); e != "" {
		msg += ": " + e
	}
	if tail := strings.TrimSpace(p.stderr.String()); tail != "" {
		msg += "; stderr: " + tail
	}
	return errors.New(msg)
}

func (p *proc) errorEvent() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errMsg
}

// kill ends the process, if it is still running (by its own pid: only
// processes this harness started), and closes its stdin.
func (p *proc) kill() {
	p.stdin.Close()
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
	}
}

// histogram returns the process's histogram: decoded from its result
// (Go children), or built from its samples file (the libzmq peer).
func (p *proc) histogram(encoded, file string) (*hdrhistogram.Histogram, error) {
	if file == "" {
		return decodeHistogram(encoded)
	}
	h := newHistogram()
	b, err := os.ReadFile(file)
	if err != nil {
		return h, fmt.Errorf("bench: %s: %w", p.name, err)
	}
	for i := 0; i+8 <= len(b); i += 8 {
		record(h, int64(binary.LittleEndian.Uint64(b[i:])))
	}
	return h, nil
}

// tailBuffer keeps the last max bytes written to it: a child's stderr, for
// the error message if it fails.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

// canRawPGM opens and closes a raw IP socket for protocol 113 (PGM), as
// both stacks do for pgm://.
func canRawPGM() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, 113)
	if err != nil {
		return err
	}
	return syscall.Close(fd)
}

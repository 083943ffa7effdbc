package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tickcast/tickcast/endpoint"
	"github.com/tickcast/tickcast/internal/bench"
)

// maxBenchSubs bounds bench --subs: every subscriber is a process of its
// own; beyond a few per core a fanout run measures the scheduler.
const maxBenchSubs = 256

// childCommand is the hidden subcommand a benchmark's publisher and
// subscriber processes run: the bench re-executes its own binary.
const childCommand = "bench-child"

// benchFlags are bench's flags as given.
type benchFlags struct {
	scenarios, transports, impls string
	rates, batches, flushDelays  string
	subs                         int
	drops                        string
	topics                       int
	warmup, duration             time.Duration
	pace                         string
	pubCPUs, subCPUs, cpus       string
	hwm                          int
	pgmRate                      int64
	nak                          pgmFlags
	tolerance                    float64
	iface, out, cache            string
	asJSON                       bool
	replot                       string
}

// runBench runs the benchmark plan the flags describe (or, with --replot,
// only writes an earlier report again) and writes its report.
func runBench(ctx context.Context, e *env, args []string) (int, error) {
	def := bench.DefaultConfig()
	f, err := parseBenchFlags(e, args, def)
	if err != nil {
		return 0, err
	}
	if f.replot != "" {
		return replot(e, f)
	}
	cfg, err := f.config(e, def, args)
	if err != nil {
		return 0, err
	}
	// Last, as it makes the directory: every run's results go there.
	if err := checkWritableDir("out", f.out); err != nil {
		return 0, err
	}
	rep, runErr := bench.Run(ctx, cfg)
	if rep == nil {
		return 0, runErr
	}
	return writeReport(e, rep, runErr, f.out, f.asJSON)
}

// parseBenchFlags parses bench's flags, whose defaults are def's, and
// sets the logger.
func parseBenchFlags(e *env, args []string, def bench.Config) (*benchFlags, error) {
	var f benchFlags
	fs := newFlags(e, "bench", "bench [--scenario LIST] [--transport LIST] [--impl LIST] [--rates LIST] [--out DIR] ...")
	fs.StringVar(&f.scenarios, "scenario", joinScenarios(def.Scenarios), "scenarios, a comma-separated `list`: latency, throughput, fanout, loss")
	fs.StringVar(&f.transports, "transport", strings.Join(def.Transports, ","), "transports (endpoint schemes), a comma-separated `list`: tcp, ipc, epgm, pgm (raw PGM: root or CAP_NET_RAW)")
	fs.StringVar(&f.impls, "impl", joinImpls(def.Impls), "implementations, a comma-separated `list`: tickcast, libzmq (the C peer, built here with gcc), zmq4 (go-zeromq, one tick per message)")
	fs.StringVar(&f.rates, "rates", "1k,10k,100k", "target rates of the latency, fanout and loss scenarios, a comma-separated `list` of ticks/s, 0.001 to 1e9 (k and M suffixes; Aeron's pairs: 100k,300k,500k)")
	fs.StringVar(&f.batches, "batches", "1,8,32,128,512", "throughput: ticks per message swept, a comma-separated `list`, 1 to 65536 (tickcast: publisher max batch)")
	fs.StringVar(&f.flushDelays, "flush-delays", "0", "throughput: tickcast flush delays swept, a comma-separated `list`, 0 to 1s each, e.g. 0,50us,1ms")
	fs.IntVar(&f.subs, "subs", def.Subscribers, "fanout: subscriber processes, 1 to 256")
	fs.StringVar(&f.drops, "drops", "0.001", "loss: fractions of the publisher's packets dropped by nftables (root only), a comma-separated `list`, each above 0 and below 1")
	fs.IntVar(&f.topics, "topics", def.Topics, "tickcast topics the ticks are spread over, 1 to 1000000")
	fs.DurationVar(&f.warmup, "warmup", def.Warmup, "warm-up per run, excluded from the results")
	fs.DurationVar(&f.duration, "duration", def.Duration, "measured time per run (positive)")
	fs.StringVar(&f.pace, "pace", string(def.Pace), "how the publisher waits for a tick's time, a `mode`: spin (a core), yield, hybrid (sleep while > 2ms away)")
	fs.StringVar(&f.pubCPUs, "pub-cpus", "", "pin publishers to these `cpus` (taskset -c syntax: 0 or 0,1 or 0-3)")
	fs.StringVar(&f.subCPUs, "sub-cpus", "", "pin subscribers to these `cpus`")
	fs.StringVar(&f.cpus, "cpus", "", "shorthand for both: `PUB:SUB`, e.g. 0:1 (publisher on CPU 0, subscribers on CPU 1)")
	fs.IntVar(&f.hwm, "hwm", 0, "messages queued per subscriber before dropping (tickcast and libzmq; 0: 10,000)")
	fs.Int64Var(&f.pgmRate, "pgm-rate", 0, "epgm/pgm rate limit in kbit/s, 1 to 100000000 (100 Gbit/s), for tickcast and libzmq alike (ZMQ_RATE; 0: 1 Gbit/s)")
	fs.StringVar(&f.nak.nak, "pgm-nak", "", "tickcast's epgm/pgm repair timers `BACKOFF,REPEAT,RDATA`, each 0 (the default) to 1m, e.g. 1ms,10ms,10ms (default libzmq's; libzmq cannot change them)")
	fs.Float64Var(&f.tolerance, "tolerance", def.RateTolerance, "FAIL a paced run more than this fraction below its target rate (0 to below 1)")
	fs.StringVar(&f.iface, "iface", def.Interface, "interface `address` multicast endpoints name (never left to the OS)")
	fs.StringVar(&f.out, "out", "bench-results", "`dir`ectory for results.json, .hgrm files and plots; created, and checked writable before any run (exit 2 if it is not)")
	fs.StringVar(&f.cache, "cache", "", "`dir`ectory the libzmq C peer is compiled in (default: the user cache directory)")
	fs.BoolVar(&f.asJSON, "json", false, "print the JSON report on stdout instead of the tables")
	fs.StringVar(&f.replot, "replot", "", "run nothing: read `DIR`/results.json and write its tables, .hgrm files and plots again (into --out; exit 2 if either cannot be used)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	return &f, nil
}

// replot reads the report in --replot's directory and writes it again,
// into --out, running nothing.
func replot(e *env, f *benchFlags) (int, error) {
	rep, err := bench.LoadReport(filepath.Join(f.replot, "results.json"))
	if err != nil {
		return 0, fmt.Errorf("%w: --replot: %v", errUsage, err)
	}
	if err := checkWritableDir("out", f.out); err != nil {
		return 0, err
	}
	return writeReport(e, rep, nil, f.out, f.asJSON)
}

// config checks the flags and returns the plan they describe, def for
// what they leave out; args are the command line, for the record.
func (f *benchFlags) config(e *env, def bench.Config, args []string) (bench.Config, error) {
	cfg := def
	if err := f.sweeps(&cfg); err != nil {
		return bench.Config{}, err
	}
	if err := f.placement(&cfg); err != nil {
		return bench.Config{}, err
	}
	if err := f.checkLimits(); err != nil {
		return bench.Config{}, err
	}
	cfg.Subscribers, cfg.Topics, cfg.Warmup, cfg.Duration = f.subs, f.topics, f.warmup, f.duration
	cfg.HWM, cfg.RateTolerance, cfg.Interface, cfg.CacheDir = f.hwm, f.tolerance, f.iface, f.cache
	cfg.PGMRate = f.pgmRate
	if f.nak.nak != "" {
		d, err := f.nak.timers()
		if err != nil {
			return bench.Config{}, err
		}
		cfg.NAKBackoff, cfg.NAKRepeat, cfg.NAKRData = d[0], d[1], d[2]
	}
	cfg.Logger = e.logger
	cfg.Progress, cfg.ProgressTTY = e.stderr, e.stderrTTY
	var err error
	if cfg.Exe, err = os.Executable(); err != nil {
		return bench.Config{}, fmt.Errorf("bench: finding this binary to run the child processes: %w", err)
	}
	cfg.ChildArgs = []string{childCommand}
	cfg.Command = strings.Join(append([]string{"tickcast", "bench"}, args...), " ")
	if err := cfg.Validate(); err != nil {
		return bench.Config{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := checkInterface(cfg); err != nil {
		return bench.Config{}, err
	}
	return cfg, nil
}

// sweeps sets what the plan runs and sweeps: its scenarios, transports,
// implementations, rates, batches, flush delays and drop fractions.
func (f *benchFlags) sweeps(cfg *bench.Config) error {
	var err error
	cfg.Scenarios = nil
	for _, s := range splitList(f.scenarios) {
		cfg.Scenarios = append(cfg.Scenarios, bench.Scenario(s))
	}
	cfg.Transports = splitList(f.transports)
	cfg.Impls = nil
	for _, s := range splitList(f.impls) {
		cfg.Impls = append(cfg.Impls, bench.Impl(s))
	}
	if cfg.Rates, err = parseRates(f.rates); err != nil {
		return fmt.Errorf("%w: --rates: %v", errUsage, err)
	}
	if len(cfg.Rates) == 0 {
		return fmt.Errorf("%w: --rates: no rate", errUsage)
	}
	if cfg.Batches, err = parseBatches(f.batches); err != nil {
		return err
	}
	if cfg.FlushDelays, err = parseFlushDelays(f.flushDelays); err != nil {
		return err
	}
	cfg.Drops, err = parseDrops(f.drops)
	return err
}

// placement sets how the plan's processes run: the publisher's pacing,
// and the CPUs publishers and subscribers are pinned to.
func (f *benchFlags) placement(cfg *bench.Config) error {
	var err error
	if cfg.Pace, err = bench.ParsePaceMode(f.pace); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	pubCPUs, subCPUs := f.pubCPUs, f.subCPUs
	if f.cpus != "" {
		p, s, ok := strings.Cut(f.cpus, ":")
		if !ok || pubCPUs != "" || subCPUs != "" {
			return fmt.Errorf("%w: --cpus takes PUB:SUB (e.g. 0:1), instead of --pub-cpus and --sub-cpus", errUsage)
		}
		pubCPUs, subCPUs = p, s
	}
	if cfg.PubCPUs, err = bench.ParseCPUs(pubCPUs); err != nil {
		return fmt.Errorf("%w: --pub-cpus: %v", errUsage, err)
	}
	if cfg.SubCPUs, err = bench.ParseCPUs(subCPUs); err != nil {
		return fmt.Errorf("%w: --sub-cpus: %v", errUsage, err)
	}
	return nil
}

// checkLimits checks the flags that take a single number against their
// bounds.
func (f *benchFlags) checkLimits() error {
	for _, err := range []error{
		checkInt("subs", int64(f.subs), 1, maxBenchSubs, "want 1 to 256 subscriber processes"),
		checkInt("topics", int64(f.topics), 1, maxSymbols, "want 1 to 1000000"),
		checkDuration("warmup", f.warmup, 0, math.MaxInt64, "must not be negative"),
		checkDuration("duration", f.duration, 1, math.MaxInt64, "must be positive"),
		checkInt("hwm", int64(f.hwm), 0, maxHWM, "want 0 (the default) to 2147483647"),
		checkFloat("tolerance", f.tolerance, 0, math.Nextafter(1, 0), "want a fraction from 0 to below 1"),
	} {
		if err != nil {
			return err
		}
	}
	if f.pgmRate != 0 {
		if err := checkInt("pgm-rate", f.pgmRate, endpoint.MinPGMRate, endpoint.MaxPGMRate,
			"want kbit/s from 1 (1 kbit/s) to 100000000 (100 Gbit/s), or 0 for 1 Gbit/s"); err != nil {
			return err
		}
	}
	return nil
}

// checkInterface checks the interface multicast endpoints name: one that
// does not exist is a bad endpoint, not a benchmark whose every run is
// skipped.
func checkInterface(cfg bench.Config) error {
	for _, t := range cfg.Transports {
		if t == "epgm" || t == "pgm" {
			if err := endpoint.ValidateSource(t + "://" + cfg.Interface + ";239.192.77.1:1"); err != nil {
				return fmt.Errorf("--iface %q: %w", cfg.Interface, err)
			}
		}
	}
	return nil
}

// parseBatches parses --batches: "1,8,32".
func parseBatches(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%w: --batches: %q is not a number", errUsage, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseFlushDelays parses --flush-delays: "0,50us,1ms", each 0 to 1s.
func parseFlushDelays(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range splitList(s) {
		d, err := time.ParseDuration(f)
		if f == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 || d > maxFlushDelay {
			return nil, fmt.Errorf("%w: --flush-delays: %q is not a duration from 0 to 1s", errUsage, f)
		}
		out = append(out, d)
	}
	return out, nil
}

// parseDrops parses --drops: "0.001,0.01", each above 0 and below 1.
func parseDrops(s string) ([]float64, error) {
	var out []float64
	for _, f := range splitList(s) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v > 0 && v < 1) { // NaN too
			return nil, fmt.Errorf("%w: --drops: %q is not a fraction above 0 and below 1", errUsage, f)
		}
		out = append(out, v)
	}
	return out, nil
}

// writeReport writes the report's files into out and the report itself on
// stdout, and returns the exit status: 1 if a run FAILed.
func writeReport(e *env, rep *bench.Report, runErr error, out string, asJSON bool) (int, error) {
	if err := rep.WriteFiles(out); err != nil {
		return exitFailure, err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return exitFailure, err
		}
	} else {
		rep.WriteText(e.stdout)
		fmt.Fprintf(e.stdout, "\nfiles in %s: results.json, .hgrm percentile distributions (µs), plots (PNG, SVG)\n", out)
	}
	switch {
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		return exitFailure, runErr
	case runErr != nil:
		return exitFailure, fmt.Errorf("interrupted: the report has the runs that finished")
	case rep.Failed():
		fmt.Fprintln(e.stderr, "tickcast bench: some runs FAILED (see the report)")
		return exitFailure, nil
	}
	return exitOK, nil
}

// runBenchChild is the hidden subcommand of the benchmark's child
// processes: the spec on stdin, JSON events on stdout.
func runBenchChild(ctx context.Context, e *env, args []string) (int, error) {
	if len(args) > 0 {
		return 0, fmt.Errorf("%w: %s takes its spec on stdin", errUsage, childCommand)
	}
	if err := bench.Child(ctx, os.Stdin, e.stdout, e.logger); err != nil {
		return exitFailure, nil // reported on stdout as an error event
	}
	return exitOK, nil
}

// splitList splits a comma-separated list, leaving out empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseRates parses "1k,10k,1.5M,250".
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, given := range splitList(s) {
		mult, f := 1.0, given
		switch {
		case strings.HasSuffix(f, "k"), strings.HasSuffix(f, "K"):
			mult, f = 1e3, f[:len(f)-1]
		case strings.HasSuffix(f, "M"):
			mult, f = 1e6, f[:len(f)-1]
		}
		v, err := strconv.ParseFloat(f, 64)
		if v *= mult; err != nil || math.IsNaN(v) || v < minRate || v > maxRate {
			return nil, fmt.Errorf("%q is not a rate from 0.001 to 1e9 ticks/s", given)
		}
		out = append(out, v)
	}
	return out, nil
}

// joinScenarios lists scenarios as --scenario takes them.
func joinScenarios(s []bench.Scenario) string {
	var out []string
	for _, x := range s {
		out = append(out, string(x))
	}
	return strings.Join(out, ",")
}

// joinImpls lists implementations as --impl takes them.
func joinImpls(s []bench.Impl) string {
	var out []string
	for _, x := range s {
		out = append(out, string(x))
	}
	return strings.Join(out, ",")
}

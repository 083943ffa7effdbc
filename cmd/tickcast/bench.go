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

func runBench(ctx context.Context, e *env, args []string) (int, error) {
	def := bench.DefaultConfig()
	fs := newFlags(e, "bench", "bench [--scenario S,...] [--transport T,...] [--impl I,...] [--rates R,...] [--out DIR] ...")
	scenarios := fs.String("scenario", joinScenarios(def.Scenarios), "scenarios, comma-separated: latency, throughput, fanout, loss")
	transports := fs.String("transport", strings.Join(def.Transports, ","), "transports (endpoint schemes): tcp, ipc, epgm, pgm (raw PGM: root or CAP_NET_RAW)")
	impls := fs.String("impl", joinImpls(def.Impls), "implementations: tickcast, libzmq (the C peer, built here with gcc), zmq4 (go-zeromq, one tick per message)")
	rates := fs.String("rates", "1k,10k,100k", "target rates of the latency, fanout and loss scenarios, ticks/s, 0.001 to 1e9 (k and M suffixes; Aeron's pairs: 100k,300k,500k)")
	batches := fs.String("batches", "1,8,32,128,512", "throughput: ticks per message swept, 1 to 65536 (tickcast: publisher max batch)")
	flushDelays := fs.String("flush-delays", "0", "throughput: tickcast flush delays swept, 0 to 1s each, e.g. 0,50us,1ms")
	subs := fs.Int("subs", def.Subscribers, "fanout: subscriber processes, 1 to 256")
	drops := fs.String("drops", "0.001", "loss: fractions of the publisher's packets dropped by nftables (root only), each above 0 and below 1")
	topics := fs.Int("topics", def.Topics, "tickcast topics the ticks are spread over, 1 to 1000000")
	warmup := fs.Duration("warmup", def.Warmup, "warm-up per run, excluded from the results")
	duration := fs.Duration("duration", def.Duration, "measured time per run (positive)")
	pace := fs.String("pace", string(def.Pace), "how the publisher waits for a tick's time: spin (a core), yield, hybrid (sleep while > 2ms away)")
	pubCPUs := fs.String("pub-cpus", "", "pin publishers to these CPUs (taskset -c syntax: 0 or 0,1 or 0-3)")
	subCPUs := fs.String("sub-cpus", "", "pin subscribers to these CPUs")
	cpus := fs.String("cpus", "", "shorthand for both: PUB:SUB, e.g. 0:1 (publisher on CPU 0, subscribers on CPU 1)")
	hwm := fs.Int("hwm", 0, "messages queued per subscriber before dropping (tickcast and libzmq; 0: 10,000)")
	pgmRate := fs.Int64("pgm-rate", 0, "epgm/pgm rate limit in kbit/s, 1 to 100000000 (100 Gbit/s), for tickcast and libzmq alike (ZMQ_RATE; 0: 1 Gbit/s)")
	var nak pgmFlags
	fs.StringVar(&nak.nak, "pgm-nak", "", "tickcast's epgm/pgm repair timers BACKOFF,REPEAT,RDATA, each 0 (the default) to 1m, e.g. 1ms,10ms,10ms (default libzmq's; libzmq cannot change them)")
	tolerance := fs.Float64("tolerance", def.RateTolerance, "FAIL a paced run more than this fraction below its target rate (0 to below 1)")
	iface := fs.String("iface", def.Interface, "interface address multicast endpoints name (never left to the OS)")
	out := fs.String("out", "bench-results", "directory for results.json, .hgrm files and plots; created, and checked writable before any run (exit 2 if it is not)")
	cache := fs.String("cache", "", "where the libzmq C peer is compiled (default: the user cache directory)")
	asJSON := fs.Bool("json", false, "print the JSON report on stdout instead of the tables")
	replot := fs.String("replot", "", "run nothing: read DIR/results.json and write its tables, .hgrm files and plots again (into --out; exit 2 if either cannot be used)")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	if err := e.setLogLevel(*logLevel); err != nil {
		return 0, err
	}
	if *replot != "" {
		rep, err := bench.LoadReport(filepath.Join(*replot, "results.json"))
		if err != nil {
			return 0, fmt.Errorf("%w: --replot: %v", errUsage, err)
		}
		if err := checkWritableDir("out", *out); err != nil {
			return 0, err
		}
		return writeReport(e, rep, nil, *out, *asJSON)
	}
	cfg := def
	var err error
	cfg.Scenarios = nil
	for _, s := range splitList(*scenarios) {
		cfg.Scenarios = append(cfg.Scenarios, bench.Scenario(s))
	}
	cfg.Transports = splitList(*transports)
	cfg.Impls = nil
	for _, s := range splitList(*impls) {
		cfg.Impls = append(cfg.Impls, bench.Impl(s))
	}
	if cfg.Rates, err = parseRates(*rates); err != nil {
		return 0, fmt.Errorf("%w: --rates: %v", errUsage, err)
	}
	if len(cfg.Rates) == 0 {
		return 0, fmt.Errorf("%w: --rates: no rate", errUsage)
	}
	cfg.Batches = nil
	for _, s := range splitList(*batches) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("%w: --batches: %q is not a number", errUsage, s)
		}
		cfg.Batches = append(cfg.Batches, n)
	}
	cfg.FlushDelays = nil
	for _, s := range splitList(*flushDelays) {
		d, err := time.ParseDuration(s)
		if s == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 || d > maxFlushDelay {
			return 0, fmt.Errorf("%w: --flush-delays: %q is not a duration from 0 to 1s", errUsage, s)
		}
		cfg.FlushDelays = append(cfg.FlushDelays, d)
	}
	cfg.Drops = nil
	for _, s := range splitList(*drops) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f > 0 && f < 1) { // NaN too
			return 0, fmt.Errorf("%w: --drops: %q is not a fraction above 0 and below 1", errUsage, s)
		}
		cfg.Drops = append(cfg.Drops, f)
	}
	if cfg.Pace, err = bench.ParsePaceMode(*pace); err != nil {
		return 0, fmt.Errorf("%w: %v", errUsage, err)
	}
	if *cpus != "" {
		p, s, ok := strings.Cut(*cpus, ":")
		if !ok || *pubCPUs != "" || *subCPUs != "" {
			return 0, fmt.Errorf("%w: --cpus takes PUB:SUB (e.g. 0:1), instead of --pub-cpus and --sub-cpus", errUsage)
		}
		*pubCPUs, *subCPUs = p, s
	}
	if cfg.PubCPUs, err = bench.ParseCPUs(*pubCPUs); err != nil {
		return 0, fmt.Errorf("%w: --pub-cpus: %v", errUsage, err)
	}
	if cfg.SubCPUs, err = bench.ParseCPUs(*subCPUs); err != nil {
		return 0, fmt.Errorf("%w: --sub-cpus: %v", errUsage, err)
	}
	for _, err := range []error{
		checkInt("subs", int64(*subs), 1, maxBenchSubs, "want 1 to 256 subscriber processes"),
		checkInt("topics", int64(*topics), 1, maxSymbols, "want 1 to 1000000"),
		checkDuration("warmup", *warmup, 0, math.MaxInt64, "must not be negative"),
		checkDuration("duration", *duration, 1, math.MaxInt64, "must be positive"),
		checkInt("hwm", int64(*hwm), 0, maxHWM, "want 0 (the default) to 2147483647"),
		checkFloat("tolerance", *tolerance, 0, math.Nextafter(1, 0), "want a fraction from 0 to below 1"),
	} {
		if err != nil {
			return 0, err
		}
	}
	if *pgmRate != 0 {
		if err := checkInt("pgm-rate", *pgmRate, endpoint.MinPGMRate, endpoint.MaxPGMRate,
			"want kbit/s from 1 (1 kbit/s) to 100000000 (100 Gbit/s), or 0 for 1 Gbit/s"); err != nil {
			return 0, err
		}
	}
	cfg.Subscribers, cfg.Topics, cfg.Warmup, cfg.Duration = *subs, *topics, *warmup, *duration
	cfg.HWM, cfg.RateTolerance, cfg.Interface, cfg.CacheDir = *hwm, *tolerance, *iface, *cache
	cfg.PGMRate = *pgmRate
	if nak.nak != "" {
		d, err := nak.timers()
		if err != nil {
			return 0, err
		}
		cfg.NAKBackoff, cfg.NAKRepeat, cfg.NAKRData = d[0], d[1], d[2]
	}
	cfg.Logger = e.logger
	cfg.Progress, cfg.ProgressTTY = e.stderr, e.stderrTTY
	if cfg.Exe, err = os.Executable(); err != nil {
		return 0, fmt.Errorf("bench: finding this binary to run the child processes: %w", err)
	}
	cfg.ChildArgs = []string{childCommand}
	cfg.Command = strings.Join(append([]string{"tickcast", "bench"}, args...), " ")
	if err := cfg.Validate(); err != nil {
		return 0, fmt.Errorf("%w: %v", errUsage, err)
	}
	// Multicast endpoints name the interface: one that does not exist is
	// a bad endpoint, not a benchmark whose every run is skipped.
	for _, t := range cfg.Transports {
		if t == "epgm" || t == "pgm" {
			if err := endpoint.ValidateSource(t + "://" + cfg.Interface + ";239.192.77.1:1"); err != nil {
				return 0, fmt.Errorf("--iface %q: %w", cfg.Interface, err)
			}
		}
	}
	// Last, as it makes the directory: every run's results go there.
	if err := checkWritableDir("out", *out); err != nil {
		return 0, err
	}

	rep, runErr := bench.Run(ctx, cfg)
	if rep == nil {
		return 0, runErr
	}
	return writeReport(e, rep, runErr, *out, *asJSON)
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

func joinScenarios(s []bench.Scenario) string {
	var out []string
	for _, x := range s {
		out = append(out, string(x))
	}
	return strings.Join(out, ",")
}

func joinImpls(s []bench.Impl) string {
	var out []string
	for _, x := range s {
		out = append(out, string(x))
	}
	return strings.Join(out, ",")
}

// Command tickcast publishes, subscribes to, relays and demonstrates
// tickcast market-data feeds.
//
//	tickcast demo                               # a feed on loopback, for a few seconds
//	tickcast pub --endpoint tcp://127.0.0.1:6001 --symbols 50 --rate 100000
//	tickcast sub --endpoint tcp://127.0.0.1:6001 --topic AAPL --count 1000
//	tickcast relay --from tcp://127.0.0.1:6001 --to tcp://127.0.0.1:6002 --drop 0.01
//
// Exit status: 0 success, 1 failure, 2 bad usage, 3 timed out (sub --count).
// Usage errors (a bad flag value, a bad or unsupported endpoint, a number
// out of range, an output path that cannot be written) are found before any
// work starts: nothing is bound, no benchmark runs. Failures while working
// (an address in use, no permission for raw PGM sockets) exit 1.
//
// Help (tickcast --help, tickcast help, tickcast CMD --help) goes to stdout;
// tickcast --version says which build this is. Every command takes
// --log-level and --log-format text|json (log/slog, on stderr).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tickcast/tickcast/endpoint"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitTimeout = 3
)

// errUsage marks errors in how the command was called. Errors wrapping
// endpoint.ErrEndpoint are usage errors too.
var errUsage = errors.New("usage")

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) (int, error)
}

// env is what a command reads and writes: the process's streams, swapped in
// tests.
type env struct {
	stdout, stderr io.Writer
	stderrTTY      bool
	logger         *slog.Logger
	// notices, if set (--log-format json), takes what a command says
	// about its progress on stderr, as log records; otherwise it is
	// printed as text (notice).
	notices *slog.Logger
	flags   *cmdFlags // the last command's, once it made them (tests read them)
}

func commands() []command {
	return []command{
		{"demo", "run a publisher and subscribers on loopback and show the feed", runDemo},
		{"pub", "publish a simulated market", runPub},
		{"sub", "subscribe to topics and print ticks, gaps and a summary", runSub},
		{"relay", "forward a feed to other endpoints, optionally dropping batches", runRelay},
		{"recovery", "keep a feed's recent history and serve it to subscribers that lost some", runRecovery},
		{"stat", "show a running pub, sub, relay or recovery's metrics live (their --metrics)", runStat},
		{"bench", "benchmark latency and throughput against libzmq and zmq4", runBench},
		{"help", "show this help, or a command's: tickcast help pub", runHelp},
		{"version", "print the version and build information", runVersion},
		{childCommand, "", runBenchChild}, // hidden: a bench's publisher and subscriber processes
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stderrTTY: isTerminal(os.Stderr)}
	os.Exit(run(ctx, e, os.Args[1:]))
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	if e.logger == nil {
		e.logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(e.stdout)
		return exitOK
	case "-version", "--version":
		fmt.Fprintln(e.stdout, version())
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		code, err := c.run(ctx, e, args[1:])
		switch {
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.Is(err, errUsage) || errors.Is(err, endpoint.ErrEndpoint):
			msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
			hint := "tickcast " + c.name + " --help"
			if c.name == "help" {
				hint = "tickcast --help"
			}
			fmt.Fprintf(e.stderr, "tickcast %s: %s\nRun '%s' for usage.\n", c.name, msg, hint)
			return exitUsage
		case err != nil && e.notices != nil:
			e.notices.Error("tickcast "+c.name+" failed", "err", err)
			return exitFailure
		case err != nil:
			fmt.Fprintf(e.stderr, "tickcast %s: %v\n", c.name, err)
			return exitFailure
		}
		return code
	}
	fmt.Fprintf(e.stderr, "tickcast: unknown command %q\nRun 'tickcast --help' for usage.\n", args[0])
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "tickcast: market-data feeds over ZeroMQ transports, with exact gap detection.")
	fmt.Fprintln(w, "\nUsage: tickcast <command> [flags]\n\nCommands:")
	var rows []helpRow
	for _, c := range commands() {
		if c.summary != "" { // else hidden
			rows = append(rows, helpRow{c.name, c.summary})
		}
	}
	writeRows(w, rows)
	fmt.Fprintln(w, "\nFlags:")
	writeRows(w, []helpRow{{"-h, --help", "show this help"}, {"--version", "print the version and build information"}})
	fmt.Fprintln(w, "\nRun 'tickcast <command> --help' (or 'tickcast help <command>') for a command's flags.")
	fmt.Fprintln(w, "Exit status: 0 ok, 1 failure, 2 usage (found before any work starts), 3 timed out.")
}

// runHelp is tickcast help [command]: the usage, or the command's help.
func runHelp(ctx context.Context, e *env, args []string) (int, error) {
	switch len(args) {
	case 0:
		usage(e.stdout)
		return exitOK, nil
	case 1:
		if args[0] == "help" {
			usage(e.stdout)
			return exitOK, nil
		}
		for _, c := range commands() {
			if c.name == args[0] && c.summary != "" && c.name != "help" {
				return c.run(ctx, e, []string{"--help"})
			}
		}
		return 0, fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	return 0, fmt.Errorf("%w: unexpected argument %q", errUsage, args[1])
}

// runVersion is tickcast version.
func runVersion(_ context.Context, e *env, args []string) (int, error) {
	fs := newFlags(e, "version", "version")
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	fmt.Fprintln(e.stdout, version())
	return exitOK, nil
}

// version says which tickcast this is: the module version, the VCS
// revision, its time and whether the tree had changes (when the build
// recorded them: go build in a checkout does, go run and go test do not),
// and the Go version and platform.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	return formatVersion(bi, ok)
}

// formatVersion formats what debug.ReadBuildInfo returned.
func formatVersion(bi *debug.BuildInfo, ok bool) string {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	if !ok || bi == nil {
		return "tickcast (unknown version: no build information) " + runtime.Version() + " " + platform
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	parts := []string{"tickcast", v}
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		parts = append(parts, rev[:min(len(rev), 12)])
	}
	if at != "" {
		parts = append(parts, at)
	}
	if modified == "true" {
		parts = append(parts, "(modified)")
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return strings.Join(append(parts, goVersion, platform), " ")
}

// profile starts a CPU profile into path (if not empty) and returns the
// function that stops it. A file that cannot be created is a usage error.
func profile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --cpuprofile: %v", errUsage, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Limits of numeric flags, checked before any work starts.
const (
	// maxSymbols bounds --symbols (and bench --topics): the simulated
	// market weighs instrument i by 1,000,000/(i+1), so instruments beyond
	// the millionth would never tick; a million topics take the publisher
	// about 400 MB and a second to set up.
	maxSymbols = 1_000_000
	// minRate and maxRate bound a tick rate: a billion ticks/s is far
	// beyond what one publisher can make (tens of millions), and keeps the
	// pacer's int64 tick counts (elapsed ns * rate / 1e9) far from
	// overflowing, as a tick every 1,000 s keeps its times (n * 1e9 /
	// rate, in ns): NaN, Inf or 1e300 ticks/s made it publish nothing, or
	// spin.
	minRate = 0.001
	maxRate = 1e9
	// maxFlushDelay bounds --flush-delay: a batch held longer than a
	// second (the default heartbeat interval) is not a feed.
	maxFlushDelay = time.Second
	// minHeartbeat is the publisher's; maxHeartbeat keeps the intervals
	// derived from it (3 heartbeats before a line is stale, a 30-heartbeat
	// back-off) meaningful and far from overflowing.
	minHeartbeat = time.Millisecond
	maxHeartbeat = time.Hour
	// maxHWM is ZeroMQ's ZMQ_SNDHWM range (a C int); the libzmq peer of
	// the bench takes it as one.
	maxHWM = math.MaxInt32
	// maxBatch is the publisher's (publisher.WithMaxBatch).
	maxBatch = 1 << 16
	// minPGMRecovery and maxPGMRecovery bound --pgm-recovery: repairs take
	// milliseconds on a LAN (libzmq's default is 10 s); a longer interval
	// only grows the windows, which PGM caps at 4M packets (6 GB).
	minPGMRecovery = time.Millisecond
	maxPGMRecovery = time.Minute
	// maxNAKTimer bounds each --pgm-nak timer: repair timers beyond a
	// minute would outlast any recovery interval.
	maxNAKTimer = time.Minute
)

// checkFloat checks a float flag's value: a finite number within lo..hi;
// want says what is wanted, in the error.
func checkFloat(flag string, v, lo, hi float64, want string) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
		return fmt.Errorf("%w: --%s %s: %s", errUsage, flag, strconv.FormatFloat(v, 'g', -1, 64), want)
	}
	return nil
}

// checkInt checks an integer flag's value is within lo..hi.
func checkInt(flag string, v, lo, hi int64, want string) error {
	if v < lo || v > hi {
		return fmt.Errorf("%w: --%s %d: %s", errUsage, flag, v, want)
	}
	return nil
}

// checkDuration checks a duration flag's value is within lo..hi.
func checkDuration(flag string, v, lo, hi time.Duration, want string) error {
	if v < lo || v > hi {
		return fmt.Errorf("%w: --%s %v: %s", errUsage, flag, v, want)
	}
	return nil
}

// checkRate checks a tick rate: 0 only if zeroOK (as fast as possible),
// else minRate..maxRate.
func checkRate(flag string, v float64, zeroOK bool) error {
	if zeroOK && v == 0 {
		return nil
	}
	want := "want a number of ticks/s from 0.001 to 1e9"
	if zeroOK {
		want += ", or 0 for as fast as possible"
	}
	return checkFloat(flag, v, minRate, maxRate, want)
}

// checkEndpoints checks every endpoint before anything is opened: sinks
// are bound, sources connected to. Errors wrap endpoint.ErrEndpoint; flag
// names the flag, when the command has several.
func checkEndpoints(flag string, sink bool, eps ...string) error {
	check := endpoint.ValidateSource
	if sink {
		check = endpoint.ValidateSink
	}
	for _, ep := range eps {
		if _, bare := endpoint.SplitMode(ep); strings.HasPrefix(bare, "inproc://") {
			// No other process can reach it: a command would wait forever.
			what := fmt.Sprintf("%q", ep)
			if flag != "" {
				what = "--" + flag + " " + what
			}
			return fmt.Errorf("%w: %s: inproc:// joins sockets within one process; between processes use tcp:// or ipc://", errUsage, what)
		}
		if err := check(ep); err != nil {
			if flag != "" {
				return fmt.Errorf("--%s: %w", flag, err)
			}
			return err
		}
	}
	return nil
}

// checkWritableDir makes dir if needed and checks that a file can be
// written into it, by writing and removing one. A directory that cannot
// be written is a usage error, found before any work starts.
func checkWritableDir(flag, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: --%s: %v", errUsage, flag, err)
	}
	f, err := os.CreateTemp(dir, ".tickcast-probe-*")
	if err != nil {
		return fmt.Errorf("%w: --%s %s: cannot write into it: %v", errUsage, flag, dir, err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("probe"))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	os.Remove(name)
	if werr != nil {
		return fmt.Errorf("%w: --%s %s: cannot write into it: %v", errUsage, flag, dir, werr)
	}
	return nil
}

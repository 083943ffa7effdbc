// Command tickcast publishes, subscribes to, relays and demonstrates
// tickcast market-data feeds.
//
//	tickcast demo                               # a feed on loopback, for a few seconds
//	tickcast pub --endpoint tcp://127.0.0.1:6001 --symbols 50 --rate 100000
//	tickcast sub --endpoint tcp://127.0.0.1:6001 --topic AAPL --count 1000
//	tickcast relay --from tcp://127.0.0.1:6001 --to tcp://127.0.0.1:6002 --drop 0.01
//
// Exit status: 0 success, 1 failure, 2 bad usage, 3 timed out (sub --count).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitTimeout = 3
)

// errUsage marks errors in how the command was called.
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
}

func commands() []command {
	return []command{
		{"demo", "run a publisher and subscribers on loopback and show the feed", runDemo},
		{"pub", "publish a simulated market", runPub},
		{"sub", "subscribe to topics and print ticks, gaps and a summary", runSub},
		{"relay", "forward a feed to other endpoints, optionally dropping batches", runRelay},
		{"bench", "benchmark latency and throughput against libzmq and zmq4", runBench},
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
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return exitUsage
		}
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
		case errors.Is(err, errUsage):
			fmt.Fprintf(e.stderr, "tickcast %s: %v\nRun 'tickcast %s --help' for usage.\n", c.name, err, c.name)
			return exitUsage
		case err != nil:
			fmt.Fprintf(e.stderr, "tickcast %s: %v\n", c.name, err)
			return exitFailure
		}
		return code
	}
	fmt.Fprintf(e.stderr, "tickcast: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "tickcast: market-data feeds over ZeroMQ transports, with exact gap detection.")
	fmt.Fprintln(w, "\nUsage: tickcast <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		if c.summary == "" {
			continue // hidden
		}
		fmt.Fprintf(w, "  %-6s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'tickcast <command> --help' for a command's flags.")
	fmt.Fprintln(w, "Exit status: 0 ok, 1 failure, 2 usage, 3 timed out.")
}

// newFlags returns a flag set for a command that reports errors as errUsage
// and writes its help to e.stderr.
func newFlags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: tickcast %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, turning flag errors into errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// listFlag collects a flag given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// logLevel configures e.logger from a --log-level flag value.
func (e *env) setLogLevel(level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("%w: --log-level %q: debug, info, warn or error", errUsage, level)
	}
	e.logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: l}))
	return nil
}

// profile starts a CPU profile into path (if not empty) and returns the
// function that stops it.
func profile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
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

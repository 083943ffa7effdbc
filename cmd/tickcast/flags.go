package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/tickcast/tickcast/endpoint"
)

// cmdFlags is a command's flag set. Go's flag package parses it (-flag and
// --flag alike, -flag=v and -flag v); help renders it GNU style, on stdout.
// Every command has the logging flags (logFlags), registered by newFlags
// and applied by parse.
type cmdFlags struct {
	*flag.FlagSet
	e        *env
	name     string
	synopsis string
	log      logFlags
}

// newFlags returns the flag set of the command name, with the logging
// flags; synopsis is the usage line after "tickcast ". Errors are reported
// by parse, in one line; --help and -h print the help on e.stdout.
func newFlags(e *env, name, synopsis string) *cmdFlags {
	fs := &cmdFlags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), e: e, name: name, synopsis: synopsis}
	fs.SetOutput(io.Discard) // parse reports errors itself
	fs.Usage = func() {}
	fs.log.register(fs.FlagSet)
	e.flags = fs
	return fs
}

// setDefault changes the default of a flag already registered (demo's
// quieter --log-level), in the value and in the help.
func (fs *cmdFlags) setDefault(name, value string) {
	f := fs.Lookup(name)
	if err := f.Value.Set(value); err != nil {
		panic(fmt.Sprintf("setDefault %s %q: %v", name, value, err))
	}
	f.DefValue = value
}

// parse parses args, turning flag errors into errUsage (one line, the flag
// named with two dashes as help shows it), prints the help for --help and
// -h (returning flag.ErrHelp), and applies the logging flags to e.logger.
func parse(fs *cmdFlags, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.help(fs.e.stdout)
			return err
		}
		return fmt.Errorf("%w: %s", errUsage, doubleDash(err.Error()))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return fs.log.apply(fs.e)
}

// doubleDash names flags with two dashes in the flag package's errors
// ("flag provided but not defined: -nope", `invalid value "x" for flag
// -count: ...`), as help names them.
func doubleDash(msg string) string {
	for _, p := range []string{"not defined: -", "for flag -", "needs an argument: -", " for -"} {
		if i := strings.Index(msg, p); i >= 0 && !strings.HasPrefix(msg[i+len(p):], "-") {
			return msg[:i+len(p)] + "-" + msg[i+len(p):]
		}
	}
	return msg
}

// help writes the command's help: its synopsis, what it does, and every
// flag as --name VALUE with its description and its default, aligned.
func (fs *cmdFlags) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: tickcast %s\n", fs.synopsis)
	for _, c := range commands() {
		if c.name == fs.name && c.summary != "" {
			fmt.Fprintf(w, "\n%s%s.\n", strings.ToUpper(c.summary[:1]), c.summary[1:])
		}
	}
	var rows []helpRow
	fs.VisitAll(func(f *flag.Flag) { rows = append(rows, flagRow(f)) })
	rows = append(rows, helpRow{"-h, --help", "show this help"})
	fmt.Fprintln(w, "\nFlags:")
	writeRows(w, rows)
}

// helpRow is a line of help: a flag (or a command) and what it does.
type helpRow struct{ name, text string }

// flagRow renders a flag: --name PLACEHOLDER, and its usage with its
// default when it is not the zero value.
func flagRow(f *flag.Flag) helpRow {
	ph, usage := placeholder(f)
	name := "--" + f.Name
	if ph != "" {
		name += " " + ph
	}
	switch f.DefValue {
	case "", "0", "0s", "false":
	default:
		usage += " (default: " + f.DefValue + ")"
	}
	return helpRow{name, usage}
}

// placeholder returns the name of a flag's value, and its usage without
// the backquotes: the word the usage backquotes, in capitals (`file` →
// FILE), or by the flag's type: DURATION, N, NUM, VALUE; nothing for a
// boolean.
func placeholder(f *flag.Flag) (name, usage string) {
	name, usage = flag.UnquoteUsage(f)
	if strings.Contains(f.Usage, "`") {
		return strings.ToUpper(name), usage
	}
	switch name {
	case "":
	case "duration":
		name = "DURATION"
	case "int", "uint":
		name = "N"
	case "float":
		name = "NUM"
	default: // string, value
		name = "VALUE"
	}
	return name, usage
}

// Help layout: descriptions start in a column at most helpColumn wide,
// and wrap at helpWidth (or after helpMinText characters, whichever is
// further).
const (
	helpWidth   = 80
	helpColumn  = 32
	helpMinText = 40
)

// writeRows writes rows aligned: names indented by two spaces, texts in one
// column, wrapped; a name too wide for the column has its text on the next
// line.
func writeRows(w io.Writer, rows []helpRow) {
	col := 0
	for _, r := range rows {
		if n := 2 + len(r.name) + 3; n <= helpColumn {
			col = max(col, n)
		}
	}
	if col == 0 {
		col = helpColumn
	}
	for _, r := range rows {
		head := "  " + r.name
		if len(head)+2 > col {
			fmt.Fprintln(w, head)
			head = ""
		}
		lines := wrap(r.text, max(helpWidth-col, helpMinText))
		if len(lines) == 0 && head != "" {
			fmt.Fprintln(w, head)
		}
		for _, l := range lines {
			fmt.Fprintf(w, "%-*s%s\n", col, head, l)
			head = ""
		}
	}
}

// wrap breaks text into lines of at most width characters (runes), at
// spaces; a word longer than width has a line of its own.
func wrap(text string, width int) []string {
	var lines []string
	var line strings.Builder
	n := 0
	for _, word := range strings.Fields(text) {
		wl := len([]rune(word))
		if n > 0 && n+1+wl > width {
			lines = append(lines, line.String())
			line.Reset()
			n = 0
		}
		if n > 0 {
			line.WriteByte(' ')
			n++
		}
		line.WriteString(word)
		n += wl
	}
	if n > 0 {
		lines = append(lines, line.String())
	}
	return lines
}

// logFlags are --log-level and --log-format, which every command has: the
// logger every library component of the command logs to, on stderr.
type logFlags struct {
	level, format string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "warn", "log `level`: debug, info, warn, error")
	fs.StringVar(&l.format, "log-format", "text", "log `format` on stderr: text (key=value) or json (one object per line)")
}

// apply checks the flags and sets e.logger.
func (l *logFlags) apply(e *env) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return fmt.Errorf("%w: --log-level %q: debug, info, warn or error", errUsage, l.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.format {
	case "text":
		e.logger = slog.New(slog.NewTextHandler(e.stderr, opts))
	case "json":
		e.logger = slog.New(slog.NewJSONHandler(e.stderr, opts))
		// What a command says about its progress (where it publishes,
		// its status lines) is for whoever watches stderr whatever the
		// level: records at Info, so that stderr is JSON throughout.
		e.notices = slog.New(slog.NewJSONHandler(e.stderr, nil))
	default:
		return fmt.Errorf("%w: --log-format %q: text or json", errUsage, l.format)
	}
	return nil
}

// feedFlags are the flags common to the commands that run a component of a
// feed (pub, sub, relay, recovery), beyond every command's logFlags: the
// PGM settings, for now. A flag these commands all take is added here: a
// field, a line in register, a check in check; each command reads the
// field.
type feedFlags struct {
	pgm     pgmFlags
	metrics string        // HOST:PORT to serve Prometheus metrics on
	status  time.Duration // a status line every this long; 0: on a terminal only, every second
}

// register adds the flags. receiver: the command receives a feed (sub,
// relay, recovery), and takes the PGM receiver's repair timers too.
func (f *feedFlags) register(fs *cmdFlags, receiver bool) {
	f.pgm.register(fs.FlagSet, receiver)
	fs.StringVar(&f.metrics, "metrics", "",
		"serve Prometheus metrics at http://`HOST:PORT`/metrics while running (port 0: a free one, printed on stderr); watch them with tickcast stat")
	fs.DurationVar(&f.status, "status", 0,
		"print a status line on stderr every DURATION, also when stderr is not a terminal (a terminal gets one redrawn every second anyway)")
}

// check checks the flags' values, after parse.
func (f *feedFlags) check() error {
	if err := checkMetricsAddr(f.metrics); err != nil {
		return err
	}
	if f.status != 0 {
		if err := checkDuration("status", f.status, 10*time.Millisecond, math.MaxInt64, "want at least 10ms"); err != nil {
			return err
		}
	}
	return f.pgm.check()
}

// pgmFlags are the PGM settings of pub, sub, relay and recovery.
type pgmFlags struct {
	rate     int64 // kbit/s
	recovery time.Duration
	nak      string // BACKOFF,REPEAT,RDATA; a receiver's only
}

// register adds the flags; --pgm-nak, the repair timers, only for a
// receiver.
func (p *pgmFlags) register(fs *flag.FlagSet, receiver bool) {
	fs.Int64Var(&p.rate, "pgm-rate", endpoint.DefaultPGMRate,
		"epgm/pgm rate limit in kbit/s (ZMQ_RATE), 1 (1 kbit/s) to 100000000 (100 Gbit/s); receivers size their window with it too")
	fs.DurationVar(&p.recovery, "pgm-recovery", endpoint.DefaultPGMRecovery,
		"epgm/pgm recovery interval (ZMQ_RECOVERY_IVL), 1ms to 1m: how long data stays repairable")
	if receiver {
		fs.StringVar(&p.nak, "pgm-nak", "",
			"epgm/pgm repair timers `BACKOFF,REPEAT,RDATA`, each 0 (the default) to 1m, e.g. 1ms,10ms,10ms (default libzmq's: 50ms,200ms,200ms): the tail latency under loss")
	}
}

// check checks the flags' values.
func (p *pgmFlags) check() error {
	if err := checkInt("pgm-rate", p.rate, endpoint.MinPGMRate, endpoint.MaxPGMRate,
		"want kbit/s from 1 (1 kbit/s) to 100000000 (100 Gbit/s)"); err != nil {
		return err
	}
	if err := checkDuration("pgm-recovery", p.recovery, minPGMRecovery, maxPGMRecovery, "want 1ms to 1m"); err != nil {
		return err
	}
	_, err := p.timers()
	return err
}

// options are the flags as endpoint options, once check has accepted them;
// zero values (pgmFlags not from flags: the demo's) are the defaults.
func (p *pgmFlags) options() []endpoint.Option {
	var opts []endpoint.Option
	if p.rate != 0 {
		opts = append(opts, endpoint.WithRate(p.rate))
	}
	if p.recovery != 0 {
		opts = append(opts, endpoint.WithRecoveryInterval(p.recovery))
	}
	if d, err := p.timers(); err == nil && p.nak != "" {
		opts = append(opts, endpoint.WithNAKTimers(d[0], d[1], d[2]))
	}
	return opts
}

// timers parses --pgm-nak: BACKOFF[,REPEAT[,RDATA]], each 0 (the default)
// to maxNAKTimer; "" is every default.
func (p *pgmFlags) timers() ([3]time.Duration, error) {
	var d [3]time.Duration
	if p.nak == "" {
		return d, nil
	}
	parts := strings.Split(p.nak, ",")
	if len(parts) > 3 {
		return d, fmt.Errorf("%w: --pgm-nak %q: want BACKOFF,REPEAT,RDATA", errUsage, p.nak)
	}
	for i, s := range parts {
		v, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || v < 0 || v > maxNAKTimer {
			return d, fmt.Errorf("%w: --pgm-nak %q: %q is not a duration from 0 to 1m", errUsage, p.nak, s)
		}
		d[i] = v
	}
	return d, nil
}

// listFlag collects a flag given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickcast/tickcast/internal/market"
)

// buffer is a bytes.Buffer safe for the concurrent writes of a command.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// tickcast runs the command line in-process and returns its exit status
// and output.
func tickcast(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut buffer
	code = run(ctx, &env{stdout: &out, stderr: &errOut}, args)
	return code, out.String(), errOut.String()
}

func TestUsageAndExitCodes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args   []string
		code   int
		stdout string // in stdout, if not empty
		stderr string // in stderr, if not empty
	}{
		{nil, exitUsage, "", "Commands:"},
		{[]string{"--help"}, exitOK, "Commands:", ""},
		{[]string{"-h"}, exitOK, "Commands:", ""},
		{[]string{"help"}, exitOK, "Commands:", ""},
		{[]string{"bogus"}, exitUsage, "", `unknown command "bogus"`},
		{[]string{"pub", "--help"}, exitOK, "  --endpoint ENDPOINT", ""},
		{[]string{"sub", "--help"}, exitOK, "  --topic PREFIX", ""},
		{[]string{"sub", "-h"}, exitOK, "  --topic PREFIX", ""},
		{[]string{"help", "sub"}, exitOK, "  --topic PREFIX", ""},
		{[]string{"demo", "--help"}, exitOK, "  --duration DURATION", ""},
		{[]string{"relay", "--help"}, exitOK, "  --drop NUM", ""},
		{[]string{"relay", "-help"}, exitOK, "  --topic PREFIX", ""},
		{[]string{"pub"}, exitUsage, "", "at least one --endpoint"},
		{[]string{"sub"}, exitUsage, "", "at least one --endpoint"},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1:1", "--nope"}, exitUsage, "", "flag provided but not defined: --nope"},
		{[]string{"sub", "--endpoint", "udp://x"}, exitUsage, "", "unsupported transport"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--symbols", "0"}, exitUsage, "", "--symbols"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--batch", "0"}, exitUsage, "", "--batch 0"},
		{[]string{"relay", "--from", "tcp://127.0.0.1:1", "--to", "tcp://127.0.0.1:0", "--drop", "2"}, exitUsage, "", "--drop"},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1:1", "extra"}, exitUsage, "", "unexpected argument"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--log-format", "yaml"}, exitUsage, "", `--log-format "yaml": text or json`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := tickcast(ctx, tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s\nwant %q in stdout, %q in stderr", code, tt.code, stdout, stderr, tt.stdout, tt.stderr)
			}
			if (tt.code == exitOK) != (stderr == "") || (tt.code == exitOK) == (stdout == "") {
				t.Fatalf("help goes to stdout, errors to stderr: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
		})
	}
}

// Every command's help renders every one of its flags GNU style: --name,
// the value's placeholder (none for a boolean), the description in one
// column, and the default when it is not the zero value.
func TestHelpRendersEveryFlag(t *testing.T) {
	placeholder := regexp.MustCompile(`^[A-Z][A-Z0-9,:/_]*$`)
	for _, c := range commands() {
		if c.summary == "" || c.name == "help" {
			continue // hidden, or no flags of its own
		}
		t.Run(c.name, func(t *testing.T) {
			var out, errOut buffer
			e := &env{stdout: &out, stderr: &errOut}
			if code := run(context.Background(), e, []string{c.name, "--help"}); code != exitOK || errOut.String() != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			help := out.String()
			if !strings.HasPrefix(help, "Usage: tickcast "+c.name) || !strings.Contains(help, "\nFlags:\n") {
				t.Fatalf("help:\n%s", help)
			}
			rows := map[string]string{} // flag line by name
			cols := map[int]bool{}
			for _, line := range strings.Split(help, "\n") {
				if !strings.HasPrefix(line, "  -") {
					continue
				}
				if strings.HasPrefix(line, "  -") && !strings.HasPrefix(line, "  --") && !strings.HasPrefix(line, "  -h, --help") {
					t.Errorf("a flag with one dash: %q", line)
				}
				name, rest, _ := strings.Cut(strings.TrimPrefix(line, "  "), "  ")
				flagName, _, _ := strings.Cut(strings.TrimPrefix(name, "--"), " ")
				rows[flagName] = name
				if text := strings.TrimLeft(rest, " "); text != "" {
					cols[len(line)-len(text)] = true
				}
			}
			if len(cols) != 1 {
				t.Errorf("descriptions start in columns %v, want one column:\n%s", cols, help)
			}
			flat := strings.Join(strings.Fields(help), " ")
			n := 0
			e.flags.VisitAll(func(f *flag.Flag) {
				n++
				name, ok := rows[f.Name]
				if !ok {
					t.Errorf("--%s is not in the help", f.Name)
					return
				}
				ph, _ := strings.CutPrefix(name, "--"+f.Name)
				ph = strings.TrimPrefix(ph, " ")
				isBool := false
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					isBool = true
				}
				if isBool != (ph == "") || ph != "" && !placeholder.MatchString(ph) {
					t.Errorf("--%s: placeholder %q", f.Name, ph)
				}
				if d := f.DefValue; d != "" && d != "0" && d != "0s" && d != "false" && !strings.Contains(flat, "(default: "+d+")") {
					t.Errorf("--%s: its default %q is not shown", f.Name, d)
				}
			})
			if !strings.Contains(help, "\n  -h, --help ") {
				t.Errorf("no -h, --help:\n%s", help)
			}
			for _, want := range []string{"log-level", "log-format"} {
				if _, ok := rows[want]; !ok {
					t.Errorf("no --%s", want)
				}
			}
			if n == 0 {
				t.Fatal("no flags")
			}
		})
	}
}

func TestHelpLayout(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Duration("wait", time.Second, "how long to wait")
	fs.String("out", "", "write to this `file`")
	fs.Bool("json", false, "print JSON")
	fs.Float64("drop", 0.5, "fraction dropped")
	fs.Int("n", 0, "how many")
	fs.Var(new(listFlag), "x", "a list")
	var b strings.Builder
	var rows []helpRow
	fs.VisitAll(func(f *flag.Flag) { rows = append(rows, flagRow(f)) })
	writeRows(&b, rows)
	want := "" +
		"  --drop NUM        fraction dropped (default: 0.5)\n" +
		"  --json            print JSON\n" +
		"  --n N             how many\n" +
		"  --out FILE        write to this file\n" +
		"  --wait DURATION   how long to wait (default: 1s)\n" +
		"  --x VALUE         a list\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := wrap("aaa bbb ccc dddddddddd e", 7); strings.Join(got, "|") != "aaa bbb|ccc|dddddddddd|e" {
		t.Errorf("wrap: %q", got)
	}
}

func TestVersion(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/tickcast/tickcast", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "024f57f8e9bc1d2e3f4a5b6c7d8e9f0a1b2c3d4e"},
			{Key: "vcs.time", Value: "2026-12-01T05:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}
	if got, want := formatVersion(bi, true), "tickcast (devel) 024f57f8e9bc 2026-12-01T05:00:00Z (modified) go1.26.0 "+platform; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	bi.Settings[3].Value = "false"
	bi.Main.Version = "v1.2.3"
	if got, want := formatVersion(bi, true), "tickcast v1.2.3 024f57f8e9bc 2026-12-01T05:00:00Z go1.26.0 "+platform; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// go run, go test, -buildvcs=false: no VCS settings.
	bi = &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/tickcast/tickcast"}}
	if got, want := formatVersion(bi, true), "tickcast (devel) go1.26.0 "+platform; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := formatVersion(nil, false); !strings.HasPrefix(got, "tickcast (unknown version") || !strings.Contains(got, runtime.Version()) {
		t.Errorf("no build information: %q", got)
	}
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		code, stdout, stderr := tickcast(context.Background(), args...)
		if code != exitOK || stdout != version()+"\n" || !strings.HasPrefix(stdout, "tickcast ") || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// logLines parses the lines of stderr that are JSON objects (log records;
// the others are the command's own messages) and checks each is a record.
func logLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line that is not JSON: %q: %v", line, err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("a log record without %q: %q", k, line)
			}
		}
		recs = append(recs, m)
	}
	return recs
}

// --log-format json: stderr is JSON objects, one a line: the log records,
// with the session (and endpoints) as attributes, and what the command says
// of its progress, as records at Info whatever the level; text is
// key=value.
func TestLogFormat(t *testing.T) {
	args := []string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--count", "100", "--rate", "0", "--symbols", "2", "--log-level", "debug"}
	code, _, stderr := tickcast(context.Background(), append(args, "--log-format", "json")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	session := regexp.MustCompile(`\(session ([0-9a-f]{16})\)`).FindStringSubmatch(stderr)
	if session == nil {
		t.Fatalf("no session in stderr:\n%s", stderr)
	}
	var started, closed bool
	for _, r := range logLines(t, stderr) {
		switch r["msg"] {
		case "publisher started":
			started = r["session"] == session[1] && r["level"] == "DEBUG"
		case "publisher closed":
			closed = r["session"] == session[1]
		}
	}
	if !started || !closed {
		t.Errorf("want the publisher's start and close, with session %s, as JSON records:\n%s", session[1], stderr)
	}
	code, _, stderr = tickcast(context.Background(), append(args, "--log-format", "text")...)
	if code != exitOK || !regexp.MustCompile(`(?m)^time=\S+ level=DEBUG msg="publisher started" session=[0-9a-f]{16} `).MatchString(stderr) ||
		regexp.MustCompile(`(?m)^\{`).MatchString(stderr) {
		t.Errorf("--log-format text: exit %d, stderr:\n%s", code, stderr)
	}
	// The default level, warn, logs nothing on a run that goes well: the
	// progress notices only.
	code, _, stderr = tickcast(context.Background(), "pub", "--endpoint", "tcp://127.0.0.1:0", "--count", "10", "--log-format", "json")
	recs := logLines(t, stderr)
	if code != exitOK || len(recs) == 0 {
		t.Errorf("--log-level warn: exit %d, stderr:\n%s", code, stderr)
	}
	for _, r := range recs {
		if r["level"] != "INFO" || !strings.HasPrefix(r["msg"].(string), "publishing ") {
			t.Errorf("--log-level warn, a run that goes well: %v", r)
		}
	}
	// A failure is a record at Error.
	busy := startPub(t)
	code, _, stderr = tickcast(context.Background(), "pub", "--endpoint", busy, "--count", "10", "--log-format", "json")
	recs = logLines(t, stderr)
	if code != exitFailure || len(recs) != 1 || recs[0]["level"] != "ERROR" || !strings.Contains(recs[0]["err"].(string), "address already in use") {
		t.Errorf("a failure: exit %d, stderr:\n%s", code, stderr)
	}
}

// startPub runs tickcast pub until the test ends and returns its endpoint.
func startPub(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, &env{stdout: &out, stderr: &errOut},
			append([]string{"pub", "--endpoint", "tcp://127.0.0.1:0"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("pub exited %d: %s", code, errOut.String())
		}
	})
	re := regexp.MustCompile(`\[(tcp://127\.0\.0\.1:\d+)\]`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(errOut.String()); m != nil {
			return m[1]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("pub did not say where it publishes: %s", errOut.String())
	return ""
}

// jsonLines parses every line of out as a JSON object.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestSubReceivesExactlyItsTopicAsJSON(t *testing.T) {
	ep := startPub(t, "--symbols", "20", "--rate", "20000")
	code, out, stderr := tickcast(context.Background(), "sub", "--endpoint", ep, "--topic", "MS", "--count", "200", "--timeout", "30s", "--json")
	if code != exitOK {
		t.Fatalf("sub exited %d: %s", code, stderr)
	}
	lines := jsonLines(t, out)
	summary := lines[len(lines)-1]
	if summary["type"] != "summary" || summary["received"].(float64) < 200 || summary["gaps"].(float64) != 0 ||
		summary["missing"].(float64) != 0 || summary["decode_errors"].(float64) != 0 {
		t.Fatalf("summary %v", summary)
	}
	lat := summary["latency_ns"].(map[string]any)
	if lat["p50"].(float64) <= 0 || lat["max"].(float64) < lat["p99"].(float64) {
		t.Fatalf("latency %v", lat)
	}
	ticks := 0
	lastSeq := map[string]float64{}
	for _, l := range lines[:len(lines)-1] {
		if l["type"] != "tick" {
			continue
		}
		ticks++
		topic := l["topic"].(string)
		if topic != "MSFT" && topic != "MS" {
			t.Fatalf("topic %q does not start with MS", topic)
		}
		if seq := l["seq"].(float64); lastSeq[topic] != 0 && seq != lastSeq[topic]+1 {
			t.Fatalf("%s: seq %v after %v", topic, seq, lastSeq[topic])
		}
		lastSeq[topic] = l["seq"].(float64)
		if _, ok := l["price"].(float64); !ok {
			t.Fatalf("price is not a number: %v", l)
		}
	}
	if float64(ticks) != summary["received"].(float64) {
		t.Fatalf("%d tick lines, summary says %v", ticks, summary["received"])
	}
}

func TestSubTextSummary(t *testing.T) {
	ep := startPub(t, "--symbols", "5", "--rate", "5000")
	code, out, stderr := tickcast(context.Background(), "sub", "--endpoint", ep, "--count", "50", "--timeout", "30s")
	if code != exitOK {
		t.Fatalf("sub exited %d: %s", code, stderr)
	}
	for _, want := range []string{"received ", "gaps 0, missing 0 ticks", "latency event→receive: p50", "line " + ep, "seq="} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSubTimeouts(t *testing.T) {
	// Nothing listens on this endpoint: nothing ever arrives.
	ep := "tcp://127.0.0.1:1"
	code, out, _ := tickcast(context.Background(), "sub", "--endpoint", ep, "--count", "1", "--timeout", "200ms", "--json")
	if code != exitTimeout {
		t.Fatalf("--count not reached: exit %d, want %d", code, exitTimeout)
	}
	lines := jsonLines(t, out)
	if s := lines[len(lines)-1]; s["type"] != "summary" || s["timed_out"] != true || s["received"].(float64) != 0 {
		t.Fatalf("summary %v", s)
	}
	// Without --count, the timeout just ends the run.
	if code, _, _ := tickcast(context.Background(), "sub", "--endpoint", ep, "--timeout", "200ms", "--quiet"); code != exitOK {
		t.Fatalf("--timeout alone: exit %d, want 0", code)
	}
}

func TestRelayForwardsTheFeed(t *testing.T) {
	ep := startPub(t, "--symbols", "3", "--rate", "5000")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errOut buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, &env{stdout: &buffer{}, stderr: &errOut},
			[]string{"relay", "--from", ep, "--to", "tcp://127.0.0.1:0"})
	}()
	re := regexp.MustCompile(`to \[(tcp://127\.0\.0\.1:\d+)\]`)
	var relayed string
	for deadline := time.Now().Add(10 * time.Second); relayed == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := re.FindStringSubmatch(errOut.String()); m != nil {
			relayed = m[1]
		}
	}
	code, out, stderr := tickcast(context.Background(), "sub", "--endpoint", relayed, "--count", "100", "--timeout", "30s", "--quiet", "--json")
	if code != exitOK {
		t.Fatalf("sub through the relay exited %d: %s", code, stderr)
	}
	if s := jsonLines(t, out)[0]; s["received"].(float64) < 100 || s["gaps"].(float64) != 0 {
		t.Fatalf("summary %v", s)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("relay exited %d: %s", code, errOut.String())
	}
}

func TestDemoChecksItself(t *testing.T) {
	code, out, stderr := tickcast(context.Background(), "demo", "--duration", "1s", "--rate", "10000")
	if code != exitOK {
		t.Fatalf("demo exited %d:\n%s\n%s", code, out, stderr)
	}
	if strings.Count(out, "\nok   ") != 3 || strings.Contains(out, "FAIL") {
		t.Fatalf("demo output:\n%s", out)
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct {
		v    int64
		exp  int8
		want string
	}{
		{1892300, -4, "189.2300"}, {5, -4, "0.0005"}, {-15, -1, "-1.5"}, {300, 0, "300"}, {3, 2, "300"}, {0, -2, "0.00"},
	}
	for _, tt := range tests {
		if got := decimal(tt.v, tt.exp); got != tt.want {
			t.Errorf("decimal(%d, %d) = %q, want %q", tt.v, tt.exp, got, tt.want)
		}
	}
	if count(1234567) != "1,234,567" || count(12) != "12" {
		t.Errorf("count: %s %s", count(1234567), count(12))
	}
}

// pub --subscribers waits for its subscriber before the first tick: the
// subscriber gets every tick of the session, none lost to a slow join.
func TestPubWaitsForItsSubscribers(t *testing.T) {
	ep := startPub(t, "--subscribers", "1", "--count", "500", "--rate", "0", "--symbols", "5")
	code, out, stderr := tickcast(context.Background(), "sub", "--endpoint", ep, "--until-end", "--timeout", "30s", "--json", "--quiet")
	if code != exitOK {
		t.Fatalf("sub exited %d: %s", code, stderr)
	}
	lines := jsonLines(t, out)
	summary := lines[len(lines)-1]
	if summary["received"].(float64) != 500 || summary["missing"].(float64) != 0 {
		t.Fatalf("summary %v", summary)
	}
}

// relay --topic forwards the topics asked for (and the control topic: the
// subscriber behind it sees the end of the session), and --json prints a
// summary that says exactly what was forwarded; --log-format json logs the
// line and the session with their endpoint as attributes.
func TestRelayTopicsAndJSON(t *testing.T) {
	const symbols, seed, ticks = 5, 1, 3000
	// What the publisher publishes: the relay, its only subscriber, gets
	// every tick (the publisher waits for it).
	want := map[string]uint64{}
	mkt := market.New(symbols, seed)
	for range ticks {
		i, _ := mkt.Next(0)
		if sym := mkt.Instruments[i].Symbol; sym == "AAPL" || sym == "GOOG" {
			want[sym]++
		}
	}
	m := startCmd(t, regexp.MustCompile(`to (\[tcp://127\.0\.0\.1:\d+\] \(session [0-9a-f]{16}\))`), "pub", "--endpoint", "tcp://127.0.0.1:0",
		"--symbols", fmt.Sprint(symbols), "--seed", fmt.Sprint(seed), "--count", fmt.Sprint(ticks), "--rate", "3000", "--subscribers", "1")
	pubEP, session := m[1:strings.Index(m, "]")], m[len(m)-17:len(m)-1]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, &env{stdout: &out, stderr: &errOut}, []string{"relay", "--from", pubEP, "--to", "tcp://127.0.0.1:0",
			"--topic", "AAPL", "--topic", "GOOG", "--json", "--log-level", "info", "--log-format", "json"})
	}()
	re := regexp.MustCompile(`to \[(tcp://127\.0\.0\.1:\d+)\]`)
	var relayed string
	for deadline := time.Now().Add(10 * time.Second); relayed == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := re.FindStringSubmatch(errOut.String()); m != nil {
			relayed = m[1]
		}
	}
	if relayed == "" {
		t.Fatalf("relay did not say where it forwards: %s", errOut.String())
	}
	code, stdout, stderr := tickcast(context.Background(), "sub", "--endpoint", relayed, "--until-end", "--timeout", "30s", "--quiet", "--json")
	if code != exitOK {
		t.Fatalf("sub through the relay exited %d: %s", code, stderr)
	}
	var sub summary
	if err := json.Unmarshal([]byte(stdout), &sub); err != nil {
		t.Fatalf("sub summary %q: %v", stdout, err)
	}
	if sub.Received == 0 || sub.Gaps != 0 || sub.Missing != 0 || sub.Ends != 1 {
		t.Errorf("sub through the relay: %s", stdout)
	}
	for topic, tt := range sub.Topics {
		// The subscriber joined late, perhaps, but it has every topic's
		// last tick: the relay forwarded the topics, and only them.
		if tt.LastSeq != want[topic] {
			t.Errorf("sub through the relay: topic %s, last seq %d, want %d", topic, tt.LastSeq, want[topic])
		}
	}
	if len(sub.Topics) != len(want) {
		t.Errorf("sub through the relay: topics %v, want %v", sub.Topics, want)
	}

	// Everything went through the relay (the session's end too): stop it.
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("relay exited %d: %s", code, errOut.String())
	}
	lines := jsonLines(t, out.String())
	if len(lines) != 1 {
		t.Fatalf("relay --json printed %d lines:\n%s", len(lines), out.String())
	}
	t.Logf("relay: %s", out.String())
	var rs relaySummary
	if err := json.Unmarshal([]byte(out.String()), &rs); err != nil {
		t.Fatal(err)
	}
	if rs.Type != "summary" || rs.From != pubEP || strings.Join(rs.Topics, ",") != "AAPL,GOOG" ||
		rs.Ticks != want["AAPL"]+want["GOOG"] || rs.Dropped != 0 || rs.DroppedTicks != 0 || rs.Filtered != 0 ||
		len(rs.To) != 1 || rs.To[0].Endpoint != relayed || rs.To[0].Messages != rs.Forwarded ||
		rs.Forwarded < sub.Lines[0].Messages || rs.Seconds <= 0 {
		t.Errorf("relay summary %s: want %d ticks of AAPL and GOOG (%v) from %s to %s, every message forwarded to its one sink, at least the %d the subscriber got",
			out.String(), want["AAPL"]+want["GOOG"], want, pubEP, relayed, sub.Lines[0].Messages)
	}
	var up, heard bool
	for _, r := range logLines(t, errOut.String()) {
		switch r["msg"] {
		case "relay: line up":
			up = r["endpoint"] == pubEP && r["level"] == "INFO"
		case "relay: session":
			heard = r["endpoint"] == pubEP && r["session"] == session
		}
	}
	if !up || !heard {
		t.Errorf("relay log: want its line up and session %s, with the endpoint %s as attributes:\n%s", session, pubEP, errOut.String())
	}
}

// Summaries separate thousands, whichever command prints them; sequence
// numbers, which are not counts, stay as they are.
func TestSummariesSeparateThousands(t *testing.T) {
	var b strings.Builder
	writeSummary(&b, summary{Received: 1234567, Gaps: 1000, Missing: 25000, DecodeErrors: 1001, Duplicates: 999,
		Latency:  latencySummary{Count: 1234567, P50: 1000, Max: 2000},
		Topics:   map[string]*topicTally{"AAPL": {Received: 1234567, Gaps: 1000, Missing: 25000, LastSeq: 1259567}},
		Lines:    []lineSummary{{Endpoint: "tcp://127.0.0.1:6001", State: "active", Messages: 12345, Bytes: 1234567890, Connects: 1000, Disconnects: 999, Stale: 1000, TransportLoss: 2000}},
		Sessions: 1000, Restarts: 999, Ends: 1000})
	for _, want := range []string{"received 1,234,567 ticks on 1 topics", "gaps 1,000, missing 25,000 ticks, decode errors 1,001, duplicates 999",
		"(1,234,567 ticks)", "AAPL          1,234,567  1,000    25,000    1259567", "12,345 messages, 1,234,567,890 bytes",
		"connected 1,000, disconnected 999, stale 1,000, transport loss 2,000", "sessions 1,000 (restarts 999, ended 1,000)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("sub summary lacks %q:\n%s", want, b.String())
		}
	}

	var out buffer
	relaySummary{Forwarded: 1234567, Ticks: 9876543, Dropped: 1000, DroppedTicks: 12000, Filtered: 5000,
		To: []relaySinkSummary{{Endpoint: "tcp://127.0.0.1:6002", Messages: 1234567, Bytes: 98765432, Dropped: 1500}}}.write(&env{stdout: &out})
	for _, want := range []string{"forwarded 1,234,567 messages (9,876,543 ticks)", "dropped 1,000 batches holding 12,000 ticks",
		"5,000 messages on other topics", "1,234,567 messages, 98,765,432 bytes, 1,500 message copies dropped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("relay summary lacks %q:\n%s", want, out.String())
		}
	}

	// pub, for real.
	code, stdout, stderr := tickcast(context.Background(), "pub", "--endpoint", "tcp://127.0.0.1:0", "--count", "1500", "--rate", "0", "--symbols", "3")
	if code != exitOK {
		t.Fatalf("pub exited %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`^published 1,500 ticks in [\d,]+ messages \(\d{1,3}(,\d{3})+ bytes\) in `).MatchString(stdout) {
		t.Errorf("pub summary:\n%s", stdout)
	}
}

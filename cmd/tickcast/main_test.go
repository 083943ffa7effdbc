package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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
		args []string
		code int
		want string // in stderr
	}{
		{nil, exitUsage, "Commands:"},
		{[]string{"--help"}, exitOK, "Commands:"},
		{[]string{"bogus"}, exitUsage, `unknown command "bogus"`},
		{[]string{"pub", "--help"}, exitOK, "-endpoint"},
		{[]string{"sub", "--help"}, exitOK, "-topic"},
		{[]string{"demo", "--help"}, exitOK, "-duration"},
		{[]string{"relay", "--help"}, exitOK, "-drop"},
		{[]string{"pub"}, exitUsage, "at least one --endpoint"},
		{[]string{"sub"}, exitUsage, "at least one --endpoint"},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1:1", "--nope"}, exitUsage, "flag provided but not defined"},
		{[]string{"sub", "--endpoint", "udp://x"}, exitUsage, "unsupported transport"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--symbols", "0"}, exitUsage, "--symbols"},
		{[]string{"pub", "--endpoint", "tcp://127.0.0.1:0", "--batch", "0"}, exitUsage, "--batch 0"},
		{[]string{"relay", "--from", "tcp://127.0.0.1:1", "--to", "tcp://127.0.0.1:0", "--drop", "2"}, exitUsage, "--drop"},
		{[]string{"sub", "--endpoint", "tcp://127.0.0.1:1", "extra"}, exitUsage, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := tickcast(ctx, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, want %d; stderr:\n%s\nwant it to contain %q", code, tt.code, stderr, tt.want)
			}
		})
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

// Package examples holds complete programs that use tickcast, each in a
// directory of its own; its tests keep them working and keep the README's
// library example one of them, verbatim.
package examples

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeProgram returns the Go program in the README's library section.
func readmeProgram(t *testing.T) []byte {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := bytes.Cut(readme, []byte("\n## The library\n"))
	if !ok {
		t.Fatal("README.md has no section \"## The library\"")
	}
	m := regexp.MustCompile("(?s)\n```go\n(.*?)```\n").FindSubmatch(section)
	if m == nil {
		t.Fatal("README.md's library section has no ```go block")
	}
	return m[1]
}

// The README's library example is examples/hello/main.go, byte for byte: the
// program a newcomer copies is one that CI builds and runs.
func TestTheREADMEShowsHelloVerbatim(t *testing.T) {
	hello, err := os.ReadFile("hello/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if got := readmeProgram(t); !bytes.Equal(got, hello) {
		t.Fatalf("README.md's library example differs from examples/hello/main.go: copy the file into the README\n--- README\n%s\n--- hello/main.go\n%s", got, hello)
	}
}

// build compiles the program in dir into a temporary directory.
func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// helloOutput is what hello prints, in an order that depends on batching
// across topics but not within one.
var helloTicks = []string{
	"AAPL #1 trade 189.23 x 100",
	"AAPL #2 trade 189.24 x 100",
	"AAPL #3 trade 189.25 x 100",
	"MSFT #1 bid 415.30 x 300",
	"MSFT #2 bid 415.29 x 300",
	"MSFT #3 bid 415.28 x 300",
}

// checkHello checks one run of hello: it exited 0 having printed every tick
// it subscribed to, each topic in order, and the end of the session last.
func checkHello(t *testing.T, run int, out []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("run %d: %v\n%s", run, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(helloTicks)+1 || lines[len(lines)-1] != "the publisher closed its session" {
		t.Fatalf("run %d printed:\n%s", run, out)
	}
	for _, topic := range []string{"AAPL", "MSFT"} {
		var got, want []string
		for _, l := range lines {
			if strings.HasPrefix(l, topic) {
				got = append(got, l)
			}
		}
		for _, l := range helloTicks {
			if strings.HasPrefix(l, topic) {
				want = append(want, l)
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("run %d: %s ticks:\n%s\nwant:\n%s", run, topic, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// hello receives what it publishes every time, not most times: it waits
// for its subscriber before publishing. Fifty runs, each a new process.
func TestHelloReceivesEveryTickEveryTime(t *testing.T) {
	bin := build(t, "hello")
	for run := range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, bin).CombinedOutput()
		cancel()
		checkHello(t, run, out, err)
	}
}

// A newcomer copies the README's program into an empty module of their own,
// adds tickcast to it, and runs it.
func TestANewcomerRunsTheREADMEInAnEmptyModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module from scratch")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), readmeProgram(t), 0o644); err != nil {
		t.Fatal(err)
	}
	// The dependencies' checksums come from our go.sum, and the modules
	// from the module cache: the test runs without a network.
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	goCmd := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
	goCmd("mod", "init", "example.com/newcomer")
	goCmd("mod", "edit", "-require", "github.com/tickcast/tickcast@v0.0.0", "-replace", "github.com/tickcast/tickcast="+repo)
	goCmd("mod", "tidy")
	checkHello(t, 0, goCmd("run", "."), nil)
}

// run builds and runs the program in dir once, and returns its output.
func run(t *testing.T, dir string) string {
	t.Helper()
	bin := build(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", dir, err, out)
	}
	return string(out)
}

// ablines gets every tick over two multicast lines, each tick once.
func TestABLinesDeliversEveryTickOnce(t *testing.T) {
	out := run(t, "ablines")
	if !strings.HasPrefix(out, "received 4000 of 4000 ticks, 0 missing\n") || strings.Count(out, "first with") != 2 {
		t.Fatalf("ablines printed:\n%s", out)
	}
}

// gaps reports exactly what its relay dropped.
func TestGapsReportsExactlyWhatTheRelayDropped(t *testing.T) {
	out := run(t, "gaps")
	if !strings.Contains(out, "exact: true\n") || !strings.Contains(out, "gap: ") {
		t.Fatalf("gaps printed:\n%s", out)
	}
}

// monitored's metrics show the slow handler: it lost ticks (the fast one
// may too, on a machine busy enough), each handler reported every tick it
// lost (received + missing = published), and the publisher's sink counted
// drops.
func TestMonitoredShowsTheSlowHandler(t *testing.T) {
	out := run(t, "monitored")
	value := func(series string) int {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\d+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s in:\n%s", series, out)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	for _, h := range []string{"fast", "slow"} {
		got := value(`tickcast_subscriber_ticks_total{handler="` + h + `"}`)
		missing := value(`tickcast_subscriber_missing_ticks_total{handler="` + h + `"}`)
		if got+missing != 10_000 {
			t.Errorf("the %s handler: %d received + %d missing != 10,000 published", h, got, missing)
		}
		if h == "slow" && missing == 0 {
			t.Errorf("the slow handler lost nothing:\n%s", out)
		}
	}
	if value(`tickcast_sink_dropped_messages_total{endpoint="inproc://quotes"}`) == 0 {
		t.Errorf("the publisher counted no drops:\n%s", out)
	}
}

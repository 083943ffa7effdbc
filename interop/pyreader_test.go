package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast"
)

// The Python reader (python/tickcast_reader.py) implements the subscriber's
// rules of docs/protocol.md for one line. These tests hold it to the Go
// subscriber: on crafted message sequences (loss, late join, heartbeats,
// restarts, duplicates, sequences that go back, foreign and forged
// messages), event for event; and on a live feed, through a lossy relay and
// without one, gap for gap.

const pyReader = "../python/tickcast_reader.py"

// pyNoCache is the environment of the Python programs the tests run: no
// byte-code cache written into python/ (python/fb is generated code).
var pyNoCache = []string{"PYTHONDONTWRITEBYTECODE=1"}

// needPythonFlatbuffers skips the test when python3-flatbuffers is
// missing, or fails it in CI.
func needPythonFlatbuffers(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import flatbuffers").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("python3-flatbuffers is missing (%v: %s): apt-get install python3-flatbuffers", err, bytes.TrimSpace(out))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// A live feed: `tickcast pub`, optionally through `tickcast relay --drop`,
// read by `tickcast sub --json`, the Python reader and the ≤30-line example
// (python/example_gaps.py), all of which must report the same gaps.

// feedSummary is the part of `tickcast sub --json`'s summary the Python
// reader's has too.
type feedSummary struct {
	Type                    string
	Received, Gaps, Missing uint64
	DecodeErrors            uint64 `json:"decode_errors"`
	Sessions, Restarts      uint64
	Ends                    uint64 `json:"session_ends"`
	TimedOut                bool   `json:"timed_out"`
	Topics                  map[string]topicSummary
}

type topicSummary struct {
	Received, Gaps, Missing uint64
	LastSeq                 uint64 `json:"last_seq"`
}

type gapEvent struct {
	Topic                       string
	Expected, Received, Missing uint64
	ByHeartbeat                 bool `json:"by_heartbeat"`
}

// subOutput is what a subscriber printed: its gap events and summary.
type subOutput struct {
	gaps    []gapEvent
	summary feedSummary
	lines   []string
}

// liveFeed is one run's outputs.
type liveFeed struct {
	published     uint64
	goSub, pySub  subOutput
	example       subOutput // its summary; gaps from its "gap ..." lines
	exampleGapLog []string
}

var endpointRE = regexp.MustCompile(`tcp://127\.0\.0\.1:\d+`)

// waitEndpoint waits until a process says on stderr which endpoint it bound:
// the first tcp://127.0.0.1:N it names that is not one of skip.
func waitEndpoint(t *testing.T, p *peer, what string, skip ...string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, ep := range endpointRE.FindAllString(p.errb.String(), -1) {
			if !slices.Contains(skip, ep) {
				return ep
			}
		}
	}
	t.Fatalf("%s named no endpoint in 30s: %s", what, p.errb.String())
	return ""
}

// readUntil reads a process's output lines until one satisfies done (or,
// with done nil, until its output ends), within d.
func readUntil(t *testing.T, p *peer, what string, lines []string, d time.Duration, done func(string) bool) []string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				if done != nil {
					t.Fatalf("%s exited before it was ready: %s\n%s", what, p.errb.String(), strings.Join(lines, "\n"))
				}
				return lines
			}
			lines = append(lines, l)
			if done != nil && done(l) {
				return lines
			}
		case <-timeout:
			t.Fatalf("%s: no end after %v (%d lines): %s", what, d, len(lines), p.errb.String())
		}
	}
}

// jsonType is a JSON line's "type".
func jsonType(l string) string {
	var v struct{ Type string }
	json.Unmarshal([]byte(l), &v)
	return v.Type
}

// parseSub takes a JSON-lines output apart: gap events and the summary.
func parseSub(t *testing.T, what string, lines []string) subOutput {
	t.Helper()
	o := subOutput{lines: lines}
	for _, l := range lines {
		switch jsonType(l) {
		case "gap":
			var g gapEvent
			if err := json.Unmarshal([]byte(l), &g); err != nil {
				t.Fatalf("%s: %q: %v", what, l, err)
			}
			o.gaps = append(o.gaps, g)
		case "summary":
			if err := json.Unmarshal([]byte(l), &o.summary); err != nil {
				t.Fatalf("%s: %q: %v", what, l, err)
			}
		}
	}
	if o.summary.Type != "summary" {
		t.Fatalf("%s printed no summary:\n%s", what, strings.Join(lines[max(len(lines)-10, 0):], "\n"))
	}
	return o
}

// runLiveFeed publishes count ticks with `tickcast pub` and reads them with
// `tickcast sub`, the Python reader and the example, each subscribed to
// topics (none: every topic), through `tickcast relay --drop drop` if drop
// > 0. All three see exactly the same stream: they start first, each says
// when it has heard the session (the publisher's heartbeats flow before
// its first tick; a subscriber subscribes to the control topic last, so
// hearing it means every subscription is in place), and only then does a
// last subscriber connect to the publisher, which waits for it (--subscribers)
// before its first tick. They read until the end of the session.
func runLiveFeed(t *testing.T, count int, drop float64, topics []string) liveFeed {
	t.Helper()
	needLibzmq(t)
	needPythonFlatbuffers(t)
	bin := buildTickcast(t)
	waitFor := 2 // the relay and the gate
	if drop == 0 {
		waitFor = 4 // the three subscribers and the gate
	}
	pub := startIn(t, "", nil, bin, "pub", "--endpoint", "tcp://127.0.0.1:0", "--symbols", "30", "--rate", "3000",
		"--count", strconv.Itoa(count), "--heartbeat", "100ms", "--subscribers", strconv.Itoa(waitFor))
	pubEP := waitEndpoint(t, pub, "tickcast pub")
	subEP := pubEP
	if drop > 0 {
		relay := startIn(t, "", nil, bin, "relay", "--from", pubEP, "--to", "tcp://127.0.0.1:0",
			"--drop", strconv.FormatFloat(drop, 'f', -1, 64), "--seed", "7")
		subEP = waitEndpoint(t, relay, "tickcast relay", pubEP)
	}
	goArgs := []string{"sub", "--endpoint", subEP, "--json", "--until-end", "--timeout", "60s"}
	pyArgs := []string{pyReader, "--endpoint", subEP, "--json", "--no-ticks", "--until-end", "--timeout", "60s"}
	for _, tp := range topics {
		goArgs = append(goArgs, "--topic", tp)
		pyArgs = append(pyArgs, "--topic", tp)
	}
	goSub := startIn(t, "", nil, append([]string{bin}, goArgs...)...)
	pySub := startIn(t, "", pyNoCache, append([]string{python}, pyArgs...)...)
	example := startIn(t, "", pyNoCache, append([]string{python, "../python/example_gaps.py", subEP}, topics...)...)

	isStart := func(l string) bool { return jsonType(l) == "session_start" }
	goLines := readUntil(t, goSub, "tickcast sub", nil, 30*time.Second, isStart)
	pyLines := readUntil(t, pySub, "tickcast_reader.py", nil, 30*time.Second, isStart)
	exLines := readUntil(t, example, "example_gaps.py", nil, 30*time.Second, func(l string) bool { return strings.HasPrefix(l, "session ") })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gate, err := tickcast.Subscribe(ctx, pubEP, []string{"\x01gate"})
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()

	const d = 90 * time.Second
	var f liveFeed
	f.goSub = parseSub(t, "tickcast sub", readUntil(t, goSub, "tickcast sub", goLines, d, nil))
	f.pySub = parseSub(t, "tickcast_reader.py", readUntil(t, pySub, "tickcast_reader.py", pyLines, d, nil))
	exLines = readUntil(t, example, "example_gaps.py", exLines, d, nil)
	for _, l := range exLines {
		if strings.HasPrefix(l, "gap ") {
			f.exampleGapLog = append(f.exampleGapLog, l)
		}
	}
	f.example = parseSub(t, "example_gaps.py", exLines[len(exLines)-1:])
	pubOut := strings.Join(readUntil(t, pub, "tickcast pub", nil, d, nil), "\n")
	m := regexp.MustCompile(`published ([\d,]+) ticks`).FindStringSubmatch(pubOut)
	if m == nil {
		t.Fatalf("tickcast pub said %q", pubOut)
	}
	f.published, _ = strconv.ParseUint(strings.ReplaceAll(m[1], ",", ""), 10, 64)
	for what, p := range map[string]*peer{"tickcast sub": goSub, "tickcast_reader.py": pySub, "example_gaps.py": example, "tickcast pub": pub} {
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("%s: %v: %s", what, err, p.errb.String())
		}
	}
	t.Logf("published %d ticks; tickcast sub: %d received, %d gaps, %d missing; tickcast_reader.py: %d, %d, %d; example_gaps.py: %d, %d, %d",
		f.published, f.goSub.summary.Received, f.goSub.summary.Gaps, f.goSub.summary.Missing,
		f.pySub.summary.Received, f.pySub.summary.Gaps, f.pySub.summary.Missing,
		f.example.summary.Received, f.example.summary.Gaps, f.example.summary.Missing)
	return f
}

// sameFeed checks that the Go subscriber, the Python reader and the example
// saw the same feed and report the same gaps, and that what they received
// and what they report missing add up to what was published, and that they
// saw one whole session.
func sameFeed(t *testing.T, f liveFeed, wantAll bool) {
	t.Helper()
	g, p, e := f.goSub.summary, f.pySub.summary, f.example.summary
	if p.Gaps != g.Gaps || p.Missing != g.Missing || p.Received != g.Received {
		t.Errorf("tickcast_reader.py: %d ticks, %d gaps, %d missing; tickcast sub: %d, %d, %d",
			p.Received, p.Gaps, p.Missing, g.Received, g.Gaps, g.Missing)
	}
	if e.Gaps != g.Gaps || e.Missing != g.Missing || e.Received != g.Received || len(f.exampleGapLog) != int(g.Gaps) {
		t.Errorf("example_gaps.py: %d ticks, %d gaps (%d printed), %d missing; tickcast sub: %d, %d, %d",
			e.Received, e.Gaps, len(f.exampleGapLog), e.Missing, g.Received, g.Gaps, g.Missing)
	}
	if !slices.Equal(f.pySub.gaps, f.goSub.gaps) {
		t.Errorf("the gaps differ:\ntickcast_reader.py %v\ntickcast sub       %v", f.pySub.gaps, f.goSub.gaps)
	}
	for name, gt := range g.Topics {
		if pt := p.Topics[name]; pt != gt {
			t.Errorf("topic %s: tickcast_reader.py %+v, tickcast sub %+v", name, pt, gt)
		}
	}
	if len(p.Topics) != len(g.Topics) {
		t.Errorf("tickcast_reader.py saw %d topics, tickcast sub %d", len(p.Topics), len(g.Topics))
	}
	for what, s := range map[string]feedSummary{"tickcast sub": g, "tickcast_reader.py": p, "example_gaps.py": e} {
		if s.Sessions != 1 || s.Ends != 1 || s.Restarts != 0 || s.DecodeErrors != 0 {
			t.Errorf("%s: %d sessions, %d ends, %d restarts, %d decode errors: want one whole session",
				what, s.Sessions, s.Ends, s.Restarts, s.DecodeErrors)
		}
	}
	// Each joined every topic at its first tick (what it received and what
	// it reports missing reach at least the last tick it received), and the
	// end of the session came after a heartbeat on every topic: nothing went
	// unreported.
	var sum uint64
	for name, tp := range g.Topics {
		sum += tp.Received + tp.Missing
		if tp.Received+tp.Missing < tp.LastSeq {
			t.Errorf("topic %s: %+v: joined late", name, tp)
		}
	}
	if wantAll && sum != f.published {
		t.Errorf("received and missing add up to %d ticks; %d were published", sum, f.published)
	}
}

// A lossy relay drops 5% of the batches: the Python reader reports exactly
// the gaps tickcast sub reports, tick for tick, and the example the same
// counts; what each received plus what it reports missing is every tick
// published (the relay never drops a topic's first batch, nor heartbeats).
func TestPythonReaderCountsTheGapsOfALossyRelay(t *testing.T) {
	f := runLiveFeed(t, 6000, 0.05, nil)
	if f.goSub.summary.Gaps == 0 {
		t.Fatal("the relay dropped nothing: no gap to compare")
	}
	byHeartbeat := 0
	for _, g := range f.goSub.gaps {
		if g.ByHeartbeat {
			byHeartbeat++
		}
	}
	t.Logf("%d of the %d gaps revealed by topic heartbeats", byHeartbeat, len(f.goSub.gaps))
	sameFeed(t, f, true)
}

// Without loss, on topic prefixes: no gap anywhere, the same ticks, every
// topic from its first tick.
func TestPythonReaderSeesNoGapWithoutLoss(t *testing.T) {
	f := runLiveFeed(t, 3000, 0, []string{"A", "M"})
	if f.goSub.summary.Gaps != 0 || f.pySub.summary.Gaps != 0 || f.example.summary.Gaps != 0 {
		t.Errorf("gaps without loss: tickcast sub %d, tickcast_reader.py %d, example_gaps.py %d",
			f.goSub.summary.Gaps, f.pySub.summary.Gaps, f.example.summary.Gaps)
	}
	sameFeed(t, f, false)
	if f.goSub.summary.Received == 0 {
		t.Fatal("no ticks")
	}
	for name, tp := range f.goSub.summary.Topics {
		if !strings.HasPrefix(name, "A") && !strings.HasPrefix(name, "M") {
			t.Errorf("topic %s: not subscribed", name)
		}
		if tp.Received != tp.LastSeq {
			t.Errorf("topic %s: %+v: not every tick from the first", name, tp)
		}
	}
}

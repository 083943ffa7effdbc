package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The operations guide's PromQL queries (docs/operations.md, "Useful
// queries"), asked of a real Prometheus server (Debian's prometheus
// package) scraping live tickcast processes on loopback, while what they
// are about happens:
//
//	feed:     tickcast pub on two lines, A and B (tcp), with a recovery
//	          service;
//	relay:    line A passes through tickcast relay --drop 0.02 (the lossy line);
//	ab:       tickcast sub on the relay's A and on B: B fills A's holes;
//	gaps:     tickcast sub on the relay alone: a gap storm;
//	rec:      tickcast sub on the relay alone, with --recovery: the feed's
//	          recovery service fills the holes;
//	slowpub:  tickcast pub with a high-water mark of 10 messages, and a raw
//	          ZMTP subscriber on it that reads 4 KiB every 50 ms: a slow
//	          subscriber the publisher drops messages for.
//
// The queries are the guide's own strings (the test fails if one is no
// longer in the guide), with their range windows shortened to the test's
// seconds. Every check is an eventual condition with a deadline: no timing
// is asserted.

// The guide's queries, as it prints them.
const (
	qGapStorm  = `sum by (instance) (rate(tickcast_subscriber_missing_ticks_total[1m]))`
	qLostAlert = `increase(tickcast_subscriber_missing_ticks_total[5m]) > 0`
	qLossyLine = `topk(3, rate(tickcast_line_missing_ticks_total[5m]) > 0)`
	qSlowCount = `tickcast_sink_slow_subscribers > 0`
	qSlowPeers = `topk(5, rate(tickcast_sink_subscriber_dropped_messages_total[1m]) > 0)`
	qOutrun    = `rate(tickcast_publisher_rejected_ticks_total[1m]) > 0`
	qLatency   = `histogram_quantile(0.99, sum by (le) (rate(tickcast_subscriber_latency_seconds_bucket[5m])))`
	qLineDown  = `tickcast_line_state{state=~"down|stale"} == 1`
	qRecovered = `rate(tickcast_subscriber_recovered_ticks_total[1m])`
	qNotRecov  = `rate(tickcast_subscriber_unrecovered_ticks_total[5m]) > 0`
)

const (
	promScrape = "250ms" // scrape_interval and scrape_timeout
	promWindow = "[5s]"  // every range window of the guide's queries
	// promLimit bounds the test from Prometheus's start: normally it is
	// done in a few seconds.
	promLimit = 40 * time.Second
)

var rangeWindow = regexp.MustCompile(`\[\d+[smh]\]`)

// short is q with its range windows cut to the test's.
func short(q string) string { return rangeWindow.ReplaceAllString(q, promWindow) }

func TestPrometheusAnswersTheGuidesQueries(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		msg := "prometheus is missing: apt-get install prometheus"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	guide, err := os.ReadFile(filepath.Join("..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{qGapStorm, qLostAlert, qLossyLine, qSlowCount, qSlowPeers, qOutrun, qLatency, qLineDown, qRecovered, qNotRecov} {
		if !strings.Contains(string(guide), q) {
			t.Errorf("docs/operations.md no longer shows %s", q)
		}
	}
	bin := buildTickcast(t)
	metricsAt := regexp.MustCompile(`metrics at http://(127\.0\.0\.1:\d+)/metrics`)
	targets := map[string]string{} // process name → its metrics address
	start := func(name string, args ...string) *recProc {
		t.Helper()
		p := startKilledWithTest(t, name, append([]string{bin}, args...)...)
		targets[name] = p.waitOutput(t, metricsAt, 20*time.Second)[1]
		return p
	}

	// The A/B feed. The publisher starts once the relay has subscribed on
	// line A and the ab subscriber on line B.
	feed := start("feed", "pub", "--endpoint", "tcp://127.0.0.1:0", "--endpoint", "tcp://127.0.0.1:0",
		"--recovery", "tcp://127.0.0.1:0", "--symbols", "20", "--rate", "5000", "--subscribers", "1", "--duration", "2m",
		"--metrics", "127.0.0.1:0")
	m := feed.waitOutput(t, regexp.MustCompile(`serving recovery on (tcp://127\.0\.0\.1:\d+)[\s\S]*`+
		`to \[(tcp://127\.0\.0\.1:\d+) (tcp://127\.0\.0\.1:\d+)\]`), 20*time.Second)
	recovery, lineA, lineB := m[1], m[2], m[3]
	relay := start("relay", "relay", "--from", lineA, "--to", "tcp://127.0.0.1:0", "--drop", "0.02",
		"--duration", "2m", "--metrics", "127.0.0.1:0")
	lossy := relay.waitOutput(t, regexp.MustCompile(`to \[(tcp://127\.0\.0\.1:\d+)\]`), 20*time.Second)[1]
	start("gaps", "sub", "--endpoint", lossy, "--quiet", "--timeout", "2m", "--metrics", "127.0.0.1:0")
	// A recovery request may wait behind others on a loaded machine: a
	// generous timeout, so that every hole is recovered.
	start("rec", "sub", "--endpoint", lossy, "--recovery", recovery, "--recovery-timeout", "5s", "--quiet",
		"--timeout", "2m", "--metrics", "127.0.0.1:0")
	// A generous arbitration window: on a loaded machine line B may lag
	// line A, and B must still fill every hole A has.
	start("ab", "sub", "--endpoint", lossy, "--endpoint", lineB, "--arbitration", "2s", "--quiet", "--timeout", "2m",
		"--metrics", "127.0.0.1:0")

	// The slow subscriber: it reads, but far slower than the feed, so it
	// stays over the publisher's high-water mark without ever stalling a
	// write for the 15 s after which the publisher would cut it off (and
	// its series would go).
	slowPub := start("slowpub", "pub", "--endpoint", "tcp://127.0.0.1:0", "--hwm", "10",
		"--symbols", "10", "--rate", "20000", "--subscribers", "1", "--duration", "2m", "--metrics", "127.0.0.1:0")
	slowEP := slowPub.waitOutput(t, regexp.MustCompile(`to \[(tcp://127\.0\.0\.1:\d+)\]`), 20*time.Second)[1]
	slowPeer := slowReader(t, strings.TrimPrefix(slowEP, "tcp://"))

	prom := startPrometheus(t, promBin, targets)
	t.Logf("lines: A %s through the relay to %s, B %s; slow subscriber %s on %s; prometheus at %s",
		lineA, lossy, lineB, slowPeer, slowEP, prom.url)

	// The lossy line: the query names line A (the relay's endpoint), in
	// the three subscribers that read it, and never line B.
	prom.await("the lossy line", qLossyLine, func(res []promSample) bool {
		return find(res, "proc", "ab", "endpoint", lossy) != nil &&
			!slices.ContainsFunc(res, func(s promSample) bool { return s.Metric["endpoint"] != lossy })
	})

	// A gap storm in the subscriber on the lossy line alone; none in the
	// application of the A/B subscriber, whose line B filled every hole,
	// nor in the one whose recovery service did.
	prom.await("recovery at work", qRecovered, func(res []promSample) bool {
		s := find(res, "instance", targets["rec"])
		return s != nil && s.Value > 0
	})
	res := prom.await("a gap storm", qGapStorm, func(res []promSample) bool {
		s := find(res, "instance", targets["gaps"])
		return s != nil && s.Value > 0 && find(res, "instance", targets["ab"]) != nil && find(res, "instance", targets["rec"]) != nil
	})
	if s := find(res, "instance", targets["ab"]); s.Value != 0 {
		t.Errorf("the A/B subscriber's application lost %v ticks/s: line B did not fill line A's holes", s.Value)
	}
	if s := find(res, "instance", targets["rec"]); s.Value != 0 {
		t.Errorf("the recovering subscriber's application lost %v ticks/s", s.Value)
	}
	res = prom.await("ticks lost for good", qLostAlert, func(res []promSample) bool {
		return find(res, "proc", "gaps") != nil
	})
	if len(res) != 1 {
		t.Errorf("%s: %s, want only the subscriber on the lossy line alone", short(qLostAlert), prom.format(res))
	}
	if res := prom.ask(short(qNotRecov)); len(res) != 0 {
		t.Errorf("%s: %s, but the recovery service had every tick", short(qNotRecov), prom.format(res))
	}

	// The slow subscriber, by its address.
	prom.await("the slow subscribers", qSlowCount, func(res []promSample) bool {
		return find(res, "proc", "slowpub", "endpoint", slowEP) != nil
	})
	prom.await("the slow subscriber", qSlowPeers, func(res []promSample) bool {
		return find(res, "proc", "slowpub", "endpoint", slowEP, "peer", slowPeer) != nil
	})
	// Dropping for it is the sink's business: the publisher itself keeps up.
	if res := prom.ask(short(qOutrun)); len(res) != 0 {
		t.Errorf("%s: %s, but no publisher outran its sinks", short(qOutrun), prom.format(res))
	}

	prom.await("the latency p99", qLatency, func(res []promSample) bool {
		return len(res) == 1 && res[0].Value > 0 && !math.IsInf(res[0].Value, 0) && !math.IsNaN(res[0].Value)
	})

	// Line A goes down with its relay, in every subscriber that reads it.
	if err := relay.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	prom.await("the line down", qLineDown, func(res []promSample) bool {
		return len(res) == 3 && find(res, "proc", "ab", "line", "0", "endpoint", lossy) != nil &&
			find(res, "proc", "gaps", "line", "0", "endpoint", lossy) != nil &&
			find(res, "proc", "rec", "line", "0", "endpoint", lossy) != nil
	})
	// Over the whole run, the A/B subscriber's application and the
	// recovering one lost nothing.
	res = prom.ask(`tickcast_subscriber_missing_ticks_total{proc=~"ab|rec"} != 0`)
	if len(res) != 0 {
		t.Errorf("missing ticks: %s, want none", prom.format(res))
	}
}

// startKilledWithTest starts args; the process is killed when the test ends,
// or if the test binary dies first.
func startKilledWithTest(t *testing.T, name string, args ...string) *recProc {
	t.Helper()
	p := &recProc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// slowReader connects a raw ZMTP SUB to addr, subscribes to everything and
// reads 4 KiB every 50 ms until the test ends. It returns its address, as
// the publisher sees it.
func slowReader(t *testing.T, addr string) string {
	t.Helper()
	c, err := zmtpSub(addr, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{0, 1, 1}); err != nil { // subscribe to everything
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		c.Close()
		wg.Wait()
	})
	return c.LocalAddr().String()
}

// promServer is a Prometheus server scraping the test's processes.
type promServer struct {
	t        *testing.T
	url      string
	proc     *recProc
	names    map[string]string // instance → process name
	deadline time.Time
	client   http.Client
}

// promSample is one series of an instant vector.
type promSample struct {
	Metric map[string]string
	Value  float64
}

// startPrometheus runs prometheus scraping targets (process name →
// host:port), each labelled proc="name", and waits until it is ready. It
// scrapes nothing for its first 5 s or so: its scrape manager applies the
// targets at its first reload, on a fixed 5 s tick (Debian's 2.42 has no
// flag for it). That wait is most of the test's time.
func startPrometheus(t *testing.T, bin string, targets map[string]string) *promServer {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\nscrape_configs:\n  - job_name: tickcast\n    static_configs:\n",
		promScrape, promScrape)
	names := map[string]string{}
	for name, addr := range targets {
		fmt.Fprintf(&cfg, "      - targets: ['%s']\n        labels: {proc: %s}\n", addr, name)
		names[addr] = name
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Port 0: Prometheus takes a free port, and says which at Info.
	p := startKilledWithTest(t, "prometheus", bin, "--config.file="+conf,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:0", "--log.level=info")
	addr := p.waitOutput(t, regexp.MustCompile(`msg="Listening on" address=(127\.0\.0\.1:\d+)`), 30*time.Second)[1]
	s := &promServer{t: t, url: "http://" + addr, proc: p, names: names,
		deadline: time.Now().Add(promLimit), client: http.Client{Timeout: 5 * time.Second}}
	for {
		resp, err := s.client.Get(s.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(s.deadline) {
			t.Fatalf("prometheus is not ready: %v\n%s", err, lastLines(p.stderr.String(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// query asks Prometheus q, now, for an instant vector. A query Prometheus
// refuses as malformed fails the test.
func (s *promServer) query(q string) ([]promSample, error) {
	resp, err := s.client.Get(s.url + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Status    string
		ErrorType string
		Error     string
		Data      struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %v: %s", resp.Status, err, body)
	}
	if r.Status != "success" {
		if r.ErrorType == "bad_data" {
			s.t.Fatalf("prometheus refuses %s: %s", q, r.Error)
		}
		return nil, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "vector" {
		s.t.Fatalf("%s: a %s, want an instant vector", q, r.Data.ResultType)
	}
	out := make([]promSample, 0, len(r.Data.Result))
	for _, x := range r.Data.Result {
		str, _ := x.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("value %v: %v", x.Value, err)
		}
		out = append(out, promSample{Metric: x.Metric, Value: v})
	}
	return out, nil
}

// ask is query that fails the test on any error.
func (s *promServer) ask(q string) []promSample {
	s.t.Helper()
	res, err := s.query(q)
	if err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return res
}

// await asks the guide's query q, its windows shortened, until ok accepts
// the answer, and returns it; past the test's deadline, the test fails.
func (s *promServer) await(what, q string, ok func([]promSample) bool) []promSample {
	s.t.Helper()
	q = short(q)
	begin := time.Now()
	for {
		res, err := s.query(q)
		if err == nil && ok(res) {
			s.t.Logf("%s after %v: %s\n\t→ %s", what, time.Since(begin).Round(time.Millisecond), q, s.format(res))
			return res
		}
		if time.Now().After(s.deadline) {
			s.t.Fatalf("%s: %s never answered as expected; last answer: %s (error %v)\nprometheus:\n%s",
				what, q, s.format(res), err, lastLines(s.proc.stderr.String(), 10))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// format prints res, one series a line, instances by process name.
func (s *promServer) format(res []promSample) string {
	if len(res) == 0 {
		return "(nothing)"
	}
	var lines []string
	for _, x := range res {
		var labels []string
		for k, v := range x.Metric {
			switch k {
			case "job":
				continue
			case "instance":
				if n, ok := s.names[v]; ok {
					v = n + "@" + v
				}
			}
			labels = append(labels, fmt.Sprintf("%s=%q", k, v))
		}
		slices.Sort(labels)
		lines = append(lines, fmt.Sprintf("{%s} %g", strings.Join(labels, ", "), x.Value))
	}
	return strings.Join(lines, "\n\t  ")
}

// find returns the first sample of res with the given labels (alternating
// names and values), or nil.
func find(res []promSample, labels ...string) *promSample {
next:
	for i := range res {
		for j := 0; j+1 < len(labels); j += 2 {
			if res[i].Metric[labels[j]] != labels[j+1] {
				continue next
			}
		}
		return &res[i]
	}
	return nil
}

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tickcast/tickcast/internal/netns"
)

// Recovery end to end (issue 12): the real tickcast binary, publisher,
// subscribers and recovery service in network namespaces joined by a
// bridge, the feed on EPGM with a PGM window too short (--pgm-recovery
// 20ms) to repair an outage of the subscriber host's network: its kernel
// drops every datagram to the feed's port for a second or more, with
// nftables. What PGM cannot repair, the recovery service must: a subscriber
// with --recovery ends with every tick published, one without reports
// exactly what it lost. And over TCP on loopback, a subscriber that stops
// reading for a while and overflows the publisher's high-water mark gets
// back what the publisher dropped for it.
//
// Every assertion is a count: the ticks published (the publisher's own
// count), received, missing, recovered. Every subscriber starts before the
// publisher's first tick, so that it is owed all of them.

// Parameters of the EPGM outage tests.
const (
	recSymbols    = 50
	recRate       = 50_000
	recDelay      = time.Second // pub --delay: the subscribers are in before the first tick
	recLead       = time.Second // feed before the outage starts
	recPGMWindow  = "20ms"      // on every process: PGM cannot repair the outage
	recListenPort = 7_012       // the recovery service's port, in a namespace of the test's own
)

// recBuffer is an output buffer safe to read while a process writes it.
type recBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *recBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *recBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// recProc is a tickcast process the test started.
type recProc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr recBuffer
	done           chan struct{}
	err            error // Wait's, once done is closed
}

// recStart starts args in h's namespace (nil: here); the process is killed
// when the test ends, if it has not exited.
func recStart(t *testing.T, h *netns.Host, name string, args ...string) *recProc {
	t.Helper()
	p := &recProc{name: name, done: make(chan struct{})}
	if h != nil {
		p.cmd = h.Command(args...) // ip netns exec execs the command: the pid is tickcast's
	} else {
		p.cmd = exec.Command(args[0], args[1:]...)
	}
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

// wait waits for the process to exit 0 within limit; past it, the process
// is made to dump its goroutines, and the test fails.
func (p *recProc) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		p.cmd.Process.Signal(syscall.SIGQUIT)
		<-p.done
		t.Fatalf("%s still running after %v\nstdout:\n%s\nstderr:\n%s", p.name, limit, lastLines(p.stdout.String(), 5), lastLines(p.stderr.String(), 60))
	}
	if p.err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", p.name, p.err, lastLines(p.stdout.String(), 5), lastLines(p.stderr.String(), 30))
	}
}

// waitOutput waits until re matches the process's stdout or stderr, and
// returns the submatches.
func (p *recProc) waitOutput(t *testing.T, re *regexp.Regexp, limit time.Duration) []string {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(5 * time.Millisecond) {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			return m
		}
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before saying %v\nstdout:\n%s\nstderr:\n%s", p.name, p.err, re, p.stdout.String(), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not say %v within %v\nstdout:\n%s\nstderr:\n%s", p.name, re, limit, p.stdout.String(), p.stderr.String())
		}
	}
}

// waitReading waits until the process has read n bytes (/proc/PID/io's
// rchar): a subscriber that has, is receiving its feed.
func (p *recProc) waitReading(t *testing.T, n uint64, limit time.Duration) {
	t.Helper()
	var read uint64
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", p.cmd.Process.Pid))
		if err != nil {
			t.Fatalf("%s: %v (exited: %v)\nstderr:\n%s", p.name, err, p.err, p.stderr.String())
		}
		if m := regexp.MustCompile(`(?m)^rchar: (\d+)$`).FindSubmatch(b); m != nil {
			read, _ = strconv.ParseUint(string(m[1]), 10, 64)
		}
		if read >= n {
			return
		}
	}
	t.Fatalf("%s read %d bytes in %v, want %d: no feed\nstderr:\n%s", p.name, read, limit, n, p.stderr.String())
}

var recPublished = regexp.MustCompile(`published ([\d,]+) ticks in ([\d,]+) messages \(([\d,]+) bytes\)`)

// published returns what pub said it published, once it has said it (at
// the end of its session, before its recovery service's linger).
func (p *recProc) published(t *testing.T, limit time.Duration) uint64 {
	t.Helper()
	m := p.waitOutput(t, recPublished, limit)
	n, _ := strconv.ParseUint(strings.ReplaceAll(m[1], ",", ""), 10, 64)
	return n
}

// recSummary is the last line of sub --json: what a subscriber got.
type recSummary struct {
	Received    uint64 `json:"received"`
	Gaps        uint64 `json:"gaps"`
	Missing     uint64 `json:"missing"`
	Recovered   uint64 `json:"recovered"`
	Recoveries  uint64 `json:"recoveries"`
	Unrecovered uint64 `json:"unrecovered"`
	Sessions    uint64 `json:"sessions"`
	Ends        uint64 `json:"session_ends"`
	Lines       []struct {
		Endpoint      string `json:"endpoint"`
		State         string `json:"state"`
		LineMissing   uint64 `json:"line_missing"`
		TransportLoss uint64 `json:"transport_loss"`
		Disconnects   uint64 `json:"disconnects"`
		Stale         uint64 `json:"stale"`
	} `json:"lines"`

	raw string // the line itself, for failure messages
}

// summary waits for a subscriber to exit and returns its summary.
func (p *recProc) summary(t *testing.T, limit time.Duration) recSummary {
	t.Helper()
	p.wait(t, limit)
	out := strings.TrimSpace(p.stdout.String())
	last := out[strings.LastIndexByte(out, '\n')+1:]
	var s recSummary
	if err := json.Unmarshal([]byte(last), &s); err != nil || !strings.Contains(last, `"type":"summary"`) {
		t.Fatalf("%s: the last line is not a summary (%v): %q\nstderr:\n%s", p.name, err, last, lastLines(p.stderr.String(), 30))
	}
	s.raw = last
	return s
}

// String shows the counts that matter, then the whole summary.
func (s recSummary) String() string {
	line := ""
	for _, l := range s.Lines {
		line += fmt.Sprintf("; line %s %s, lost %d ticks, transport loss %d, stale %d, disconnects %d",
			l.Endpoint, l.State, l.LineMissing, l.TransportLoss, l.Stale, l.Disconnects)
	}
	return fmt.Sprintf("received %d, gaps %d, missing %d, recovered %d in %d replies, unrecovered %d, sessions %d, ends %d%s\n  %s",
		s.Received, s.Gaps, s.Missing, s.Recovered, s.Recoveries, s.Unrecovered, s.Sessions, s.Ends, line, s.raw)
}

// recWaitBound waits until n UDP sockets are bound to port in h's
// namespace: the receivers there are up (and have joined their group).
func recWaitBound(t *testing.T, h *netns.Host, port, n int) {
	t.Helper()
	var out []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		out, err = exec.Command("ip", "netns", "exec", h.Name, "ss", "-Hnua", fmt.Sprintf("sport = :%d", port)).Output()
		if err != nil {
			t.Fatalf("ss in %s: %v", h.Name, err)
		}
		if strings.Count(strings.TrimSpace(string(out)), "\n")+1 >= n && len(bytes.TrimSpace(out)) > 0 {
			return
		}
	}
	t.Fatalf("%s: want %d sockets on UDP port %d, have:\n%s", h.Name, n, port, out)
}

var recCounter = regexp.MustCompile(`counter packets (\d+)`)

// recOutage makes h's kernel drop, on input, every UDP datagram to port
// (all of EPGM: ODATA, RDATA, SPM, NCF) for d, then lifts the drop, and
// returns how many datagrams it dropped. The rule lives in a table of its
// own in h's namespace, deleted on the way out whatever happens (and the
// namespace with the test).
func recOutage(t *testing.T, h *netns.Host, port int, d time.Duration) uint64 {
	t.Helper()
	const table = "recovery_outage"
	nft := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", h.Name, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %s in %s: %v\n%s", strings.Join(args, " "), h.Name, err, out)
		}
		return string(out)
	}
	lift := func() { exec.Command("ip", "netns", "exec", h.Name, "nft", "delete", "table", "ip", table).Run() }
	defer lift()
	t.Cleanup(lift) // in case the test ends while this runs
	nft("add", "table", "ip", table)
	nft("add", "chain", "ip", table, "in", "{ type filter hook input priority -10; }")
	nft("add", "rule", "ip", table, "in", "udp", "dport", fmt.Sprint(port), "counter", "drop")
	time.Sleep(d)
	m := recCounter.FindStringSubmatch(nft("list", "chain", "ip", table, "in"))
	nft("delete", "table", "ip", table)
	if m == nil {
		t.Fatalf("no counter in the outage rule")
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// outageFeed describes an EPGM outage test.
type outageFeed struct {
	subnet    string        // of the LAN: 10.x.y
	service   bool          // a standalone recovery service on a host of its own; else the publisher's
	retention string        // the service's --retention ("": the default)
	duration  time.Duration // of the feed
	outage    time.Duration // of the subscriber host's network
	plain     bool          // also a subscriber without recovery
}

// outageResult is what came of it.
type outageResult struct {
	published   uint64 // ticks, by the publisher's count
	dropped     uint64 // datagrams the subscriber host's kernel dropped
	rec, plain  recSummary
	pub, server *recProc
}

// runOutage runs the feed: subscribers (and the standalone service) first,
// then the publisher, then the outage, mid-feed.
func runOutage(t *testing.T, c outageFeed) outageResult {
	t.Helper()
	netns.Need(t)
	bin := buildTickcast(t)
	hosts := 2
	if c.service {
		hosts = 3
	}
	lan := netns.NewLAN(t, hosts, c.subnet)
	pubHost, subHost := lan.Hosts[0], lan.Hosts[1]
	port := 30_000 + rand.IntN(20_000)
	group := fmt.Sprintf("239.192.79.%d", 1+rand.IntN(250))
	line := func(h *netns.Host) string { return fmt.Sprintf("epgm://%s;%s:%d", h.IP, group, port) }
	pgm := []string{"--pgm-recovery", recPGMWindow}
	var retention []string
	if c.retention != "" {
		retention = []string{"--retention", c.retention}
	}

	var r outageResult
	recEP := fmt.Sprintf("tcp://%s:%d", pubHost.IP, recListenPort)
	if c.service {
		svcHost := lan.Hosts[2]
		recEP = fmt.Sprintf("tcp://%s:%d", svcHost.IP, recListenPort)
		r.server = recStart(t, svcHost, "recovery", append(append([]string{bin, "recovery", "--from", line(svcHost),
			"--listen", recEP}, retention...), pgm...)...)
		r.server.waitOutput(t, regexp.MustCompile(`answering on`), 20*time.Second)
		recWaitBound(t, svcHost, port, 1)
	}
	subArgs := func(rec bool) []string {
		a := []string{bin, "sub", "--endpoint", line(subHost), "--until-end", "--json", "--quiet", "--timeout", "30s"}
		if rec {
			a = append(a, "--recovery", recEP)
		}
		return append(a, pgm...)
	}
	withRec := recStart(t, subHost, "sub --recovery", subArgs(true)...)
	subs := 1
	var plain *recProc
	if c.plain {
		plain = recStart(t, subHost, "sub", subArgs(false)...)
		subs++
	}
	recWaitBound(t, subHost, port, subs)

	pubArgs := []string{bin, "pub", "--endpoint", line(pubHost), "--rate", fmt.Sprint(recRate), "--duration", c.duration.String(),
		"--symbols", fmt.Sprint(recSymbols), "--delay", recDelay.String(), "--recovery-linger", "10s"}
	if !c.service {
		pubArgs = append(append(pubArgs, "--recovery", recEP), retention...)
	}
	r.pub = recStart(t, pubHost, "pub", append(pubArgs, pgm...)...)
	// pub says so just before its --delay.
	r.pub.waitOutput(t, regexp.MustCompile(`publishing \d+ symbols`), 20*time.Second)
	time.Sleep(recDelay + recLead)
	r.dropped = recOutage(t, subHost, port, c.outage)

	limit := c.duration + time.Minute
	r.published = r.pub.published(t, limit)
	t.Logf("published %d ticks; the subscriber host dropped %d datagrams in %v", r.published, r.dropped, c.outage)
	r.rec = withRec.summary(t, limit)
	t.Logf("sub --recovery: %s", r.rec)
	if plain != nil {
		r.plain = plain.summary(t, limit)
		t.Logf("sub: %s", r.plain)
	}
	// The subscribers are done: the publisher's service need not linger.
	r.pub.cmd.Process.Signal(syscall.SIGTERM)
	r.pub.wait(t, time.Minute)
	if r.server != nil {
		r.server.cmd.Process.Signal(syscall.SIGTERM)
		r.server.wait(t, time.Minute)
	}
	if r.dropped == 0 {
		t.Fatalf("the outage dropped nothing: the feed was not running during it\npub:\n%s", r.pub.stderr.String())
	}
	return r
}

// checkComplete checks that a subscriber with recovery got every tick
// published, recovering what the outage took.
func checkComplete(t *testing.T, r outageResult) {
	t.Helper()
	s := r.rec
	checkEnded(t, "sub --recovery", s)
	if s.Missing != 0 || s.Gaps != 0 || s.Unrecovered != 0 {
		t.Errorf("sub --recovery reports %d gaps, %d missing, %d unrecovered: want none: %s", s.Gaps, s.Missing, s.Unrecovered, s)
	}
	if s.Recovered == 0 {
		t.Errorf("sub --recovery recovered nothing: the outage did not reach it: %s", s)
	}
	if s.Received != r.published {
		t.Errorf("sub --recovery received %d ticks, %d were published: %s", s.Received, r.published, s)
	}
}

// checkEnded checks that a subscriber saw the one session, to its end.
func checkEnded(t *testing.T, who string, s recSummary) {
	t.Helper()
	if s.Sessions == 1 && s.Ends == 1 {
		return
	}
	why := ""
	if len(s.Lines) == 1 && s.Lines[0].State != "ended" {
		why = fmt.Sprintf(" (its line is %s at the end, not ended: did the feed ever come back after the outage?)", s.Lines[0].State)
	}
	t.Errorf("%s saw %d sessions and %d ends, want the one session to its end%s: %s", who, s.Sessions, s.Ends, why, s)
}

// checkAccounted checks that a subscriber reported as missing exactly the
// ticks published that it did not receive, and that it did miss some.
func checkAccounted(t *testing.T, who string, s recSummary, published uint64) {
	t.Helper()
	checkEnded(t, who, s)
	if s.Missing == 0 || s.Gaps == 0 {
		t.Errorf("%s reports no loss (%d gaps, %d missing) after the outage: %s", who, s.Gaps, s.Missing, s)
	}
	if s.Received+s.Missing != published {
		t.Errorf("%s: received %d + missing %d = %d, published %d: %d ticks unaccounted for: %s", who, s.Received, s.Missing,
			s.Received+s.Missing, published, int64(published)-int64(s.Received+s.Missing), s)
	}
}

// The publisher's own recovery service fills a 1.5 s outage of the
// subscriber host's network, beyond PGM's 20 ms window: the subscriber with
// --recovery gets every tick, the one without reports exactly what it lost.
func TestRecoverEPGMOutageFromPublisher(t *testing.T) {
	r := runOutage(t, outageFeed{subnet: "10.79.1", duration: 4 * time.Second, outage: 1500 * time.Millisecond, plain: true})
	checkComplete(t, r)
	checkAccounted(t, "sub (no recovery)", r.plain, r.published)
}

// The same outage filled by a standalone recovery service on a third host
// of the LAN, which reads the feed itself and is not subject to the drop.
func TestRecoverEPGMOutageFromStandaloneService(t *testing.T) {
	r := runOutage(t, outageFeed{subnet: "10.79.2", service: true, duration: 4 * time.Second, outage: 1500 * time.Millisecond, plain: true})
	checkComplete(t, r)
	checkAccounted(t, "sub (no recovery)", r.plain, r.published)
	if !strings.Contains(r.server.stdout.String(), "replays") {
		t.Errorf("the recovery service said: %s", r.server.stdout.String())
	}
	t.Logf("recovery: %s", strings.TrimSpace(r.server.stdout.String()))
}

// A 3 s outage with 1 s of retention: the service has evicted the start of
// the hole when the subscriber asks. What it still holds may be recovered;
// the rest is reported missing, exactly: nothing is lost silently.
func TestRecoverBeyondRetentionIsReportedExactly(t *testing.T) {
	r := runOutage(t, outageFeed{subnet: "10.79.3", retention: "1s", duration: 5500 * time.Millisecond, outage: 3 * time.Second})
	s := r.rec
	checkAccounted(t, "sub --recovery", s, r.published)
	// How much of the hole the service still holds when it is asked
	// depends on how fast the requests go (the retention slides on
	// meanwhile): only the ticks it could not give are counted on.
	if s.Unrecovered == 0 {
		t.Errorf("sub --recovery: nothing unrecovered (retention 1s, outage 3s): %s", s)
	}
	if s.Unrecovered != s.Missing {
		// Every hole was asked for: what is missing is what the service
		// could not give.
		t.Errorf("sub --recovery: %d missing, of which %d asked for and not recovered: want all asked for: %s", s.Missing, s.Unrecovered, s)
	}
}

// Over TCP, a subscriber that stops reading for a while (stopped with
// SIGSTOP: its socket buffers fill, then the publisher's high-water mark of
// 100 messages drops what is published for it) gets back, from the
// publisher's recovery service, everything that was dropped.
func TestRecoverWhatASlowTCPSubscriberWasDropped(t *testing.T) {
	bin := buildTickcast(t)
	pub := recStart(t, nil, "pub", bin, "pub", "--endpoint", "tcp://127.0.0.1:0", "--recovery", "tcp://127.0.0.1:0",
		"--hwm", "100", "--rate", "200000", "--duration", "4s", "--symbols", "10", "--subscribers", "1",
		"--recovery-linger", "10s")
	m := pub.waitOutput(t, regexp.MustCompile(`serving recovery on (tcp://127\.0\.0\.1:\d+)[\s\S]*publishing .* to \[(tcp://127\.0\.0\.1:\d+)\]`), 20*time.Second)
	rec, feed := m[1], m[2]
	sub := recStart(t, nil, "sub --recovery", bin, "sub", "--endpoint", feed, "--recovery", rec,
		"--until-end", "--json", "--quiet", "--timeout", "30s")
	sub.waitReading(t, 1<<20, 20*time.Second) // the feed flows
	if err := sub.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := sub.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	published := pub.published(t, time.Minute)
	s := sub.summary(t, time.Minute)
	pub.cmd.Process.Signal(syscall.SIGTERM) // in its linger
	pub.wait(t, time.Minute)
	dropped := regexp.MustCompile(`([\d,]+) message copies dropped for slow subscribers`).FindStringSubmatch(pub.stdout.String())
	t.Logf("published %d ticks; pub: %s", published, strings.TrimSpace(pub.stdout.String()))
	t.Logf("sub --recovery: %s", s)
	if dropped == nil || dropped[1] == "0" {
		t.Fatalf("the publisher dropped nothing for the stopped subscriber: nothing to recover\npub:\n%s", pub.stdout.String())
	}
	checkComplete(t, outageResult{published: published, rec: s})
}

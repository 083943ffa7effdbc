package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tickcast/tickcast/internal/market"
	"github.com/tickcast/tickcast/internal/netns"
	"github.com/tickcast/tickcast/schema"
)

// The multi-host test: a publisher host and three subscriber hosts,
// network namespaces on one bridge, the feed on two multicast lines (A/B,
// EPGM). The real binaries run in them: tickcast pub on the publisher host,
// tickcast sub --json on each subscriber host, each with its own prefix.
// The subscriber hosts' kernels lose packets, with nftables:
//
//	host 1 (prefix "A"): line A loses every 5th ODATA and every repair:
//	                     loss PGM cannot repair, on one line; B must mask it.
//	host 2 (prefix "M"): line A every 7th ODATA, line B every 11th, no
//	                     repairs on either: what both lose is gone, and
//	                     must be reported exactly.
//	host 3 (everything): no loss.
//
// Each subscriber's ticks are checked against the simulated market the
// publisher ran (deterministic for its seed): for every topic of its
// prefix, the ticks delivered and the gaps reported are together exactly
// the ticks published, each once, in order, with the right contents.

// buildTickcast builds the command line into a temporary directory.
func buildTickcast(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tickcast")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/tickcast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// subOutput is what tickcast sub --json printed.
type subOutput struct {
	ticks   map[string][]tickLine
	gaps    map[string][]seqRange
	summary map[string]any
	lineUps int
}

type tickLine struct {
	Type  string
	Topic string
	Seq   uint64
	Kind  string
	Price json.Number
	Size  json.Number

	Expected, Received uint64 // a gap
}

func parseSub(t *testing.T, out []byte) subOutput {
	t.Helper()
	o := subOutput{ticks: map[string][]tickLine{}, gaps: map[string][]seqRange{}}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var tl tickLine
		if err := json.Unmarshal(sc.Bytes(), &tl); err != nil {
			t.Fatalf("sub printed %q: %v", sc.Text(), err)
		}
		switch tl.Type {
		case "tick":
			o.ticks[tl.Topic] = append(o.ticks[tl.Topic], tl)
		case "gap":
			o.gaps[tl.Topic] = append(o.gaps[tl.Topic], seqRange{tl.Expected, tl.Received - 1})
		case "line_up":
			o.lineUps++
		case "summary":
			json.Unmarshal(sc.Bytes(), &o.summary)
		}
	}
	return o
}

// published replays the publisher's simulated market: per topic, its ticks
// in order (the publisher numbers them 1, 2, ...).
func published(symbols int, seed uint64, count int) map[string][]schema.Tick {
	m := market.New(symbols, seed)
	out := map[string][]schema.Tick{}
	for range count {
		i, tk := m.Next(0)
		sym := m.Instruments[i].Symbol
		tk.Seq = uint64(len(out[sym]) + 1)
		out[sym] = append(out[sym], tk)
	}
	return out
}

func TestMultiHostABFeed(t *testing.T) {
	netns.Need(t)
	bin := buildTickcast(t)
	lan := netns.NewLAN(t, 4, "10.78.0")
	pubHost, subHosts := lan.Hosts[0], lan.Hosts[1:]
	port := 30_000 + rand.IntN(20_000)
	portA, portB := port, port+1
	line := func(h *netns.Host, group, port int) string {
		return fmt.Sprintf("epgm://%s;239.192.78.%d:%d", h.IP, group, port)
	}
	// A small PGM window (20 Mbit/s × 250 ms, ~430 packets), so that what
	// cannot be repaired is declared lost within a fraction of a second,
	// when the source's trail passes it.
	pgm := []string{"--pgm-rate", "20000", "--pgm-recovery", "250ms"}

	subHosts[0].DropPGM(t, portA, netns.ODATA, 5)
	subHosts[0].DropPGM(t, portA, netns.RDATA, 1)
	subHosts[1].DropPGM(t, portA, netns.ODATA, 7)
	subHosts[1].DropPGM(t, portA, netns.RDATA, 1)
	subHosts[1].DropPGM(t, portB, netns.ODATA, 11)
	subHosts[1].DropPGM(t, portB, netns.RDATA, 1)

	const symbols, seed, count = 50, 7, 16_000
	pub := pubHost.Command(append([]string{bin, "pub", "--endpoint", line(pubHost, 1, portA), "--endpoint", line(pubHost, 2, portB),
		"--symbols", fmt.Sprint(symbols), "--seed", fmt.Sprint(seed), "--count", fmt.Sprint(count), "--rate", "8000",
		"--heartbeat", "100ms", "--delay", "1500ms"}, pgm...)...)
	pubOut := &strings.Builder{}
	pub.Stdout, pub.Stderr = pubOut, pubOut
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })

	prefixes := []string{"A", "M", ""}
	type result struct {
		out []byte
		err error
	}
	results := make([]chan result, len(subHosts))
	for i, h := range subHosts {
		args := append([]string{bin, "sub", "--endpoint", line(h, 1, portA), "--endpoint", line(h, 2, portB),
			"--topic", prefixes[i], "--json", "--until-end", "--timeout", "60s", "--arbitration", "200ms"}, pgm...)
		cmd := h.Command(args...)
		results[i] = make(chan result, 1)
		go func() {
			out, err := cmd.Output()
			results[i] <- result{out, err}
		}()
	}
	want := published(symbols, seed, count)
	for i, h := range subHosts {
		r := <-results[i]
		if r.err != nil {
			t.Fatalf("host %s (%q): sub: %v\npublisher said:\n%s", h.IP, prefixes[i], r.err, pubOut)
		}
		o := parseSub(t, r.out)
		checkSubscriber(t, h.IP, prefixes[i], o, want)
		gaps := o.summary["gaps"].(float64)
		lines := o.summary["lines"].([]any)
		lineLost := func(j int) float64 { return lines[j].(map[string]any)["line_missing"].(float64) }
		// A busy machine can make a receiver fall behind the small window
		// on a line with no loss injected: then PGM reports the loss it
		// could not repair, and that is the only loss allowed there.
		reported := func(j int) bool { return lines[j].(map[string]any)["transport_loss"].(float64) > 0 }
		t.Logf("host %s prefix %q: %v ticks, %v gaps (%v missing); line A lost %v, line B lost %v",
			h.IP, prefixes[i], o.summary["received"], gaps, o.summary["missing"], lineLost(0), lineLost(1))
		switch i {
		case 0: // loss on line A only, beyond repair: masked by B
			if lineLost(0) == 0 || (gaps != 0 && !reported(1)) {
				t.Errorf("host %s: line A lost %v ticks, %v gaps: want loss on A, masked completely", h.IP, lineLost(0), gaps)
			}
		case 1: // loss on both lines beyond repair: some ticks gone
			if lineLost(0) == 0 || lineLost(1) == 0 || gaps == 0 {
				t.Errorf("host %s: lines lost %v and %v, %v gaps: want loss on both, and gaps", h.IP, lineLost(0), lineLost(1), gaps)
			}
		case 2:
			if (lineLost(0) != 0 && !reported(0)) || (lineLost(1) != 0 && !reported(1)) {
				t.Errorf("host %s: loss where none was injected nor reported: %v", h.IP, o.summary)
			}
		}
	}
}

// checkSubscriber checks one subscriber's output against the market.
func checkSubscriber(t *testing.T, host, prefix string, o subOutput, want map[string][]schema.Tick) {
	t.Helper()
	for topic := range o.ticks {
		if !strings.HasPrefix(topic, prefix) {
			t.Errorf("host %s (%q): got topic %s", host, prefix, topic)
		}
	}
	topics := 0
	for topic, ticks := range want {
		if !strings.HasPrefix(topic, prefix) {
			continue
		}
		topics++
		lost := ticksIn(o.gaps[topic])
		var seen []uint64
		for _, tl := range o.ticks[topic] {
			if tl.Seq < 1 || tl.Seq > uint64(len(ticks)) {
				t.Fatalf("host %s: %s seq %d was never published", host, topic, tl.Seq)
			}
			tk := ticks[tl.Seq-1]
			if tl.Kind != tk.Kind.String() || tl.Price.String() != decimalString(tk.Price, tk.PriceExp) || tl.Size.String() != decimalString(tk.Size, tk.SizeExp) {
				t.Fatalf("host %s: %s seq %d is %s %s x %s, published %s %s x %s", host, topic, tl.Seq,
					tl.Kind, tl.Price, tl.Size, tk.Kind, decimalString(tk.Price, tk.PriceExp), decimalString(tk.Size, tk.SizeExp))
			}
			if lost[tl.Seq] {
				t.Fatalf("host %s: %s seq %d delivered and reported lost", host, topic, tl.Seq)
			}
			seen = append(seen, tl.Seq)
		}
		if !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != len(seen) {
			t.Fatalf("host %s: %s ticks out of order or repeated", host, topic)
		}
		if len(seen)+len(lost) != len(ticks) {
			var unaccounted []uint64
			got := map[uint64]bool{}
			for _, s := range seen {
				got[s] = true
			}
			for s := uint64(1); s <= uint64(len(ticks)); s++ {
				if !got[s] && !lost[s] {
					unaccounted = append(unaccounted, s)
				}
			}
			t.Fatalf("host %s: %s: %d delivered + %d reported lost != %d published: seq %v neither (gaps %v)",
				host, topic, len(seen), len(lost), len(ticks), unaccounted, o.gaps[topic])
		}
	}
	if topics == 0 {
		t.Fatalf("host %s: no published topic has prefix %q", host, prefix)
	}
}

// decimalString formats v × 10^exp as the sub command prints it.
func decimalString(v int64, exp int8) string {
	s := fmt.Sprint(v)
	if exp >= 0 {
		return s + strings.Repeat("0", int(exp))
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for len(s) <= int(-exp) {
		s = "0" + s
	}
	s = s[:len(s)-int(-exp)] + "." + s[len(s)-int(-exp):]
	if neg {
		s = "-" + s
	}
	return s
}

package interop

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/schema"
)

// buildTickcast builds the command line once per test binary.
func buildTickcast(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tickcast")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/tickcast").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestCLIAndLibzmqSeeTheSameFeed runs `tickcast pub` as a process, and on
// its endpoint `tickcast sub --topic MSFT` and a libzmq SUB on MSFT: both
// get exactly MSFT's ticks, and the same ones.
func TestCLIAndLibzmqSeeTheSameFeed(t *testing.T) {
	needLibzmq(t)
	bin := buildTickcast(t)
	pub := exec.Command(bin, "pub", "--endpoint", "tcp://127.0.0.1:0", "--symbols", "20", "--rate", "20000", "--duration", "60s")
	stderr, _ := pub.StderrPipe()
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { pub.Process.Kill(); pub.Wait() }()
	sc := bufio.NewScanner(stderr)
	sc.Scan()
	m := regexp.MustCompile(`\[(tcp://127\.0\.0\.1:\d+)\]`).FindStringSubmatch(sc.Text())
	if m == nil {
		t.Fatalf("pub said %q", sc.Text())
	}
	ep := m[1]

	lz := startPeer(t, nil, "sub", ep, "1000000000", "60", hex.EncodeToString([]byte("MSFT")))
	lz.line(t) // READY
	time.Sleep(200 * time.Millisecond)
	out, err := exec.Command(bin, "sub", "--endpoint", ep, "--topic", "MSFT", "--count", "300", "--timeout", "30s", "--json").Output()
	if err != nil {
		t.Fatalf("tickcast sub: %v", err)
	}
	var cli []uint64
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var ev struct {
			Type  string
			Topic string
			Seq   uint64
		}
		json.Unmarshal([]byte(l), &ev)
		if ev.Type == "tick" {
			if ev.Topic != "MSFT" {
				t.Fatalf("tickcast sub got topic %q", ev.Topic)
			}
			cli = append(cli, ev.Seq)
		}
	}
	if len(cli) < 300 {
		t.Fatalf("tickcast sub got %d ticks", len(cli))
	}
	// The libzmq SUB joined first: its stream must contain the CLI's ticks,
	// in order and contiguous.
	var lib []uint64
	var msg schema.Message
	for len(lib) == 0 || lib[len(lib)-1] < cli[len(cli)-1] {
		frames := lz.messages(t, 1)[0]
		if string(frames[0]) != "MSFT" {
			t.Fatalf("libzmq SUB on MSFT got topic %q", frames[0])
		}
		if err := msg.Decode(frames[1]); err != nil {
			t.Fatalf("libzmq SUB got an undecodable body: %v", err)
		}
		for i := range msg.Len() {
			lib = append(lib, msg.Tick(i).Seq)
		}
	}
	i := slices.Index(lib, cli[0])
	if i < 0 || !slices.Equal(lib[i:i+len(cli)], cli) {
		t.Fatalf("tickcast sub's %d ticks (from seq %d) are not a run of the libzmq SUB's %d", len(cli), cli[0], len(lib))
	}
}

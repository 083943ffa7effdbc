package interop

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Two hosts on one machine: network namespaces joined by a veth pair, the
// publisher host 10.77.0.1 and the subscriber host 10.77.0.2, made by the
// test and deleted after it, even when it fails. The subscriber host's
// kernel drops packets with nftables (every Nth ODATA, as
// shared/fixtures/pgm/capture-2host.sh does), so repairs cross a real
// network stack: NAKs unicast from B to A, NCFs and RDATA multicast back.
// Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); skipped without it, failed
// under CI.

type twoHosts struct {
	pub, sub       string // namespace names
	pubIP, subIP   string
	pubDev, subDev string
}

func needRoot(t *testing.T) {
	t.Helper()
	msg := ""
	switch {
	case os.Geteuid() != 0:
		msg = "the two-host tests need root (network namespaces, nftables)"
	default:
		for _, tool := range []string{"ip", "nft"} {
			if _, err := exec.LookPath(tool); err != nil {
				msg = fmt.Sprintf("the two-host tests need %s: apt-get install iproute2 nftables", tool)
			}
		}
	}
	if msg == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newTwoHosts makes the two namespaces and the link between them.
func newTwoHosts(t *testing.T) *twoHosts {
	t.Helper()
	needRoot(t)
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, time.Now().UnixNano()%1000)
	h := &twoHosts{pub: "tcpa" + id, sub: "tcpb" + id, pubIP: "10.77.0.1", subIP: "10.77.0.2",
		pubDev: "tva" + id, subDev: "tvb" + id}
	run(t, "ip", "netns", "add", h.pub)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", h.pub).Run() })
	run(t, "ip", "netns", "add", h.sub)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", h.sub).Run() })
	run(t, "ip", "link", "add", h.pubDev, "netns", h.pub, "type", "veth", "peer", "name", h.subDev, "netns", h.sub)
	run(t, "ip", "-n", h.pub, "addr", "add", h.pubIP+"/24", "dev", h.pubDev)
	run(t, "ip", "-n", h.sub, "addr", "add", h.subIP+"/24", "dev", h.subDev)
	for _, ns := range []string{h.pub, h.sub} {
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", h.pub, "link", "set", h.pubDev, "up")
	run(t, "ip", "-n", h.sub, "link", "set", h.subDev, "up")
	return h
}

// dropEveryODATA makes the subscriber host drop every nth ODATA to port on
// input (the 1st, the n+1th, ...), and all RDATA too if rdata. For EPGM the
// port is the UDP port; for raw PGM (network "pgm") it is the PGM header's
// data-destination port.
func (h *twoHosts) dropEveryODATA(t *testing.T, network string, port, n int, rdata bool) {
	t.Helper()
	nft := func(args ...string) { run(t, append([]string{"ip", "netns", "exec", h.sub, "nft"}, args...)...) }
	nft("add", "table", "ip", "lossy")
	nft("add", "chain", "ip", "lossy", "in", "{ type filter hook input priority 0; }")
	// The PGM type byte: @th,96,8 after the 8 bytes of a UDP header, or
	// @th,32,8 in a raw PGM header, whose dport is @th,16,16.
	match := []string{"udp", "dport", fmt.Sprint(port), "@th,96,8"}
	if network == "pgm" {
		match = []string{"ip", "protocol", "113", "@th,16,16", fmt.Sprint(port), "@th,32,8"}
	}
	nft(append(append([]string{"add", "rule", "ip", "lossy", "in"}, match...), "0x04",
		"numgen", "inc", "mod", fmt.Sprint(n), "0", "counter", "drop")...)
	if rdata {
		nft(append(append([]string{"add", "rule", "ip", "lossy", "in"}, match...), "0x05", "counter", "drop")...)
	}
}

// startIn starts a command inside a namespace (none: "", this one),
// collecting its output lines on peer.lines and its stderr for failure
// messages; the test kills it when it ends.
func startIn(t *testing.T, ns string, env []string, args ...string) *peer {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	if ns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	}
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{cmd: cmd, lines: make(chan string, 1<<16), errb: &lockedBuffer{}}
	cmd.Stderr = p.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return p
}

// helper starts this test binary's TestHelperProcess in a namespace.
func helper(t *testing.T, ns string, env ...string) *peer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return startIn(t, ns, append(env, "GOMAXPROCS=2"), exe, "-test.run=^TestHelperProcess$", "-test.v=false")
}

// pythonIn starts libzmq_peer.py in a namespace.
func pythonIn(t *testing.T, ns string, env []string, args ...string) *peer {
	t.Helper()
	return startIn(t, ns, env, append([]string{python, filepath.Join("testdata", "libzmq_peer.py")}, args...)...)
}

// expectLine waits for a line with the given first word.
func expectLine(t *testing.T, p *peer, word string) string {
	t.Helper()
	for {
		l := p.line(t)
		if strings.HasPrefix(l, word) {
			return l
		}
		if strings.HasPrefix(l, "ERROR") {
			t.Fatalf("peer: %s", l)
		}
	}
}

package bench

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// mcastGroup is the multicast group of epgm and pgm runs (administratively
// scoped, never routed off the machine), always with a named interface.
const mcastGroup = "239.192.77.1"

// network is where a run's processes talk: loopback, or two network
// namespaces this harness made.
type network struct {
	pubHost   string   // the publisher binds (tcp) or sends from (multicast) here
	subHost   string   // the subscribers' interface (multicast)
	pubPrefix []string // command prefix that runs a process in the publisher's namespace
	subPrefix []string
	teardown  func()
	dropped   func() int64 // packets dropped on purpose so far; -1: not known
}

func localNet(iface string) *network {
	return &network{pubHost: "127.0.0.1", subHost: iface, teardown: func() {}, dropped: func() int64 { return -1 }}
}

// multicastIface is the interface multicast endpoints name on this side.
func (n *network) multicastIface(pub bool) string {
	if n.pubPrefix == nil { // loopback: the configured interface
		return n.subHost
	}
	if pub {
		return n.pubHost
	}
	return n.subHost
}

// bindEndpoint is the endpoint the publisher binds: an ephemeral port, a
// socket in the run's directory, or a multicast group on a named interface.
func (n *network) bindEndpoint(transport, dir string, seq int) string {
	switch transport {
	case "ipc":
		return "ipc://" + filepath.Join(dir, "feed.sock")
	case "epgm", "pgm":
		return fmt.Sprintf("%s://%s;%s:%d", transport, n.multicastIface(true), mcastGroup, mcastPort(seq))
	}
	return "tcp://" + n.pubHost + ":0"
}

// connectEndpoint is the endpoint subscribers connect to, given the one
// the publisher reported.
func (n *network) connectEndpoint(transport, listening string) string {
	switch transport {
	case "epgm", "pgm":
		var port int
		if i := bytes.LastIndexByte([]byte(listening), ':'); i >= 0 {
			port, _ = strconv.Atoi(listening[i+1:])
		}
		return fmt.Sprintf("%s://%s;%s:%d", transport, n.multicastIface(false), mcastGroup, port)
	}
	return listening
}

// mcastPort is a port per run, so a late packet of one run is never
// taken for the next one's.
func mcastPort(seq int) int { return 17000 + seq%1000 }

// The loss scenario's two namespaces are joined by a veth pair with
// addresses from 198.18.0.0/15, the range RFC 2544 sets aside for
// benchmarking: they exist only inside namespaces the harness makes and
// deletes.
const (
	lossPubAddr = "198.18.0.1"
	lossSubAddr = "198.18.0.2"
)

// canMakeNetns says, as an errSkip, why the loss scenario cannot run here.
func canMakeNetns() error {
	if os.Geteuid() != 0 {
		return skipf("the loss scenario needs root (network namespaces and nftables): skipped")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return skipf("the loss scenario needs %s (apt-get install iproute2 nftables): skipped", tool)
		}
	}
	return nil
}

// setupLossNet makes two network namespaces joined by a veth pair, with
// nftables in the subscribers' namespace dropping the given fraction of the
// packets that arrive from the publisher's.
//
// The drop is on the receiving side's input, as a lossy network would
// drop them: a packet dropped on the sender's output makes its send system
// call fail (EPERM), and OpenPGM (libzmq) then sends it again, so a drop
// there is not a loss for every implementation alike.
func setupLossNet(ctx context.Context, drop float64, logger *slog.Logger) (*network, error) {
	if err := canMakeNetns(); err != nil {
		return nil, err
	}
	id := fmt.Sprintf("tcb%d", os.Getpid()%1_000_000)
	nsPub, nsSub := id+"p", id+"s"
	vPub, vSub := id+"a", id+"b" // interface names: at most 15 bytes
	sh := func(stdin string, argv ...string) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		if stdin != "" {
			cmd.Stdin = bytes.NewBufferString(stdin)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("bench: loss network: %v: %w: %s", argv, err, bytes.TrimSpace(out))
		}
		return nil
	}
	teardown := func() {
		for _, ns := range []string{nsPub, nsSub} {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	}
	teardown() // what a killed earlier run of this pid may have left
	per := int64(drop * 1_000_000)
	rules := fmt.Sprintf(`table inet tickcast_bench {
	chain in {
		type filter hook input priority 0; policy accept;
		iifname %q ip saddr %s numgen random mod 1000000 < %d counter drop
	}
}
`, vSub, lossPubAddr, per)
	steps := []struct {
		stdin string
		argv  []string
	}{
		{"", []string{"ip", "netns", "add", nsPub}},
		{"", []string{"ip", "netns", "add", nsSub}},
		{"", []string{"ip", "link", "add", "name", vPub, "netns", nsPub, "type", "veth", "peer", "name", vSub, "netns", nsSub}},
		{"", []string{"ip", "-n", nsPub, "addr", "add", lossPubAddr + "/30", "dev", vPub}},
		{"", []string{"ip", "-n", nsSub, "addr", "add", lossSubAddr + "/30", "dev", vSub}},
		{"", []string{"ip", "-n", nsPub, "link", "set", "lo", "up"}},
		{"", []string{"ip", "-n", nsSub, "link", "set", "lo", "up"}},
		{"", []string{"ip", "-n", nsPub, "link", "set", vPub, "up"}},
		{"", []string{"ip", "-n", nsSub, "link", "set", vSub, "up"}},
		// Multicast (epgm, pgm) leaves by the veth, never by a default route.
		{"", []string{"ip", "-n", nsPub, "route", "add", "224.0.0.0/4", "dev", vPub}},
		{"", []string{"ip", "-n", nsSub, "route", "add", "224.0.0.0/4", "dev", vSub}},
		{rules, []string{"ip", "netns", "exec", nsSub, "nft", "-f", "-"}},
	}
	for _, st := range steps {
		if err := sh(st.stdin, st.argv...); err != nil {
			teardown()
			return nil, err
		}
	}
	logger.Info("bench: loss network up", "pub_ns", nsPub, "sub_ns", nsSub, "drop", drop)
	return &network{
		pubHost: lossPubAddr, subHost: lossSubAddr,
		pubPrefix: []string{"ip", "netns", "exec", nsPub},
		subPrefix: []string{"ip", "netns", "exec", nsSub},
		teardown:  teardown,
		dropped:   func() int64 { return nftDropped(nsSub) },
	}, nil
}

var nftCounter = regexp.MustCompile(`counter packets (\d+)`)

// nftDropped reads the drop rule's counter.
func nftDropped(ns string) int64 {
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "chain", "inet", "tickcast_bench", "in").Output()
	if err != nil {
		return -1
	}
	m := nftCounter.FindSubmatch(out)
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

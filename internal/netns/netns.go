// Package netns makes test networks out of Linux network namespaces: hosts
// on a LAN (a bridge), each with its own kernel network stack, firewall and
// addresses, created by a test and deleted after it. Traffic between them
// never leaves the machine. It needs root; tests skip without it, and fail
// under CI (CI=true), where it must be there.
package netns

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Need skips t unless it can make namespaces (root, ip, nft); under CI it
// fails t instead.
func Need(t testing.TB) {
	t.Helper()
	msg := ""
	if os.Geteuid() != 0 {
		msg = "network namespaces need root"
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg = fmt.Sprintf("network namespaces need %s: apt-get install iproute2 nftables", tool)
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

// Host is one namespace on the LAN.
type Host struct {
	Name string // the namespace
	IP   string // its address on the LAN
	Dev  string // its interface on the LAN
}

// LAN is a bridge joining hosts.
type LAN struct {
	Hosts []*Host
}

// run runs a command, failing t on error.
func run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// NewLAN makes n hosts, subnet.1 to subnet.n (subnet like "10.78.0"), on a
// bridge in a namespace of its own. The bridge floods multicast to every
// host (no IGMP snooping: there is no querier). Everything is deleted when
// the test ends.
func NewLAN(t testing.TB, n int, subnet string) *LAN {
	t.Helper()
	Need(t)
	id := fmt.Sprintf("%04d%03d", os.Getpid()%10000, time.Now().UnixNano()%1000)
	sw := "tcsw" + id
	run(t, "ip", "netns", "add", sw)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", sw).Run() })
	run(t, "ip", "-n", sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	run(t, "ip", "-n", sw, "link", "set", "br0", "up")
	lan := &LAN{}
	for i := 1; i <= n; i++ {
		h := &Host{Name: fmt.Sprintf("tch%d%s", i, id), IP: fmt.Sprintf("%s.%d", subnet, i), Dev: "eth0"}
		port := fmt.Sprintf("p%d", i)
		run(t, "ip", "netns", "add", h.Name)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", h.Name).Run() })
		run(t, "ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", h.Dev, "netns", h.Name)
		run(t, "ip", "-n", sw, "link", "set", port, "master", "br0", "up")
		run(t, "ip", "-n", h.Name, "addr", "add", h.IP+"/24", "dev", h.Dev)
		run(t, "ip", "-n", h.Name, "link", "set", h.Dev, "up")
		run(t, "ip", "-n", h.Name, "link", "set", "lo", "up")
		lan.Hosts = append(lan.Hosts, h)
	}
	return lan
}

// Command returns a command that runs inside the host's namespace.
func (h *Host) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.Name}, args...)...)
}

// PGM packet types, as nftables sees the byte.
const (
	ODATA = 0x04
	RDATA = 0x05
)

// DropPGM makes the host's kernel drop, on input, PGM packets of type typ
// carried in UDP to port (EPGM): every nth one (the 1st, the n+1th, ...),
// or all of them with n = 1.
func (h *Host) DropPGM(t testing.TB, port int, typ byte, n int) {
	t.Helper()
	nft := func(args ...string) { run(t, append([]string{"ip", "netns", "exec", h.Name, "nft"}, args...)...) }
	if exec.Command("ip", "netns", "exec", h.Name, "nft", "list", "table", "ip", "loss").Run() != nil {
		nft("add", "table", "ip", "loss")
		nft("add", "chain", "ip", "loss", "in", "{ type filter hook input priority 0; }")
	}
	// @th,96,8 is the byte 12 bytes into the transport header: past UDP's
	// 8 bytes, byte 4 of the PGM header, its type.
	nft("add", "rule", "ip", "loss", "in", "udp", "dport", fmt.Sprint(port), "@th,96,8", fmt.Sprintf("0x%02x", typ),
		"numgen", "inc", "mod", fmt.Sprint(n), "0", "counter", "drop")
}

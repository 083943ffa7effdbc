package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tickcast/tickcast/pgm/wire"
)

// The soak tests: a live feed, tickcast pub and tickcast sub as separate
// processes on loopback, while attackers run beside them for the whole
// feed, as a hostile program on the same LAN would (issue "Hardening II").
// The subscriber's accounting must stay exact (every tick published is
// received or reported missing), it must receive nearly everything, and
// the attacked publisher's memory must stay bounded.
//
// The bound on the publisher's peak RSS is soakMaxRSS: the publisher's own
// queue (2^20 ticks, 40 MB at most, twice), its sinks' queues (each
// subscriber up to 16 MiB, but the non-reading ones below are held far
// lower by the total cap and the cut-offs), the PGM transmit window, and
// the Go runtime.
const soakMaxRSS = 300 << 20

// soak runs tickcast pub on endpoint at rate for d while attack runs,
// and tickcast sub on it, and checks what they say.
func soak(t *testing.T, endpoint string, rate int, d time.Duration, attack func(stop <-chan struct{}, pubPID int)) {
	bin := buildTickcast(t)
	sub := exec.Command(bin, "sub", "--endpoint", endpoint, "--quiet", "--json", "--until-end", "--timeout", "60s")
	var subOut, subErr bytes.Buffer
	sub.Stdout, sub.Stderr = &subOut, &subErr
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Process.Kill(); sub.Wait() })
	pub := exec.Command(bin, "pub", "--endpoint", endpoint, "--rate", fmt.Sprint(rate), "--duration", d.String(),
		"--symbols", "50", "--delay", "700ms", "--heartbeat", "200ms")
	var pubOut, pubErr bytes.Buffer
	pub.Stdout, pub.Stderr = &pubOut, &pubErr
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(300 * time.Millisecond) // the publisher is up
		attack(stop, pub.Process.Pid)
	}()
	peak := watchPeakRSS(pub.Process.Pid, stop, &wg) // read while it runs
	done := make(chan error, 1)
	go func() { done <- pub.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pub: %v\n%s", err, pubErr.String())
		}
	case <-time.After(d + 30*time.Second):
		t.Fatalf("pub still running %v after its duration; stderr:\n%s", 30*time.Second, pubErr.String())
	}
	close(stop)
	wg.Wait()
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Wait() }()
	select {
	case err := <-subDone:
		if err != nil {
			t.Fatalf("sub: %v\n%s", err, subErr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("sub did not end")
	}

	m := regexp.MustCompile(`published ([\d,]+) ticks`).FindStringSubmatch(pubOut.String())
	if m == nil {
		t.Fatalf("pub said:\n%s\n%s", pubOut.String(), pubErr.String())
	}
	published, _ := strconv.ParseUint(strings.ReplaceAll(m[1], ",", ""), 10, 64)
	lines := strings.Split(strings.TrimSpace(subOut.String()), "\n")
	var s struct {
		Received, Missing, Implausible, Backwards uint64
		DecodeErrors                              uint64 `json:"decode_errors"`
		Ends                                      uint64 `json:"session_ends"`
		Topics                                    map[string]struct{ Received, Missing uint64 }
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("sub summary: %v: %s", err, lines[len(lines)-1])
	}
	var byTopic uint64
	for _, tt := range s.Topics {
		byTopic += tt.Received + tt.Missing
	}
	t.Logf("published %d; received %d, missing %d; implausible %d, backwards %d, decode errors %d; publisher peak RSS %d MiB",
		published, s.Received, s.Missing, s.Implausible, s.Backwards, s.DecodeErrors, peak()>>20)
	t.Logf("pub:\n%s%s", pubOut.String(), lastLines(pubErr.String(), 8))
	t.Logf("sub stderr:\n%s", lastLines(subErr.String(), 8))
	if s.Ends != 1 {
		t.Errorf("the subscriber saw %d session ends, want 1", s.Ends)
	}
	if byTopic != published || s.Received+s.Missing != published {
		t.Errorf("accounting: received %d + missing %d (by topic %d), published %d", s.Received, s.Missing, byTopic, published)
	}
	if s.Received < published*99/100 {
		t.Errorf("received %d of %d: under attack, the feed must still get through", s.Received, published)
	}
	if p := peak(); p > soakMaxRSS {
		t.Errorf("publisher peak RSS %d MiB, bound %d MiB", p>>20, soakMaxRSS>>20)
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// zmtpSub opens a raw ZMTP 3.0 connection as a SUB: what an attacker with
// libzmq, or 20 lines of Python, does.
func zmtpSub(addr string, rcvbuf int) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	if rcvbuf > 0 {
		c.(*net.TCPConn).SetReadBuffer(rcvbuf)
	}
	g := make([]byte, 64)
	g[0], g[9], g[10] = 0xff, 0x7f, 3
	copy(g[12:], "NULL")
	ready := append([]byte{0x04, 0, 5}, "READY"...)
	ready = append(ready, 11)
	ready = append(ready, "Socket-Type"...)
	ready = binary.BigEndian.AppendUint32(ready, 3)
	ready = append(ready, "SUB"...)
	ready[1] = byte(len(ready) - 2)
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(append(g, ready...)); err != nil {
		c.Close()
		return nil, err
	}
	in := make([]byte, 64+2)
	if _, err := io.ReadFull(c, in); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, make([]byte, in[65])); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// TestSoakTCPUnderAttack: while the feed runs, a PING flooder that never
// reads, a sender of endless empty frames, a subscription flooder, 200
// idle connections and five subscribers that never read, all against the
// publisher, reconnecting whenever they are cut off.
func TestSoakTCPUnderAttack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	soak(t, "tcp://"+addr, 20_000, 4*time.Second, func(stop <-chan struct{}, _ int) {
		var wg sync.WaitGroup
		defer wg.Wait()
		every := func(f func(c net.Conn)) { hostileClients(addr, 1, stop, &wg, f) }
		ping := []byte{0x04, 23, 4, 'P', 'I', 'N', 'G', 0, 100}
		ping = append(ping, make([]byte, 16)...)
		pings := bytes.Repeat(ping, 2000)
		every(func(c net.Conn) { // PINGs, never reading
			c.Write([]byte{0, 1, 1}) // subscribe to everything
			for {
				if _, err := c.Write(pings); err != nil {
					return
				}
			}
		})
		every(func(c net.Conn) { // an endless message of empty frames
			empty := bytes.Repeat([]byte{0x01, 0}, 1<<16)
			for {
				if _, err := c.Write(empty); err != nil {
					return
				}
			}
		})
		every(func(c net.Conn) { // a subscription flood
			var b []byte
			for i := range 20_000 {
				b = append(b, 0, 9, 1)
				b = binary.BigEndian.AppendUint64(b, uint64(i))
			}
			c.Write(b)
			io.Copy(io.Discard, c)
		})
		for range 5 { // subscribers that never read
			every(func(c net.Conn) {
				c.Write([]byte{0, 1, 1})
				<-stop
			})
		}
		var idle []net.Conn
		for range 200 {
			if c, err := zmtpSub(addr, 0); err == nil {
				idle = append(idle, c)
			}
		}
		<-stop
		for _, c := range idle {
			c.Close()
		}
	})
}

// pgmForger sends forged PGM packets on loopback: a raw UDP socket whose
// multicast leaves through lo.
type pgmForger struct{ fd int }

func newPGMForger(t *testing.T) *pgmForger {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptInet4Addr(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, [4]byte{127, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	return &pgmForger{fd: fd}
}

func (f *pgmForger) send(to [4]byte, port int, p []byte) {
	unix.Sendto(f.fd, p, unix.MSG_DONTWAIT, &unix.SockaddrInet4{Port: port, Addr: to})
}

// sniff joins group:port on lo and returns the first ODATA it hears.
func sniff(group [4]byte, port int, stop <-chan struct{}) (*wire.Data, bool) {
	fd, err := joinGroup(group, port, 100*time.Millisecond)
	if err != nil {
		return nil, false
	}
	defer unix.Close(fd)
	buf := make([]byte, 2048)
	for {
		select {
		case <-stop:
			return nil, false
		default:
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		var p wire.Packet
		if wire.ParsePacket(buf[:n], &p) == nil && p.Header.Type == wire.TypeODATA {
			d := p.Data
			d.Payload = nil
			return &d, true
		}
	}
}

// TestSoakEPGMUnderAttack: while the feed runs over EPGM, a forger on the
// same host sends, with the live session's TSI, ODATA 2^30 ahead, NCFs and
// SPMs far ahead, valid NAKs for every sequence number in the window (a
// repair amplification attempt), and packets of new sessions (new GSIs)
// including SPM floods.
func TestSoakEPGMUnderAttack(t *testing.T) {
	port := 30_000 + rand.IntN(20_000)
	group := [4]byte{239, 192, 79, byte(1 + port%200)}
	ep := fmt.Sprintf("epgm://127.0.0.1;%d.%d.%d.%d:%d", group[0], group[1], group[2], group[3], port)
	f := newPGMForger(t)
	soak(t, ep, 20_000, 4*time.Second, func(stop <-chan struct{}, _ int) {
		d, ok := sniff(group, port, stop)
		if !ok {
			return
		}
		tsi, lead := d.TSI, d.SQN
		rng := rand.New(rand.NewPCG(1, 2))
		app := func(p interface{ Append([]byte) ([]byte, error) }) []byte { b, _ := p.Append(nil); return b }
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			lead += 20 // the feed moves on: about 20 packets a millisecond at most here
			var pkts [][]byte
			pkts = append(pkts, app(&wire.Data{Type: wire.TypeODATA, TSI: tsi, DataPort: uint16(port), SQN: lead + 1<<30, Trail: lead, Payload: []byte("forged")}))
			ncf := wire.NAK{Type: wire.TypeNCF, TSI: tsi, DataPort: uint16(port), Source: netipLoopback, Group: netip.AddrFrom4(group)}
			ncf.SetSQNs([]uint32{lead + 20_000})
			pkts = append(pkts, app(&ncf))
			pkts = append(pkts, app(&wire.SPM{TSI: tsi, DataPort: uint16(port), SQN: uint32(rng.Uint32()), Trail: lead, Lead: lead + 1<<29, NLA: netipLoopback}))
			gsi := wire.TSI{GSI: wire.GSI{byte(i), byte(i >> 8), 9, 9, 9, 9}, SPort: 7}
			pkts = append(pkts, app(&wire.SPM{TSI: gsi, DataPort: uint16(port), SQN: 1, Trail: 0, Lead: rng.Uint32(), NLA: netipLoopback}))
			pkts = append(pkts, app(&wire.Data{Type: wire.TypeODATA, TSI: gsi, DataPort: uint16(port), SQN: rng.Uint32(), Payload: []byte("\x00\x00\x03\x00ab")}))
			for _, p := range pkts {
				f.send(group, port, p)
			}
			// NAKs to the source for what it sent: each would draw RDATA
			// to the whole group.
			nak := wire.NAK{Type: wire.TypeNAK, TSI: tsi, DataPort: uint16(port), Source: netipLoopback, Group: netip.AddrFrom4(group)}
			var sqns []uint32
			for j := range wire.MaxNAKSQNs {
				sqns = append(sqns, lead-uint32(j*3))
			}
			nak.SetSQNs(sqns)
			b := app(&nak)
			for range 4 {
				f.send([4]byte{127, 0, 0, 1}, port, b)
			}
		}
	})
}

var netipLoopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

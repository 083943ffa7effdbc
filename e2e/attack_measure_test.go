//go:build measure

package e2e

// Measurements for the record (issue "Hardening II"): each attack alone
// against a live feed, tickcast pub at 100,000 ticks/s for 10 s with a
// normal subscriber, as separate processes on loopback. For each: the
// publisher's peak RSS and CPU time, the subscriber's share of the ticks and
// its p99 latency, and over EPGM the repair traffic the attack drew, as a
// factor of the feed's own. Run with
//
//	go test -tags measure -run TestMeasureAttacks -v -timeout 30m ./e2e/
//
// (inside unshare -n, as make test runs: the traffic stays on loopback);
// TICKCAST_BIN=path runs another build of tickcast instead (an older one,
// for before/after figures).

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tickcast/tickcast/pgm/wire"
)

type measurement struct {
	peakRSS         int64
	cpu             time.Duration
	published, recv uint64
	missing         uint64
	p99             time.Duration
	odata, repair   int64 // bytes on the group
}

func measureRun(t *testing.T, bin, endpoint string, rate int, pre func(), attack func(stop <-chan struct{})) measurement {
	const d = 10 * time.Second
	sub := exec.Command(bin, "sub", "--endpoint", endpoint, "--quiet", "--json", "--until-end", "--timeout", "90s")
	var subOut bytes.Buffer
	sub.Stdout = &subOut
	sub.Start()
	defer sub.Process.Kill()
	if pre != nil {
		time.Sleep(300 * time.Millisecond) // the subscriber is up
		pre()
	}
	pub := exec.Command(bin, "pub", "--endpoint", endpoint, "--rate", fmt.Sprint(rate), "--duration", d.String(),
		"--symbols", "50", "--delay", "1s")
	var pubOut bytes.Buffer
	pub.Stdout = &pubOut
	pub.Start()
	defer pub.Process.Kill()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(300 * time.Millisecond)
		if attack != nil {
			attack(stop)
		}
	}()
	peak := watchPeakRSS(pub.Process.Pid, stop, &wg)
	pub.Wait()
	close(stop)
	wg.Wait()
	done := make(chan struct{})
	go func() { sub.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		sub.Process.Kill()
		<-done
	}
	var m measurement
	m.peakRSS = peak()
	m.cpu = pub.ProcessState.UserTime() + pub.ProcessState.SystemTime()
	if mm := regexp.MustCompile(`published ([\d,]+) ticks`).FindStringSubmatch(pubOut.String()); mm != nil {
		m.published, _ = strconv.ParseUint(strings.ReplaceAll(mm[1], ",", ""), 10, 64)
	}
	lines := strings.Split(strings.TrimSpace(subOut.String()), "\n")
	var s struct {
		Received, Missing uint64
		Latency           struct{ P99 int64 } `json:"latency_ns"`
	}
	json.Unmarshal([]byte(lines[len(lines)-1]), &s)
	m.recv, m.missing, m.p99 = s.Received, s.Missing, time.Duration(s.Latency.P99)
	return m
}

func TestMeasureAttacks(t *testing.T) {
	bin := buildTickcast(t)
	if b := os.Getenv("TICKCAST_BIN"); b != "" {
		bin = b // another build, to compare: the same attacks, the same machine
	}
	report := func(name string, m measurement) {
		amp := ""
		if m.odata > 0 {
			amp = fmt.Sprintf(", repair traffic ×%.2f of the feed's", float64(m.repair)/float64(m.odata))
		}
		t.Logf("%-34s pub peak RSS %4d MiB, CPU %5.1fs; sub received %d of %d (%.2f%%), missing %d, p99 %v%s",
			name, m.peakRSS>>20, m.cpu.Seconds(), m.recv, m.published, 100*float64(m.recv)/float64(max(m.published, 1)),
			m.missing, m.p99.Round(time.Microsecond), amp)
	}
	port := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		return ln.Addr().String()
	}
	repeat := func(addr string, n int, f func(c net.Conn, stop <-chan struct{})) func(stop <-chan struct{}) {
		return func(stop <-chan struct{}) {
			var wg sync.WaitGroup
			hostileClients(addr, n, stop, &wg, func(c net.Conn) { f(c, stop) })
			wg.Wait()
		}
	}
	tcpAttacks := []struct {
		name string
		mk   func(addr string) func(stop <-chan struct{})
	}{
		{"tcp: no attack", func(string) func(<-chan struct{}) { return nil }},
		{"tcp: PING flood, never reading", func(addr string) func(<-chan struct{}) {
			ping := append([]byte{0x04, 23, 4, 'P', 'I', 'N', 'G', 0, 100}, make([]byte, 16)...)
			pings := bytes.Repeat(ping, 2000)
			return repeat(addr, 1, func(c net.Conn, _ <-chan struct{}) {
				c.Write([]byte{0, 1, 1})
				for {
					if _, err := c.Write(pings); err != nil {
						return
					}
				}
			})
		}},
		{"tcp: 3 × endless empty frames", func(addr string) func(<-chan struct{}) {
			empty := bytes.Repeat([]byte{0x01, 0}, 1<<16)
			return repeat(addr, 3, func(c net.Conn, _ <-chan struct{}) {
				for {
					if _, err := c.Write(empty); err != nil {
						return
					}
				}
			})
		}},
		{"tcp: 30 subscribers never reading", func(addr string) func(<-chan struct{}) {
			return repeat(addr, 30, func(c net.Conn, stop <-chan struct{}) {
				c.Write([]byte{0, 1, 1})
				<-stop
			})
		}},
		{"tcp: 5,000 idle connections", func(addr string) func(<-chan struct{}) {
			return func(stop <-chan struct{}) {
				var cs []net.Conn
				for range 5000 {
					if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
						cs = append(cs, c)
					}
				}
				<-stop
				for _, c := range cs {
					c.Close()
				}
			}
		}},
		{"tcp: 150,000 SUBSCRIBEs", func(addr string) func(<-chan struct{}) {
			return repeat(addr, 1, func(c net.Conn, stop <-chan struct{}) {
				var b []byte
				for i := range 150_000 {
					b = append(b, 0, 9, 1)
					b = binary.BigEndian.AppendUint64(b, uint64(i))
				}
				c.Write(b)
				io.Copy(io.Discard, c)
			})
		}},
	}
	for _, a := range tcpAttacks {
		addr := port()
		if strings.Contains(os.Getenv("MEASURE_ONLY"), "epgm") {
			break
		}
		report(a.name, measureRun(t, bin, "tcp://"+addr, 100_000, nil, a.mk(addr)))
	}

	// EPGM.
	type pgmAttack struct {
		name   string
		rate   int  // ticks/s; 0: 100,000
		before bool // sent before the publisher starts
		mk     func(f *pgmForger, group [4]byte, port int, tsi wire.TSI, lead uint32, i int) [][]byte
		nak    bool
	}
	pgmAttacks := []pgmAttack{
		{name: "epgm: no attack"},
		{name: "epgm: one ODATA at lead+2^30", mk: func(_ *pgmForger, _ [4]byte, port int, tsi wire.TSI, lead uint32, i int) [][]byte {
			if i > 0 {
				return nil
			}
			b, _ := (&wire.Data{Type: wire.TypeODATA, TSI: tsi, DataPort: uint16(port), SQN: lead + 1<<30, Trail: lead, Payload: []byte("x")}).Append(nil)
			return [][]byte{b}
		}},
		{name: "epgm: one NCF at lead+20,000, 200 ticks/s", rate: 200, mk: func(_ *pgmForger, group [4]byte, port int, tsi wire.TSI, lead uint32, i int) [][]byte {
			if i > 0 {
				return nil
			}
			k := wire.NAK{Type: wire.TypeNCF, TSI: tsi, DataPort: uint16(port), Source: netipLoopback, Group: netip.AddrFrom4(group)}
			k.SetSQNs([]uint32{lead + 20_000})
			b, _ := k.Append(nil)
			return [][]byte{b}
		}},
		{name: "epgm: 20 forged sessions before start", before: true},
		{name: "epgm: one ODATA at lead+20,000, 200 ticks/s", rate: 200, mk: func(_ *pgmForger, _ [4]byte, port int, tsi wire.TSI, lead uint32, i int) [][]byte {
			if i > 0 {
				return nil
			}
			b, _ := (&wire.Data{Type: wire.TypeODATA, TSI: tsi, DataPort: uint16(port), SQN: lead + 20_000, Trail: lead, Payload: []byte("x")}).Append(nil)
			return [][]byte{b}
		}},
		{name: "epgm: NAK flood, 2,000/s in-window", nak: true},
	}
	for _, a := range pgmAttacks {
		p := 30_000 + rand.IntN(20_000)
		group := [4]byte{239, 192, 80, byte(1 + p%200)}
		ep := fmt.Sprintf("epgm://127.0.0.1;%d.%d.%d.%d:%d", group[0], group[1], group[2], group[3], p)
		f := newPGMForger(t)
		var odata, repair atomic.Int64
		var pre func()
		if a.before {
			pre = func() {
				for i := range 20 {
					b, _ := (&wire.Data{Type: wire.TypeODATA, TSI: wire.TSI{GSI: wire.GSI{5, 5, 5, 5, 5, byte(i)}, SPort: 3},
						DataPort: uint16(p), SQN: 1, Payload: []byte("\x00\x00\x03\x00ab")}).Append(nil)
					f.send(group, p, b)
				}
			}
		}
		attack := func(stop <-chan struct{}) {
			// Count the traffic on the group, and learn the live TSI.
			fd, err := joinGroup(group, p, 20*time.Millisecond)
			if err != nil {
				t.Error(err)
				return
			}
			defer unix.Close(fd)
			buf := make([]byte, 2048)
			var tsi wire.TSI
			var lead uint32
			known := false
			sent := 0
			last := time.Now()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, _, err := unix.Recvfrom(fd, buf, 0)
				if err == nil {
					var pk wire.Packet
					if wire.ParsePacket(buf[:n], &pk) == nil {
						switch pk.Header.Type {
						case wire.TypeODATA:
							odata.Add(int64(n))
							if !known || pk.Data.TSI == tsi {
								tsi, known = pk.Data.TSI, true
								lead = max(lead, pk.Data.SQN)
							}
						case wire.TypeRDATA, wire.TypeNCF:
							repair.Add(int64(n))
						}
					}
				}
				if !known || time.Since(last) < time.Millisecond {
					continue
				}
				last = time.Now()
				if a.mk != nil {
					for _, b := range a.mk(f, group, p, tsi, lead, sent) {
						f.send(group, p, b)
					}
					sent++
				}
				if a.nak { // 2 NAKs of 63 sqns a millisecond
					k := wire.NAK{Type: wire.TypeNAK, TSI: tsi, DataPort: uint16(p), Source: netipLoopback, Group: netip.AddrFrom4(group)}
					var sqns []uint32
					for j := range wire.MaxNAKSQNs {
						sqns = append(sqns, lead-uint32(j*5))
					}
					k.SetSQNs(sqns)
					b, _ := k.Append(nil)
					f.send([4]byte{127, 0, 0, 1}, p, b)
					f.send([4]byte{127, 0, 0, 1}, p, b)
				}
			}
		}
		rate := a.rate
		if rate == 0 {
			rate = 100_000
		}
		m := measureRun(t, bin, ep, rate, pre, attack)
		m.odata, m.repair = odata.Load(), repair.Load()
		report(a.name, m)
	}
}

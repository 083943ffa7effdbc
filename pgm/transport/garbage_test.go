package transport

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tickcast/tickcast/pgm/wire"
)

// attacker is a socket on the same host that sends whatever it likes to
// the group and to the source's unicast address.
type attacker struct {
	wb *writeBatch
	ep Endpoint
	rc syscall.RawConn
}

func newAttacker(t *testing.T, ep Endpoint) *attacker {
	pc, rc, _, err := openSocket(socketSpec{network: EPGM, bind: netip.AddrPortFrom(ep.Addr, 0),
		iface: ep.Interface.Index, ifaddr: ep.Addr, hops: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &attacker{wb: newWriteBatch(64, slotSize), ep: ep, rc: rc}
}

func (a *attacker) send(to netip.Addr, pkts ...[]byte) {
	for _, p := range pkts {
		if len(p) == 0 {
			// writeBatch refuses empty datagrams (we never send one:
			// libzmq#1195); the attacker sends it by hand.
			a.rc.Control(func(fd uintptr) {
				unix.Sendto(int(fd), nil, unix.MSG_DONTWAIT, &unix.SockaddrInet4{Port: int(a.ep.Port), Addr: to.As4()})
			})
			continue
		}
		if !a.wb.add(p, to, a.ep.Port) {
			a.wb.flush(a.rc)
			a.wb.add(p, to, a.ep.Port)
		}
	}
	a.wb.flush(a.rc)
}

// TestGarbageAndForgeries sends a live receiver and a live source garbage,
// truncated, zero-length and forged packets while real traffic flows: the
// real traffic arrives whole, everything else is counted, and memory stays
// bounded.
func TestGarbageAndForgeries(t *testing.T) {
	ep := testEndpoint(t, "epgm")
	c := newCollector()
	rcv, err := NewReceiver(ctx(t), ep, ReceiverConfig{}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	f := &sliceFeeder{}
	snd, err := NewSender(ctx(t), ep, SenderConfig{}, f)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.only = snd.TSI()
	c.mu.Unlock()
	att := newAttacker(t, ep)
	rng := rand.New(rand.NewPCG(7, 8))
	tsi := snd.TSI()

	// A real ODATA to mutilate: the sender's own encoding of an APDU.
	realData := wire.Data{Type: wire.TypeODATA, TSI: tsi, DataPort: ep.Port, SQN: 5, Payload: []byte("\x00\x00\x06\x00hello")}
	real, _ := realData.Append(nil)

	const n = 20000
	var want [][]byte
	for i := range n {
		want = append(want, numbered(i, 4+i%1000))
	}
	go func() {
		for i, a := range want {
			f.push(a)
			if i%100 == 0 {
				snd.Wake()
				time.Sleep(time.Millisecond)
			}
		}
		snd.Wake()
	}()

	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	floodStart := time.Now()
	for round := range 200 {
		var pkts [][]byte
		// Random bytes, of every length up to a datagram.
		for range 20 {
			b := make([]byte, rng.IntN(1500))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			pkts = append(pkts, b)
		}
		// Truncations of a real packet, and nothing at all.
		pkts = append(pkts, real[:rng.IntN(len(real))], []byte{})
		// A huge declared TSDU length, checksum fixed so the length check
		// must catch it.
		huge := bytes.Clone(real)
		binary.BigEndian.PutUint16(huge[14:], 65000)
		binary.BigEndian.PutUint16(huge[6:], 0)
		binary.BigEndian.PutUint16(huge[6:], wire.Checksum(huge))
		pkts = append(pkts, huge)
		// The real session's data with a bad checksum, far ahead.
		bad := wire.Data{Type: wire.TypeODATA, TSI: tsi, DataPort: ep.Port, SQN: 1 << 30, Payload: []byte("xx")}
		bb, _ := bad.Append(nil)
		bb[len(bb)-1] ^= 0xFF
		pkts = append(pkts, bb)
		// Valid packets of forged sessions: peers, up to MaxPeers.
		fake := wire.Data{Type: wire.TypeODATA, TSI: wire.TSI{GSI: wire.GSI{9, 9, 9, 9, 9, byte(round)}, SPort: 1},
			DataPort: ep.Port, SQN: uint32(round), Payload: []byte("\x00\x00\x03\x00ab")}
		fb, _ := fake.Append(nil)
		pkts = append(pkts, fb)
		att.send(ep.Group, pkts...)

		// To the source: garbage, NAKs for sqns never sent, a flood of NAKs,
		// NAKs for another GSI, and the same garbage as above.
		var up [][]byte
		up = append(up, pkts...)
		for k := range 30 {
			nak := wire.NAK{Type: wire.TypeNAK, TSI: tsi, DataPort: ep.Port, Source: ep.Addr, Group: ep.Group}
			switch k % 3 {
			case 0:
				nak.SetSQNs([]uint32{1 << 31, 1<<31 + 1})
			case 1:
				var sqns []uint32
				for j := range wire.MaxNAKSQNs {
					sqns = append(sqns, uint32(j*50+k))
				}
				nak.SetSQNs(sqns)
			case 2:
				nak.TSI.GSI[0] ^= 1
				nak.SetSQNs([]uint32{1})
			}
			b, _ := nak.Append(nil)
			up = append(up, b)
		}
		att.send(ep.Addr, up...)
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, 20*time.Second, "all real APDUs", func() bool { return c.count() >= n })
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)

	st := rcv.Stats()
	c.mu.Lock()
	for i := range want {
		if !bytes.Equal(c.data[i], want[i]) {
			c.mu.Unlock()
			t.Fatalf("real APDU %d differs", i)
		}
	}
	losses := c.losses
	c.mu.Unlock()
	// Forged sessions' losses are theirs; the real session lost nothing.
	for _, l := range losses {
		if l.TSI == tsi {
			t.Fatalf("real session reported loss %v", l)
		}
	}
	ss := snd.Stats()
	t.Logf("receiver: parse %d, malformed %d, peers refused %d, peers %d", st.Receiver.DroppedParse,
		st.Receiver.DroppedMalformed, st.Receiver.DroppedPeers, st.Receiver.PeersNew)
	t.Logf("source: parse %d, never sent %d, tsi %d, NCFs %d (dropped %d), RDATA %d", ss.Source.IgnoredParse,
		ss.Source.RepairsNeverSent, ss.Source.IgnoredTSI, ss.Source.NCFsSent, ss.Source.NCFsDropped, ss.Source.RDATASent)
	if st.Receiver.DroppedParse < 200*20 || ss.Source.IgnoredParse < 200*20 || ss.Source.RepairsNeverSent == 0 ||
		ss.Source.IgnoredTSI == 0 || st.Receiver.DroppedPeers == 0 {
		t.Errorf("garbage not counted as such: receiver %+v source %+v", st.Receiver, ss.Source)
	}
	// Forged sessions take the places of forged ones (never confirmed by
	// an SPM), at a bounded rate: 32 at once, 32 a second.
	if limit := 1 + 32 + 32*uint64(time.Since(floodStart).Seconds()+1); st.Receiver.PeersNew > limit {
		t.Errorf("%d new peers in %v: more than the new-session rate allows (%d)", st.Receiver.PeersNew, time.Since(floodStart), limit)
	}
	if st.Receiver.PeersEvicted == 0 {
		t.Error("no forged session was evicted: the table must have been full")
	}
	if grow := int64(m1.HeapInuse) - int64(m0.HeapInuse); grow > 64<<20 {
		t.Errorf("heap grew by %d MB under garbage", grow>>20)
	}
	snd.Close(time.Second)
}

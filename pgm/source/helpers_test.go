package source_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/source"
	"github.com/tickcast/tickcast/pgm/wire"
)

var (
	t0      = time.Unix(1_700_000_000, 0)
	tsi     = wire.TSI{GSI: wire.GSI{0xb7, 0xc6, 0xd1, 0xbc, 0x03, 0x8a}, SPort: 0xce57}
	nla     = netip.MustParseAddr("127.0.0.1")
	group   = netip.MustParseAddr("239.192.1.1")
	ms      = time.Millisecond
	apdu100 = make([]byte, 100)
)

const dport = 5555

func at(d time.Duration) time.Time { return t0.Add(d) }

// config is a libzmq-like source: window of 80, no rate limit unless set.
func config() source.Config {
	return source.Config{TSI: tsi, DataPort: dport, NLA: nla, Group: group, Rate: -1, WindowSQNs: 80}
}

func newSource(t testing.TB, cfg source.Config) *source.Source {
	t.Helper()
	s, err := source.New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// parse parses a packet the source produced, failing the test if it does not.
func parse(t testing.TB, b []byte) *wire.Packet {
	t.Helper()
	var p wire.Packet
	if err := wire.ParsePacket(b, &p); err != nil {
		t.Fatalf("source produced an unparsable packet: %v", err)
	}
	return &p
}

// drain polls at now until nothing is left and returns the packets, parsed.
func drain(t testing.TB, s *source.Source, now time.Time) []*wire.Packet {
	t.Helper()
	var out []*wire.Packet
	for pkt := s.Poll(now); pkt != nil; pkt = s.Poll(now) {
		out = append(out, parse(t, pkt))
		if len(out) > 10000 {
			t.Fatal("Poll does not stop")
		}
	}
	return out
}

// started returns a source whose three initial SPMs have been polled.
func started(t testing.TB, cfg source.Config) *source.Source {
	t.Helper()
	s := newSource(t, cfg)
	if n := len(drain(t, s, t0)); n != 3 {
		t.Fatalf("%d packets at start, want 3 SPMs", n)
	}
	return s
}

func send(t testing.TB, s *source.Source, now time.Time, n int) []*wire.Packet {
	t.Helper()
	var out []*wire.Packet
	for range n {
		pkt, err := s.Send(now, apdu100)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parse(t, pkt))
	}
	return out
}

// nak builds a NAK addressed to the test source.
func nak(sqns ...uint32) *wire.Packet {
	p := &wire.Packet{}
	p.Header.Type = wire.TypeNAK
	p.NAK = wire.NAK{Type: wire.TypeNAK, TSI: tsi, DataPort: dport, Source: nla, Group: group}
	if err := p.NAK.SetSQNs(sqns); err != nil {
		panic(err)
	}
	return p
}

func sqnsOf(p *wire.Packet) []uint32 { return p.NAK.AppendSQNs(nil) }

func types(ps []*wire.Packet) []wire.Type {
	var out []wire.Type
	for _, p := range ps {
		out = append(out, p.Header.Type)
	}
	return out
}

var netipZero netip.Addr

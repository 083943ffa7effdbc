package receiver_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

var (
	t0    = time.Unix(1_700_000_000, 0)
	tsi   = wire.TSI{GSI: wire.GSI{0xb7, 0xc6, 0xd1, 0xbc, 0x03, 0x8a}, SPort: 0xce57}
	tsi2  = wire.TSI{GSI: wire.GSI{1, 2, 3, 4, 5, 6}, SPort: 40000}
	nla   = netip.MustParseAddr("10.0.0.1") // the source's path NLA, from its SPMs
	src   = netip.MustParseAddr("10.0.0.9") // the IP source of its packets
	group = netip.MustParseAddr("239.192.1.1")
	ms    = time.Millisecond
	µs    = time.Microsecond
)

const dport = 5555

func at(d time.Duration) time.Time { return t0.Add(d) }

// constRand makes every NAK back-off the same: 1 µs + v mod (NAK_BO_IVL-1 µs).
type constRand uint64

func (c constRand) Uint64() uint64 { return uint64(c) }

// backoff10ms makes every back-off exactly 10 ms with the default 50 ms
// NAK_BO_IVL.
var backoff10ms = constRand(10*ms - µs)

func config() receiver.Config {
	return receiver.Config{DataPort: dport, Group: group, WindowSQNs: 100, Rand: backoff10ms}
}

// rt drives a Receiver in a test.
type rt struct {
	t testing.TB
	r *receiver.Receiver
}

func newRT(t testing.TB, cfg receiver.Config) *rt {
	t.Helper()
	r, err := receiver.New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	return &rt{t: t, r: r}
}

type appender interface{ Append([]byte) ([]byte, error) }

func encode(t testing.TB, p appender) []byte {
	t.Helper()
	b, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// payload is the test payload of sqn q: its number, then filler.
func payload(q uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, q)
	return append(b, "apdu"...)
}

func odata(q, trail uint32) *wire.Data {
	return &wire.Data{Type: wire.TypeODATA, TSI: tsi, DataPort: dport, SQN: q, Trail: trail, Payload: payload(q)}
}

func rdata(q, trail uint32) *wire.Data {
	d := odata(q, trail)
	d.Type = wire.TypeRDATA
	return d
}

func spm(seq, trail, lead uint32) *wire.SPM {
	return &wire.SPM{TSI: tsi, DataPort: dport, SQN: seq, Trail: trail, Lead: lead, NLA: nla}
}

func ncf(sqns ...uint32) *wire.NAK {
	k := &wire.NAK{Type: wire.TypeNCF, TSI: tsi, DataPort: dport, Source: nla, Group: group}
	if err := k.SetSQNs(sqns); err != nil {
		panic(err)
	}
	return k
}

// in hands the receiver packet p, encoded and parsed as a socket would, and
// returns the error.
func (h *rt) in(now time.Time, p appender) error {
	h.t.Helper()
	return h.r.HandleDatagram(now, src, encode(h.t, p))
}

// ok is in, failing on an error.
func (h *rt) ok(now time.Time, ps ...appender) {
	h.t.Helper()
	for _, p := range ps {
		if err := h.in(now, p); err != nil {
			h.t.Fatalf("%T: %v", p, err)
		}
	}
}

// events drains Next and summarises each event: "new", "data 5", "rdata 5",
// "loss 6..7", "expired"; events of other TSIs than tsi are prefixed "2:".
func (h *rt) events() []string {
	h.t.Helper()
	var out []string
	for {
		ev, ok := h.r.Next()
		if !ok {
			return out
		}
		var s string
		switch ev.Kind {
		case receiver.EventPeerNew:
			s = "new"
		case receiver.EventData:
			s = fmt.Sprintf("data %d", ev.SQN)
			if ev.Repair {
				s = "r" + s
			}
			if want := payload(ev.SQN); !slices.Equal(ev.Payload, want) {
				h.t.Fatalf("data %d: payload %x, want %x", ev.SQN, ev.Payload, want)
			}
		case receiver.EventLoss:
			s = fmt.Sprintf("loss %d..%d", ev.SQN, ev.Last())
		case receiver.EventPeerExpired:
			s = "expired"
		}
		if ev.TSI != tsi {
			s = "2:" + s
		}
		out = append(out, s)
		if len(out) > 100000 {
			h.t.Fatal("Next does not stop")
		}
	}
}

func (h *rt) expectEvents(want ...string) {
	h.t.Helper()
	got := h.events()
	if !slices.Equal(got, want) {
		h.t.Fatalf("events:\n got %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
}

// sent is a transmitted packet, parsed.
type sent struct {
	receiver.Transmit
	p wire.Packet
}

func (s sent) String() string {
	switch s.Type {
	case wire.TypeNAK:
		return fmt.Sprintf("NAK %v to %v", s.p.NAK.AppendSQNs(nil), s.To)
	case wire.TypeSPMR:
		if s.Multicast {
			return fmt.Sprintf("SPMR to group %v", s.To)
		}
		return fmt.Sprintf("SPMR to %v", s.To)
	}
	return s.Type.String()
}

// poll drains Poll at now.
func (h *rt) poll(now time.Time) []sent {
	h.t.Helper()
	var out []sent
	for {
		tx, ok := h.r.Poll(now)
		if !ok {
			return out
		}
		s := sent{Transmit: tx}
		if err := wire.ParsePacket(tx.Packet, &s.p); err != nil {
			h.t.Fatalf("receiver sent an unparsable %v: %v", tx.Type, err)
		}
		s.Packet = nil
		out = append(out, s)
		if len(out) > 100000 {
			h.t.Fatal("Poll does not stop")
		}
	}
}

func (h *rt) expectSent(now time.Time, want ...string) []sent {
	h.t.Helper()
	got := h.poll(now)
	var s []string
	for _, g := range got {
		s = append(s, g.String())
	}
	if !slices.Equal(s, want) {
		h.t.Fatalf("at %v sent:\n got %s\nwant %s", now.Sub(t0), strings.Join(s, ", "), strings.Join(want, ", "))
	}
	return got
}

// deadline returns Deadline as an offset from t0 (-1 for none).
func (h *rt) deadline() time.Duration {
	d := h.r.Deadline()
	if d.IsZero() {
		return -1
	}
	return d.Sub(t0)
}

func (h *rt) expectDeadline(want time.Duration) {
	h.t.Helper()
	if got := h.deadline(); got != want {
		h.t.Fatalf("Deadline = %v, want %v", got, want)
	}
}

// seq returns the strings "data a" .. "data b".
func seq(a, b uint32) []string {
	var out []string
	for q := a; ; q++ {
		out = append(out, fmt.Sprintf("data %d", q))
		if q == b {
			return out
		}
	}
}

func cat(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			out = append(out, p)
		case []string:
			out = append(out, p...)
		}
	}
	return out
}

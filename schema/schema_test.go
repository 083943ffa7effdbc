package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"testing"
	"unsafe"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/tickcast/tickcast/schema/internal/fb"
)

func sampleTicks(n int) []Tick {
	ticks := make([]Tick, n)
	for i := range ticks {
		ticks[i] = Tick{
			Price:      1_234_500 + int64(i),
			Size:       100 * int64(i+1),
			Seq:        uint64(41 + i),
			EventTime:  1_700_000_000_000_000_000 + int64(i),
			Instrument: uint32(7 + i),
			Kind:       Kind(i%3 + 1),
			PriceExp:   -4,
			SizeExp:    0,
		}
	}
	return ticks
}

func TestTickFitsTheWire(t *testing.T) {
	// The wire struct is at most 48 bytes (40 with widest fields first).
	if TickSize > 48 {
		t.Fatalf("TickSize = %d, want ≤ 48", TickSize)
	}
	// The generated builder writes exactly TickSize bytes per tick.
	e := NewEncoder(0)
	one := len(e.Encode(Header{Type: Batch}, sampleTicks(1)))
	two := len(e.Encode(Header{Type: Batch}, sampleTicks(2)))
	if two-one != TickSize {
		t.Fatalf("a tick adds %d bytes, want %d", two-one, TickSize)
	}
	if s := unsafe.Sizeof(Tick{}); s != TickSize {
		t.Fatalf("Go Tick is %d bytes, want %d", s, TickSize)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		h     Header
		ticks []Tick
	}{
		{"batch of one", Header{Type: Batch, Session: 9, StreamSeq: 1, SendTime: 5}, sampleTicks(1)},
		{"batch of many", Header{Type: Batch, Session: math.MaxUint64, StreamSeq: math.MaxUint64, SendTime: -1}, sampleTicks(500)},
		{"heartbeat", Header{Type: Heartbeat, Session: 3, StreamSeq: 77, SendTime: 123, Heartbeat: 1e9}, nil},
		{"topic heartbeat", Header{Type: TopicHeartbeat, Session: 3, StreamSeq: 78, TopicSeq: 1234, PrevStreamSeq: 70, PrevTopicSeq: 1200}, nil},
		{"batch with its predecessor", Header{Type: Batch, Session: 3, StreamSeq: 90, PrevStreamSeq: 78, PrevTopicSeq: 1234}, sampleTicks(2)},
		{"end of session", Header{Type: EndOfSession, Session: 3, StreamSeq: 79}, nil},
		{"extreme tick values", Header{Type: Batch, Session: 1}, []Tick{{
			Price: math.MinInt64, Size: math.MaxInt64, Seq: math.MaxUint64, EventTime: math.MinInt64,
			Instrument: math.MaxUint32, Kind: 255, PriceExp: -128, SizeExp: 127, Flags: 255,
		}}},
	}
	e := NewEncoder(64)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := bytes.Clone(e.Encode(tt.h, tt.ticks))
			var m Message
			if err := m.Decode(buf); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Header != tt.h {
				t.Errorf("header = %+v, want %+v", m.Header, tt.h)
			}
			got := m.AppendTicks(nil)
			if len(got) != len(tt.ticks) {
				t.Fatalf("%d ticks, want %d", len(got), len(tt.ticks))
			}
			for i := range got {
				if got[i] != tt.ticks[i] {
					t.Errorf("tick %d = %+v, want %+v", i, got[i], tt.ticks[i])
				}
			}
		})
	}
}

func TestEncodedBytesAreStandardFlatBuffers(t *testing.T) {
	// Another FlatBuffers implementation reading tick.fbs must see the same
	// values: check through the generated accessors directly.
	buf := NewEncoder(0).Encode(Header{Type: Batch, Session: 11, StreamSeq: 12}, sampleTicks(3))
	if string(buf[4:8]) != Identifier {
		t.Fatalf("identifier %q", buf[4:8])
	}
	msg := fb.GetRootAsMessage(buf, 0)
	if msg.Version() != Version || msg.Session() != 11 || msg.StreamSeq() != 12 || msg.TicksLength() != 3 {
		t.Fatalf("generated accessors disagree: v%d session %d stream %d n %d",
			msg.Version(), msg.Session(), msg.StreamSeq(), msg.TicksLength())
	}
	var tk fb.Tick
	msg.Ticks(&tk, 2)
	if tk.Seq() != 43 || tk.Instrument() != 9 {
		t.Fatalf("tick 2: seq %d instrument %d", tk.Seq(), tk.Instrument())
	}
}

func TestDecodeRejects(t *testing.T) {
	good := bytes.Clone(NewEncoder(0).Encode(Header{Type: Batch, Session: 1}, sampleTicks(2)))
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	// Locate the table and its vtable in the good buffer, to corrupt them.
	table := binary.LittleEndian.Uint32(good)
	vtable := int64(table) - int64(int32(binary.LittleEndian.Uint32(good[table:])))

	tests := []struct {
		name string
		buf  []byte
		want error
	}{
		{"nil", nil, ErrBounds},
		{"short", []byte("TKC"), ErrBounds},
		{"foreign identifier", mutate(func(b []byte) []byte { copy(b[4:], "XXXX"); return b }), ErrIdentifier},
		{"plain text", []byte("hello, this is not a tick batch"), ErrIdentifier},
		{"root offset past end", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 1<<30); return b }), ErrBounds},
		{"vtable before buffer", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[table:], uint32(int32(table)+1000))
			return b
		}), ErrBounds},
		{"vtable past end", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[table:], uint32(-int32(len(b))))
			return b
		}), ErrBounds},
		{"vtable size odd", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[vtable:], 5); return b }), ErrBounds},
		{"vtable size huge", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[vtable:], 0xfffe); return b }), ErrBounds},
		{"object size huge", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[vtable+2:], 0xffff); return b }), ErrBounds},
		{"field outside table", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[vtable+4+2*slotSession:], binary.LittleEndian.Uint16(b[vtable+2:]))
			return b
		}), ErrBounds},
		{"truncated ticks", good[:len(good)-1], ErrBounds},
		{"vector length huge", mutate(func(b []byte) []byte {
			off := binary.LittleEndian.Uint16(b[vtable+4+2*slotTicks:])
			field := uint32(table) + uint32(off)
			vec := field + binary.LittleEndian.Uint32(b[field:])
			binary.LittleEndian.PutUint32(b[vec:], math.MaxUint32)
			return b
		}), ErrBounds},
		{"unknown version", func() []byte {
			b := bytes.Clone(good)
			off := binary.LittleEndian.Uint16(b[vtable+4+2*slotVersion:])
			b[uint16(table)+off] = 2
			return b
		}(), ErrVersion},
		{"unknown type", func() []byte {
			b := bytes.Clone(good)
			off := binary.LittleEndian.Uint16(b[vtable+4+2*slotType:])
			b[uint16(table)+off] = 99
			return b
		}(), ErrType},
		{"batch without ticks", bytes.Clone(NewEncoder(0).Encode(Header{Type: Batch}, nil)), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			err := m.Decode(tt.buf)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v does not wrap ErrMalformed", err)
			}
			if m.Len() != 0 || m.Header != (Header{}) {
				t.Fatalf("failed Decode left %+v with %d ticks", m.Header, m.Len())
			}
		})
	}
}

func TestDecodeAcceptsNewerSchemaFields(t *testing.T) {
	// A later schema may append fields; an older reader ignores them.
	b := flatbuffers.NewBuilder(0)
	b.StartObject(numSlots + 1)
	b.PrependUint64Slot(numSlots, 0xdead, 0) // a field this reader does not know
	fb.MessageAddSession(b, 5)
	fb.MessageAddVersion(b, Version)
	fb.MessageAddType(b, fb.MessageTypeHeartbeat)
	b.FinishWithFileIdentifier(b.EndObject(), []byte(Identifier))
	var m Message
	if err := m.Decode(b.FinishedBytes()); err != nil || m.Session != 5 || m.Type != Heartbeat {
		t.Fatalf("Decode = %v, header %+v", err, m.Header)
	}
}

func TestEncodeAndDecodeAllocateNothing(t *testing.T) {
	e := NewEncoder(1 << 16)
	ticks := sampleTicks(128)
	h := Header{Type: Batch, Session: 1}
	var m Message
	var out []Tick
	encode := testing.AllocsPerRun(100, func() { e.Encode(h, ticks) })
	buf := bytes.Clone(e.Encode(h, ticks))
	out = make([]Tick, 0, 128)
	decode := testing.AllocsPerRun(100, func() {
		if err := m.Decode(buf); err != nil {
			t.Fatal(err)
		}
		out = m.AppendTicks(out[:0])
	})
	if encode != 0 || decode != 0 {
		t.Fatalf("allocations per 128-tick message: encode %v, decode %v; want 0", encode, decode)
	}
}

func FuzzDecode(f *testing.F) {
	e := NewEncoder(0)
	f.Add(bytes.Clone(e.Encode(Header{Type: Batch, Session: 1, StreamSeq: 2}, sampleTicks(3))))
	f.Add(bytes.Clone(e.Encode(Header{Type: Heartbeat, Session: 1, Heartbeat: 1e9}, nil)))
	f.Add(bytes.Clone(e.Encode(Header{Type: TopicHeartbeat, TopicSeq: 9}, nil)))
	f.Add(bytes.Clone(e.Encode(Header{Type: EndOfSession}, nil)))
	f.Add(bytes.Clone(e.Encode(Header{Type: Snapshot, Session: 1, StreamSeq: 40, TopicSeq: 41}, sampleTicks(1))))
	f.Add(bytes.Clone(e.EncodeRequest(&Request{Kind: ReplayRequest, ID: 1, Session: 2, Topic: []byte("MSFT"), From: 3, To: 4})))
	f.Add(bytes.Clone(e.EncodeRequest(&Request{Kind: SnapshotRequest, ID: 5, Prefixes: [][]byte{[]byte("EUR"), nil, []byte("US")}})))
	f.Add(bytes.Clone(e.EncodeReply(&Reply{Status: ReplyNotAvailable, ID: 1, Session: 2, Topic: []byte("MSFT"),
		From: 3, To: 4, HeldFrom: 5, HeldTo: 6, Count: 7, Detail: "why"})))
	f.Add([]byte("TKC1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, buf []byte) {
		var m Message
		if err := m.Decode(buf); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		var again Message
		switch m.Type {
		case RecoveryRequest:
			// Whatever decodes validates without panicking and re-encodes
			// to the same request.
			_ = m.Request.Validate()
			_ = m.Request.Kind.String()
			if err := again.Decode(e.EncodeRequest(&m.Request)); err != nil {
				t.Fatalf("re-encoded request does not decode: %v", err)
			}
			if !requestsEqual(&again.Request, &m.Request) {
				t.Fatalf("re-encode changed %+v to %+v", m.Request, again.Request)
			}
		case RecoveryReply:
			_ = m.Reply.Status.String()
			if err := again.Decode(e.EncodeReply(&m.Reply)); err != nil {
				t.Fatalf("re-encoded reply does not decode: %v", err)
			}
			if !repliesEqual(&again.Reply, &m.Reply) {
				t.Fatalf("re-encode changed %+v to %+v", m.Reply, again.Reply)
			}
		default:
			// Whatever decodes can be read in full and re-encodes to the
			// same values.
			ticks := m.AppendTicks(nil)
			if err := again.Decode(e.Encode(m.Header, ticks)); err != nil {
				t.Fatalf("re-encoded message does not decode: %v", err)
			}
			if again.Header != m.Header || again.Len() != len(ticks) {
				t.Fatalf("re-encode changed %+v/%d to %+v/%d", m.Header, len(ticks), again.Header, again.Len())
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{1, 32, 128} {
		b.Run(strconv.Itoa(n)+"ticks", func(b *testing.B) {
			e := NewEncoder(1 << 16)
			ticks := sampleTicks(n)
			h := Header{Type: Batch, Session: 1}
			b.ReportAllocs()
			b.SetBytes(int64(n * TickSize))
			for b.Loop() {
				h.StreamSeq++
				e.Encode(h, ticks)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/tick")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{1, 32, 128} {
		b.Run(strconv.Itoa(n)+"ticks", func(b *testing.B) {
			buf := bytes.Clone(NewEncoder(0).Encode(Header{Type: Batch, Session: 1}, sampleTicks(n)))
			var m Message
			out := make([]Tick, 0, n)
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if err := m.Decode(buf); err != nil {
					b.Fatal(err)
				}
				out = m.AppendTicks(out[:0])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/tick")
		})
	}
}

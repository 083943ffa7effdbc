package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"unsafe"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/tickcast/tickcast/schema/internal/fb"
)

func sampleRequests() []struct {
	name string
	r    Request
} {
	return []struct {
		name string
		r    Request
	}{
		{"replay", Request{Kind: ReplayRequest, ID: 42, Session: 7, Topic: []byte("MSFT"), From: 100, To: 250}},
		{"replay, extreme values", Request{
			Kind: ReplayRequest, ID: math.MaxUint64, Session: math.MaxUint64,
			Topic: []byte("\x00binary\xff topic"), From: math.MaxUint64, To: math.MaxUint64,
		}},
		{"replay of the current session", Request{Kind: ReplayRequest, ID: 1, Topic: []byte("A"), From: 1, To: 1}},
		{"snapshot of some prefixes", Request{Kind: SnapshotRequest, ID: 3, Session: 9, Prefixes: [][]byte{
			[]byte("EUR"), []byte(""), []byte("US\x00"), []byte(strings.Repeat("x", 300)),
		}}},
		{"snapshot of everything", Request{Kind: SnapshotRequest, ID: 4}},
		{"unknown kind, every field", Request{
			Kind: 99, ID: 5, Session: 6, Topic: []byte("T"), From: 9, To: 2, Prefixes: [][]byte{[]byte("P")},
		}},
	}
}

func sampleReplies() []struct {
	name string
	r    Reply
} {
	return []struct {
		name string
		r    Reply
	}{
		{"ok", Reply{Status: ReplyOK, ID: 42, Session: 7, Topic: []byte("MSFT"), From: 100, To: 250, Count: 12}},
		{"partial", Reply{Status: ReplyPartial, ID: 43, Session: 7, Topic: []byte("MSFT"), From: 100, To: 180, Count: math.MaxUint32}},
		{"not available", Reply{Status: ReplyNotAvailable, ID: 44, Session: 7, Topic: []byte("MSFT"), HeldFrom: 5000, HeldTo: 9000}},
		{"unknown session", Reply{Status: ReplyUnknownSession, ID: 45, Session: 8}},
		{"bad request", Reply{Status: ReplyBadRequest, ID: 46, Detail: "schema: invalid recovery request: replay of range 9..2"}},
		{"busy", Reply{Status: ReplyBusy, ID: math.MaxUint64}},
		{"unknown status, every field", Reply{
			Status: 200, ID: 1, Session: 2, Topic: []byte("T"), From: 3, To: 4, HeldFrom: 5, HeldTo: 6, Count: 7, Detail: "d",
		}},
	}
}

func requestsEqual(a, b *Request) bool {
	if a.Kind != b.Kind || a.ID != b.ID || a.Session != b.Session || !bytes.Equal(a.Topic, b.Topic) ||
		a.From != b.From || a.To != b.To || len(a.Prefixes) != len(b.Prefixes) {
		return false
	}
	for i := range a.Prefixes {
		if !bytes.Equal(a.Prefixes[i], b.Prefixes[i]) {
			return false
		}
	}
	return true
}

func repliesEqual(a, b *Reply) bool {
	return a.Status == b.Status && a.ID == b.ID && a.Session == b.Session && bytes.Equal(a.Topic, b.Topic) &&
		a.From == b.From && a.To == b.To && a.HeldFrom == b.HeldFrom && a.HeldTo == b.HeldTo &&
		a.Count == b.Count && a.Detail == b.Detail
}

// requestIsEmpty reports whether r is a zero request, but for the storage
// of its prefixes.
func requestIsEmpty(r *Request) bool {
	return requestsEqual(r, &Request{}) && r.Topic == nil
}

func TestRequestRoundTrip(t *testing.T) {
	e := NewEncoder(0)
	var m Message // one for all: Decode must not carry anything over
	for _, tt := range sampleRequests() {
		t.Run(tt.name, func(t *testing.T) {
			buf := bytes.Clone(e.EncodeRequest(&tt.r))
			if err := m.Decode(buf); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Type != RecoveryRequest || m.Header != (Header{Type: RecoveryRequest}) || m.Len() != 0 {
				t.Errorf("header %+v, %d ticks", m.Header, m.Len())
			}
			if !requestsEqual(&m.Request, &tt.r) {
				t.Errorf("request = %+v, want %+v", m.Request, tt.r)
			}
			if !repliesEqual(&m.Reply, &Reply{}) {
				t.Errorf("a request decoded a reply %+v", m.Reply)
			}
		})
	}
}

func TestReplyRoundTrip(t *testing.T) {
	e := NewEncoder(0)
	var m Message
	for _, tt := range sampleReplies() {
		t.Run(tt.name, func(t *testing.T) {
			buf := bytes.Clone(e.EncodeReply(&tt.r))
			if err := m.Decode(buf); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Header != (Header{Type: RecoveryReply}) || m.Len() != 0 {
				t.Errorf("header %+v, %d ticks", m.Header, m.Len())
			}
			if !repliesEqual(&m.Reply, &tt.r) {
				t.Errorf("reply = %+v, want %+v", m.Reply, tt.r)
			}
			if !requestIsEmpty(&m.Request) {
				t.Errorf("a reply decoded a request %+v", m.Request)
			}
		})
	}
}

func TestSnapshotMessage(t *testing.T) {
	e := NewEncoder(0)
	h := Header{Type: Snapshot, Session: 7, StreamSeq: 1234, TopicSeq: 41, SendTime: 99}
	tick := sampleTicks(1)
	var m Message
	if err := m.Decode(bytes.Clone(e.Encode(h, tick))); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if m.Header != h || m.Len() != 1 || m.Tick(0) != tick[0] {
		t.Fatalf("decoded %+v with %d ticks", m.Header, m.Len())
	}
	if got := m.AppendTicks(nil); len(got) != 1 || got[0] != tick[0] {
		t.Fatalf("AppendTicks = %+v", got)
	}
	err := m.Decode(bytes.Clone(e.Encode(Header{Type: Snapshot, Session: 7}, nil)))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("snapshot without ticks: Decode = %v, want ErrMalformed", err)
	}
}

// within reports whether b's bytes (all of its capacity) lie inside buf.
func within(b, buf []byte) bool {
	if cap(b) == 0 {
		return true
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p >= lo && p+uintptr(cap(b)) <= lo+uintptr(len(buf))
}

func TestRecoveryFieldsAreViews(t *testing.T) {
	e := NewEncoder(0)
	req := Request{Kind: SnapshotRequest, Prefixes: [][]byte{[]byte("AAPL"), []byte("MSFT")}}
	buf := bytes.Clone(e.EncodeRequest(&req))
	var m Message
	if err := m.Decode(buf); err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Request.Prefixes {
		if !within(p, buf) {
			t.Fatalf("prefix %d is not a view of the buffer", i)
		}
		if cap(p) != len(p) {
			t.Fatalf("prefix %d: capacity %d beyond its length %d: an append would write into the buffer", i, cap(p), len(p))
		}
	}
	buf[bytes.Index(buf, []byte("MSFT"))] = 'X'
	if string(m.Request.Prefixes[1]) != "XSFT" {
		t.Fatalf("prefix 1 = %q after the buffer changed, want the view XSFT", m.Request.Prefixes[1])
	}

	rep := Reply{Status: ReplyBadRequest, Topic: []byte("MSFT"), Detail: "no such thing"}
	buf = bytes.Clone(e.EncodeReply(&rep))
	if err := m.Decode(buf); err != nil {
		t.Fatal(err)
	}
	if !within(m.Reply.Topic, buf) || cap(m.Reply.Topic) != len(m.Reply.Topic) {
		t.Fatal("reply topic is not an exact view of the buffer")
	}
	// The detail is a copy: it survives the buffer.
	copy(buf[bytes.Index(buf, []byte("no such")):], "XX")
	if m.Reply.Detail != "no such thing" {
		t.Fatalf("detail %q changed with the buffer", m.Reply.Detail)
	}
	buf = bytes.Clone(e.EncodeRequest(&Request{Kind: ReplayRequest, Topic: []byte("MSFT"), From: 1, To: 2}))
	if err := m.Decode(buf); err != nil {
		t.Fatal(err)
	}
	if !within(m.Request.Topic, buf) || cap(m.Request.Topic) != 4 {
		t.Fatal("request topic is not an exact view of the buffer")
	}
}

func TestDecodeReusesPrefixStorage(t *testing.T) {
	e := NewEncoder(0)
	many := bytes.Clone(e.EncodeRequest(&Request{Kind: SnapshotRequest, Prefixes: [][]byte{[]byte("A"), []byte("B"), []byte("C")}}))
	one := bytes.Clone(e.EncodeRequest(&Request{Kind: SnapshotRequest, Prefixes: [][]byte{[]byte("D")}}))
	batch := bytes.Clone(e.Encode(Header{Type: Batch}, sampleTicks(1)))
	var m Message
	if err := m.Decode(many); err != nil {
		t.Fatal(err)
	}
	storage := unsafe.SliceData(m.Request.Prefixes)
	for _, buf := range [][]byte{batch, one, []byte("garbage!"), many} {
		m.Decode(buf)
		if unsafe.SliceData(m.Request.Prefixes) != storage {
			t.Fatal("Decode did not reuse the prefixes' storage")
		}
	}
	if len(m.Request.Prefixes) != 3 || string(m.Request.Prefixes[2]) != "C" {
		t.Fatalf("prefixes %q", m.Request.Prefixes)
	}
	// Once a message of another type is decoded, the old views are gone from
	// the storage too, so they keep no buffer alive.
	m.Decode(batch)
	if len(m.Request.Prefixes) != 0 || cap(m.Request.Prefixes) < 3 {
		t.Fatalf("prefixes %d/%d after a batch", len(m.Request.Prefixes), cap(m.Request.Prefixes))
	}
	for i, p := range m.Request.Prefixes[:3] {
		if p != nil {
			t.Fatalf("storage slot %d still holds %q", i, p)
		}
	}
}

func TestRecoveryBytesAreStandardFlatBuffers(t *testing.T) {
	// Other FlatBuffers implementations read requests and replies with the
	// generated code of tick.fbs: check through the generated accessors.
	e := NewEncoder(0)
	req := Request{Kind: SnapshotRequest, ID: 5, Session: 6, Prefixes: [][]byte{[]byte("AB"), []byte("")}}
	msg := fb.GetRootAsMessage(e.EncodeRequest(&req), 0)
	r := msg.Request(nil)
	if msg.Type() != fb.MessageTypeRecoveryRequest || r == nil || r.Kind() != fb.RequestKindSnapshot ||
		r.Id() != 5 || r.Session() != 6 || r.PrefixesLength() != 2 || string(r.Prefixes(0)) != "AB" || string(r.Prefixes(1)) != "" {
		t.Fatalf("generated accessors disagree on the request")
	}
	req = Request{Kind: ReplayRequest, Topic: []byte("XY"), From: 3, To: 4}
	r = fb.GetRootAsMessage(e.EncodeRequest(&req), 0).Request(nil)
	if r.Kind() != fb.RequestKindReplay || string(r.Topic()) != "XY" || r.FromSeq() != 3 || r.ToSeq() != 4 {
		t.Fatalf("generated accessors disagree on the replay request")
	}
	rep := Reply{Status: ReplyNotAvailable, ID: 1, Session: 2, Topic: []byte("T"), From: 3, To: 4, HeldFrom: 5, HeldTo: 6, Count: 7, Detail: "D"}
	msg = fb.GetRootAsMessage(e.EncodeReply(&rep), 0)
	p := msg.Reply(nil)
	if msg.Type() != fb.MessageTypeRecoveryReply || p == nil || p.Status() != fb.ReplyStatusNotAvailable || p.Id() != 1 || p.Session() != 2 ||
		string(p.Topic()) != "T" || p.FromSeq() != 3 || p.ToSeq() != 4 || p.HeldFrom() != 5 || p.HeldTo() != 6 ||
		p.Count() != 7 || string(p.Detail()) != "D" {
		t.Fatalf("generated accessors disagree on the reply")
	}
	// The Go constants are tick.fbs's.
	if MessageType(fb.MessageTypeRecoveryRequest) != RecoveryRequest || MessageType(fb.MessageTypeRecoveryReply) != RecoveryReply ||
		MessageType(fb.MessageTypeSnapshot) != Snapshot ||
		RequestKind(fb.RequestKindReplay) != ReplayRequest || RequestKind(fb.RequestKindSnapshot) != SnapshotRequest ||
		ReplyStatus(fb.ReplyStatusOk) != ReplyOK || ReplyStatus(fb.ReplyStatusPartial) != ReplyPartial ||
		ReplyStatus(fb.ReplyStatusNotAvailable) != ReplyNotAvailable || ReplyStatus(fb.ReplyStatusUnknownSession) != ReplyUnknownSession ||
		ReplyStatus(fb.ReplyStatusBadRequest) != ReplyBadRequest || ReplyStatus(fb.ReplyStatusBusy) != ReplyBusy {
		t.Fatal("Go constants differ from tick.fbs's")
	}
}

func TestRecoveryAllocatesNothing(t *testing.T) {
	e := NewEncoder(0)
	prefixes := make([][]byte, 64)
	for i := range prefixes {
		prefixes[i] = []byte(strings.Repeat("P", i))
	}
	snap := Request{Kind: SnapshotRequest, ID: 1, Prefixes: prefixes}
	replay := Request{Kind: ReplayRequest, ID: 2, Session: 3, Topic: []byte("MSFT"), From: 1, To: 1000}
	rep := Reply{Status: ReplyNotAvailable, ID: 1, Session: 2, Topic: []byte("MSFT"), From: 3, To: 4, HeldFrom: 5, HeldTo: 6}
	bad := Reply{Status: ReplyBadRequest, ID: 1, Detail: "a reason"}
	e.EncodeRequest(&snap) // warm up: the buffer and the offsets grow once
	encode := testing.AllocsPerRun(100, func() {
		e.EncodeRequest(&snap)
		e.EncodeRequest(&replay)
		e.EncodeReply(&rep)
		e.EncodeReply(&bad)
	})
	snapBuf := bytes.Clone(e.EncodeRequest(&snap))
	replayBuf := bytes.Clone(e.EncodeRequest(&replay))
	repBuf := bytes.Clone(e.EncodeReply(&rep))
	badBuf := bytes.Clone(e.EncodeReply(&bad))
	var m Message
	if err := m.Decode(snapBuf); err != nil { // warm up: the prefixes' storage
		t.Fatal(err)
	}
	decode := testing.AllocsPerRun(100, func() {
		for _, buf := range [][]byte{snapBuf, replayBuf, repBuf} {
			if err := m.Decode(buf); err != nil {
				t.Fatal(err)
			}
		}
	})
	// A detail is copied: the one allocation of decoding, on the error path.
	detail := testing.AllocsPerRun(100, func() {
		if err := m.Decode(badBuf); err != nil {
			t.Fatal(err)
		}
	})
	validate := testing.AllocsPerRun(100, func() {
		if snap.Validate() != nil || replay.Validate() != nil {
			t.Fatal("invalid")
		}
	})
	if encode != 0 || decode != 0 || validate != 0 || detail != 1 {
		t.Fatalf("allocations: encode %v, decode %v, validate %v (want 0); decode with a detail %v (want 1)", encode, decode, validate, detail)
	}
}

// locate returns the offsets of a decodable message's root table and of its
// sub-table in slot (request or reply).
func locate(t *testing.T, buf []byte, slot int) (root, sub table) {
	t.Helper()
	root, err := checkTable(buf, uint64(binary.LittleEndian.Uint32(buf)), slotSize[:])
	if err != nil {
		t.Fatal(err)
	}
	pos, ok := root.ref(buf, slot)
	if !ok {
		t.Fatalf("no slot %d", slot)
	}
	sub, err = checkTable(buf, pos, nil)
	if err != nil {
		t.Fatal(err)
	}
	return root, sub
}

func TestRecoveryDecodeRejects(t *testing.T) {
	e := NewEncoder(0)
	replay := bytes.Clone(e.EncodeRequest(&Request{Kind: ReplayRequest, ID: 1, Topic: []byte("MSFT"), From: 1, To: 9}))
	snap := bytes.Clone(e.EncodeRequest(&Request{Kind: SnapshotRequest, Prefixes: [][]byte{[]byte("AB"), []byte("CD")}}))
	reply := bytes.Clone(e.EncodeReply(&Reply{Status: ReplyBadRequest, Topic: []byte("MSFT"), Detail: "why"}))
	// mutate returns a copy of buf changed by f, given buf's request or
	// reply table.
	mutate := func(buf []byte, slot int, f func(b []byte, root, sub table)) []byte {
		b := bytes.Clone(buf)
		root, sub := locate(t, b, slot)
		f(b, root, sub)
		return b
	}
	put32 := func(b []byte, at uint64, v uint32) { binary.LittleEndian.PutUint32(b[at:], v) }
	tooMany := make([][]byte, MaxPrefixes+1)
	for i := range tooMany {
		tooMany[i] = []byte{'A' + byte(i%26)}
	}

	tests := []struct {
		name string
		buf  []byte
		want error
	}{
		{"request without its table", bytes.Clone(e.Encode(Header{Type: RecoveryRequest}, nil)), ErrMalformed},
		{"reply without its table", bytes.Clone(e.Encode(Header{Type: RecoveryReply}, nil)), ErrMalformed},
		{"request table past the end", mutate(replay, slotRequest, func(b []byte, root, _ table) {
			put32(b, root.field(b, slotRequest), uint32(len(b)))
		}), ErrBounds},
		{"request vtable out of bounds", mutate(replay, slotRequest, func(b []byte, _, sub table) {
			put32(b, sub.pos, uint32(int32(sub.pos)+1))
		}), ErrBounds},
		{"request field outside its table", mutate(replay, slotRequest, func(b []byte, _, sub table) {
			binary.LittleEndian.PutUint16(b[sub.vt+4+2*reqFrom:], binary.LittleEndian.Uint16(b[sub.vt+2:]))
		}), ErrBounds},
		{"topic offset past the end", mutate(replay, slotRequest, func(b []byte, _, sub table) {
			put32(b, sub.field(b, reqTopic), uint32(len(b)))
		}), ErrBounds},
		{"topic length past the end", mutate(replay, slotRequest, func(b []byte, _, _ table) {
			put32(b, uint64(bytes.Index(b, []byte("MSFT"))-4), uint32(len(b)))
		}), ErrBounds},
		{"topic length just past the end", mutate(replay, slotRequest, func(b []byte, _, _ table) {
			at := bytes.Index(b, []byte("MSFT"))
			put32(b, uint64(at-4), uint32(len(b)-at))
		}), ErrBounds},
		{"topic length huge", mutate(replay, slotRequest, func(b []byte, _, _ table) {
			put32(b, uint64(bytes.Index(b, []byte("MSFT"))-4), math.MaxUint32)
		}), ErrBounds},
		{"topic without its terminating zero", mutate(replay, slotRequest, func(b []byte, _, _ table) {
			b[bytes.Index(b, []byte("MSFT"))+4] = 'X'
		}), ErrBounds},
		{"prefixes vector past the end", mutate(snap, slotRequest, func(b []byte, _, sub table) {
			put32(b, sub.field(b, reqPrefixes), uint32(len(b)))
		}), ErrBounds},
		{"prefixes vector at the very end", mutate(snap, slotRequest, func(b []byte, _, sub table) {
			at := sub.field(b, reqPrefixes)
			put32(b, at, uint32(uint64(len(b))-at-2))
		}), ErrBounds},
		{"prefixes vector longer than the buffer", mutate(snap, slotRequest, func(b []byte, _, sub table) {
			vec, _ := sub.ref(b, reqPrefixes)
			put32(b, vec, MaxPrefixes)
		}), ErrBounds},
		{"prefixes vector length huge", mutate(snap, slotRequest, func(b []byte, _, sub table) {
			vec, _ := sub.ref(b, reqPrefixes)
			put32(b, vec, math.MaxUint32)
		}), ErrTooManyPrefixes},
		{"prefix offset past the end", mutate(snap, slotRequest, func(b []byte, _, sub table) {
			vec, _ := sub.ref(b, reqPrefixes)
			put32(b, vec+8, uint32(len(b)))
		}), ErrBounds},
		{"prefix length past the end", mutate(snap, slotRequest, func(b []byte, _, _ table) {
			put32(b, uint64(bytes.Index(b, []byte("CD"))-4), 1<<20)
		}), ErrBounds},
		{"too many prefixes", bytes.Clone(e.EncodeRequest(&Request{Kind: SnapshotRequest, Prefixes: tooMany})), ErrTooManyPrefixes},
		{"reply table past the end", mutate(reply, slotReply, func(b []byte, root, _ table) {
			put32(b, root.field(b, slotReply), math.MaxUint32)
		}), ErrBounds},
		{"reply field outside its table", mutate(reply, slotReply, func(b []byte, _, sub table) {
			binary.LittleEndian.PutUint16(b[sub.vt+4+2*repCount:], binary.LittleEndian.Uint16(b[sub.vt+2:])-2)
		}), ErrBounds},
		{"detail length past the end", mutate(reply, slotReply, func(b []byte, _, _ table) {
			put32(b, uint64(bytes.Index(b, []byte("why"))-4), 1000)
		}), ErrBounds},
		{"reply topic offset past the end", mutate(reply, slotReply, func(b []byte, _, sub table) {
			put32(b, sub.field(b, repTopic), math.MaxUint32-8)
		}), ErrBounds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			m.Decode(snap) // leave views behind: a failed Decode must clear them
			err := m.Decode(tt.buf)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v does not wrap ErrMalformed", err)
			}
			if m.Header != (Header{}) || m.Len() != 0 || !requestIsEmpty(&m.Request) || !repliesEqual(&m.Reply, &Reply{}) || m.Reply.Topic != nil {
				t.Fatalf("failed Decode left %+v, request %+v, reply %+v", m.Header, m.Request, m.Reply)
			}
		})
	}

	// MaxPrefixes itself is fine.
	var m Message
	if err := m.Decode(e.EncodeRequest(&Request{Kind: SnapshotRequest, Prefixes: tooMany[:MaxPrefixes]})); err != nil || len(m.Request.Prefixes) != MaxPrefixes {
		t.Fatalf("%d prefixes: Decode = %v, %d prefixes", MaxPrefixes, err, len(m.Request.Prefixes))
	}
}

func TestRecoveryDecodeTruncated(t *testing.T) {
	// Whatever the cut, Decode fails or reads exactly what was encoded (a
	// cut of the builder's trailing padding only loses nothing).
	e := NewEncoder(0)
	var m Message
	for _, tt := range sampleRequests() {
		buf := bytes.Clone(e.EncodeRequest(&tt.r))
		for n := range len(buf) {
			if err := m.Decode(buf[:n]); err == nil && !requestsEqual(&m.Request, &tt.r) {
				t.Fatalf("%s cut to %d of %d bytes: decoded %+v", tt.name, n, len(buf), m.Request)
			} else if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v does not wrap ErrMalformed", err)
			}
		}
	}
	for _, tt := range sampleReplies() {
		buf := bytes.Clone(e.EncodeReply(&tt.r))
		for n := range len(buf) {
			if err := m.Decode(buf[:n]); err == nil && !repliesEqual(&m.Reply, &tt.r) {
				t.Fatalf("%s cut to %d of %d bytes: decoded %+v", tt.name, n, len(buf), m.Reply)
			} else if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v does not wrap ErrMalformed", err)
			}
		}
	}
}

func TestRecoveryDecodeAcceptsNewerSchemaFields(t *testing.T) {
	// A later schema may append fields to RecoveryRequest and RecoveryReply;
	// an older reader ignores them.
	b := flatbuffers.NewBuilder(0)
	topic := b.CreateString("MSFT")
	b.StartObject(numReqSlots + 1)
	b.PrependUint64Slot(numReqSlots, 0xdead, 0)
	fb.RecoveryRequestAddTopic(b, topic)
	fb.RecoveryRequestAddFromSeq(b, 1)
	fb.RecoveryRequestAddToSeq(b, 2)
	fb.RecoveryRequestAddKind(b, fb.RequestKindReplay)
	req := b.EndObject()
	fb.MessageStart(b)
	fb.MessageAddRequest(b, req)
	fb.MessageAddVersion(b, Version)
	fb.MessageAddType(b, fb.MessageTypeRecoveryRequest)
	b.FinishWithFileIdentifier(fb.MessageEnd(b), []byte(Identifier))
	var m Message
	want := Request{Kind: ReplayRequest, Topic: []byte("MSFT"), From: 1, To: 2}
	if err := m.Decode(b.FinishedBytes()); err != nil || !requestsEqual(&m.Request, &want) {
		t.Fatalf("Decode = %v, request %+v", err, m.Request)
	}

	b.Reset()
	b.StartObject(numRepSlots + 1)
	b.PrependUint32Slot(numRepSlots, 0xbeef, 0)
	fb.RecoveryReplyAddCount(b, 3)
	fb.RecoveryReplyAddStatus(b, fb.ReplyStatusPartial)
	rep := b.EndObject()
	fb.MessageStart(b)
	fb.MessageAddReply(b, rep)
	fb.MessageAddVersion(b, Version)
	fb.MessageAddType(b, fb.MessageTypeRecoveryReply)
	b.FinishWithFileIdentifier(fb.MessageEnd(b), []byte(Identifier))
	if err := m.Decode(b.FinishedBytes()); err != nil || m.Reply.Status != ReplyPartial || m.Reply.Count != 3 {
		t.Fatalf("Decode = %v, reply %+v", err, m.Reply)
	}
}

func TestRequestValidate(t *testing.T) {
	tooMany := make([][]byte, MaxPrefixes+1)
	tests := []struct {
		name string
		r    Request
		ok   bool
	}{
		{"replay", Request{Kind: ReplayRequest, Topic: []byte("A"), From: 1, To: 1}, true},
		{"replay of a long range", Request{Kind: ReplayRequest, Session: 3, Topic: []byte("A"), From: 5, To: math.MaxUint64}, true},
		{"replay without a topic", Request{Kind: ReplayRequest, From: 1, To: 2}, false},
		{"replay from 0", Request{Kind: ReplayRequest, Topic: []byte("A"), From: 0, To: 2}, false},
		{"replay backwards", Request{Kind: ReplayRequest, Topic: []byte("A"), From: 3, To: 2}, false},
		{"replay with prefixes", Request{Kind: ReplayRequest, Topic: []byte("A"), From: 1, To: 2, Prefixes: [][]byte{nil}}, false},
		{"snapshot of everything", Request{Kind: SnapshotRequest}, true},
		{"snapshot of everything, explicitly", Request{Kind: SnapshotRequest, Prefixes: [][]byte{nil}}, true},
		{"snapshot of MaxPrefixes prefixes", Request{Kind: SnapshotRequest, Prefixes: tooMany[:MaxPrefixes]}, true},
		{"snapshot of too many prefixes", Request{Kind: SnapshotRequest, Prefixes: tooMany}, false},
		{"snapshot with a topic", Request{Kind: SnapshotRequest, Topic: []byte("A")}, true},
		{"snapshot with a range", Request{Kind: SnapshotRequest, To: 5}, false},
		{"no kind", Request{Topic: []byte("A"), From: 1, To: 2}, false},
		{"unknown kind", Request{Kind: 3}, false},
	}
	for _, tt := range tests {
		err := tt.r.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v", tt.name, err)
		}
		if err != nil && (!errors.Is(err, ErrInvalidRequest) || errors.Is(err, ErrMalformed)) {
			t.Errorf("%s: %v does not wrap ErrInvalidRequest alone", tt.name, err)
		}
	}
}

func TestRecoveryStrings(t *testing.T) {
	for _, tt := range []struct {
		s    interface{ String() string }
		want string
	}{
		{RecoveryRequest, "recovery-request"}, {RecoveryReply, "recovery-reply"}, {Snapshot, "snapshot"},
		{ReplayRequest, "replay"}, {SnapshotRequest, "snapshot"}, {RequestKind(0), "request-kind(0)"},
		{ReplyOK, "ok"}, {ReplyPartial, "partial"}, {ReplyNotAvailable, "not-available"},
		{ReplyUnknownSession, "unknown-session"}, {ReplyBadRequest, "bad-request"}, {ReplyBusy, "busy"},
		{ReplyStatus(6), "status(6)"},
	} {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func BenchmarkRecovery(b *testing.B) {
	e := NewEncoder(0)
	replay := Request{Kind: ReplayRequest, ID: 2, Session: 3, Topic: []byte("MSFT"), From: 1, To: 1000}
	snap := Request{Kind: SnapshotRequest, ID: 1, Prefixes: [][]byte{[]byte("EUR"), []byte("USD"), []byte("JPY")}}
	rep := Reply{Status: ReplyOK, ID: 2, Session: 3, Topic: []byte("MSFT"), From: 1, To: 1000, Count: 10}
	for _, c := range []struct {
		name   string
		encode func() []byte
	}{
		{"replay", func() []byte { return e.EncodeRequest(&replay) }},
		{"snapshot3", func() []byte { return e.EncodeRequest(&snap) }},
		{"reply", func() []byte { return e.EncodeReply(&rep) }},
	} {
		b.Run("encode-"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.encode()
			}
		})
		b.Run("decode-"+c.name, func(b *testing.B) {
			buf := bytes.Clone(c.encode())
			var m Message
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Decode(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

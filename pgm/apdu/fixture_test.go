package apdu_test

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"
	"testing"

	"github.com/tickcast/tickcast/pgm/apdu"
	"github.com/tickcast/tickcast/pgm/internal/fixture"
	"github.com/tickcast/tickcast/pgm/sqn"
	"github.com/tickcast/tickcast/pgm/wire"
)

// stream returns the APDUs of a fixture: the payloads of its ODATA, in
// sequence order, with each repair (RDATA) checked against its original.
func stream(t *testing.T, name string) [][]byte {
	t.Helper()
	bySQN := map[uint32][]byte{}
	var p wire.Packet
	for _, fp := range fixture.Packets(t, name) {
		if err := wire.ParsePacket(fp.PGM, &p); err != nil {
			t.Fatal(err)
		}
		if p.Header.Type != wire.TypeODATA && p.Header.Type != wire.TypeRDATA {
			continue
		}
		if prev, ok := bySQN[p.Data.SQN]; ok {
			if !bytes.Equal(prev, p.Data.Payload) {
				t.Fatalf("sqn %d: RDATA payload differs from ODATA", p.Data.SQN)
			}
			continue
		}
		bySQN[p.Data.SQN] = bytes.Clone(p.Data.Payload)
	}
	sqns := slices.Collect(maps.Keys(bySQN))
	slices.SortFunc(sqns, func(a, b uint32) int { return int(sqn.Diff(b, a)) })
	var apdus [][]byte
	for i, s := range sqns {
		if i > 0 && s != sqns[i-1]+1 {
			t.Fatalf("gap in the data before sqn %d", s)
		}
		apdus = append(apdus, bySQN[s])
	}
	return apdus
}

// decodeAll feeds apdus to d and returns copies of the messages it delivers.
func decodeAll(t *testing.T, d *apdu.Decoder, apdus [][]byte) [][][]byte {
	t.Helper()
	var got [][][]byte
	for i, a := range apdus {
		if err := d.Feed(a); err != nil {
			t.Fatalf("APDU %d: %v", i, err)
		}
		got = append(got, drain(d)...)
	}
	return got
}

func drain(d *apdu.Decoder) [][][]byte {
	var got [][][]byte
	for m := d.Next(); m != nil; m = d.Next() {
		c := make([][]byte, len(m))
		for i, f := range m {
			c[i] = bytes.Clone(f)
		}
		got = append(got, c)
	}
	return got
}

func equalMessages(a, b [][][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y [][]byte) bool {
		return slices.EqualFunc(x, y, bytes.Equal)
	})
}

// Decoding the data libzmq sent gives exactly what libzmq's own SUB received
// (and what its PUB sent), for single frames, multipart messages, long
// frames, messages over many APDUs, raw PGM, and streams repaired by RDATA.
func TestFixtureStreamsDecodeToWhatLibzmqReceived(t *testing.T) {
	for _, name := range fixture.Names() {
		t.Run(name, func(t *testing.T) {
			ex := fixture.Messages(t, name)
			var d apdu.Decoder
			got := decodeAll(t, &d, stream(t, name))
			if !equalMessages(got, ex.Received) || !equalMessages(got, ex.Sent) {
				t.Fatalf("decoded %d messages, libzmq received %d", len(got), len(ex.Received))
			}
			if s := d.Stats(); s != (apdu.Stats{Messages: uint64(len(got))}) {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// Packing the messages libzmq sent, flushing after each one (the fixtures'
// sender paused between messages), reproduces libzmq's APDUs byte for byte:
// offsets 0 at message starts, 0xFFFF on continuation APDUs, and the offset
// equal to the data length when a message ends inside an APDU.
func TestPackerReproducesLibzmqAPDUs(t *testing.T) {
	for _, name := range fixture.Names() {
		t.Run(name, func(t *testing.T) {
			want := stream(t, name)
			var p apdu.Packer
			var got [][]byte
			for _, m := range fixture.Messages(t, name).Sent {
				if err := p.Add(m...); err != nil {
					t.Fatal(err)
				}
				p.Flush()
				for a := p.Next(); a != nil; a = p.Next() {
					got = append(got, bytes.Clone(a))
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d APDUs, libzmq sent %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("APDU %d differs:\n got % x\nwant % x", i, got[i][:min(len(got[i]), 32)], want[i][:min(len(want[i]), 32)])
				}
			}
		})
	}
}

// The epgm-large layout, spelled out: a 3016-byte message (two frames) is
// APDUs of 1428, 1428 and 166 bytes with offsets 0, 0xFFFF and 164.
func TestPackerLargeMessageLayout(t *testing.T) {
	ex := fixture.Messages(t, "epgm-large")
	var p apdu.Packer
	if err := p.Add(ex.Sent[0]...); err != nil {
		t.Fatal(err)
	}
	p.Flush()
	type layout struct{ len, offset int }
	var got []layout
	for a := p.Next(); a != nil; a = p.Next() {
		got = append(got, layout{len(a), int(binary.BigEndian.Uint16(a))})
	}
	want := []layout{{1428, 0}, {1428, apdu.NoOffset}, {166, 164}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// A receiver joining at any APDU of epgm-large skips continuation APDUs and
// delivers exactly the messages that begin at or after its join point.
func TestFixtureJoinMidStream(t *testing.T) {
	ex := fixture.Messages(t, "epgm-large")
	apdus := stream(t, "epgm-large")
	for k := range apdus {
		// Each message of this fixture starts a fresh APDU, at offset 0.
		first := 0
		for _, a := range apdus[:k] {
			if binary.BigEndian.Uint16(a) == 0 {
				first++
			}
		}
		var d apdu.Decoder
		got := decodeAll(t, &d, apdus[k:])
		if !equalMessages(got, ex.Sent[first:]) {
			t.Fatalf("joining at APDU %d: got %d messages, want the last %d", k, len(got), len(ex.Sent)-first)
		}
		skipped := 0
		for _, a := range apdus[k:] {
			if binary.BigEndian.Uint16(a) != apdu.NoOffset {
				break
			}
			skipped++
		}
		if s := d.Stats(); s.Skipped != uint64(skipped) || s.Discarded != 0 || s.Errors != 0 {
			t.Fatalf("joining at APDU %d: stats %+v, want %d skipped", k, s, skipped)
		}
	}
}

// The fixtures' messages packed back to back (many per APDU, as libzmq does
// under load) at both libzmq APDU sizes decode back unchanged.
func TestFixtureMessagesPackedTogetherRoundTrip(t *testing.T) {
	for _, name := range fixture.Names() {
		sent := fixture.Messages(t, name).Sent
		for _, max := range []int{apdu.MaxAPDUEPGM, apdu.MaxAPDUPGM} {
			apdus := packAll(t, max, sent)
			var d apdu.Decoder
			if got := decodeAll(t, &d, apdus); !equalMessages(got, sent) {
				t.Fatalf("%s, %d-byte APDUs: %d messages back, want %d", name, max, len(got), len(sent))
			}
			if name == "epgm-small" && len(apdus) != 1 {
				t.Errorf("epgm-small's 1239 stream bytes packed into %d APDUs, want 1", len(apdus))
			}
		}
	}
}

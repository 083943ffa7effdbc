package receiver_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/apdu"
	"github.com/tickcast/tickcast/pgm/internal/fixture"
	"github.com/tickcast/tickcast/pgm/receiver"
	"github.com/tickcast/tickcast/pgm/wire"
)

// A libzmq PUB's real traffic, fed to a Receiver, delivers exactly the
// messages libzmq's own SUB delivered. In the two-host captures the
// subscriber's kernel dropped every Nth ODATA after the capture point; the
// test drops the same packets, and the RDATA libzmq sent in answer to its
// SUB's NAKs repairs them.
func TestLibzmqFixtures(t *testing.T) {
	for _, c := range []struct {
		name      string
		dropEvery int
	}{
		{"epgm-small", 0}, {"epgm-single", 0}, {"epgm-long", 0}, {"epgm-large", 0}, {"pgm-small", 0},
		{"epgm-2host-loss-single", 7}, {"epgm-2host-loss-small", 4}, {"epgm-2host-loss-large", 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := fixture.Messages(t, c.name).Received
			r, err := receiver.New(receiver.Config{DataPort: 5555, Group: group, WindowSQNs: 80, Rand: backoff10ms}, t0)
			if err != nil {
				t.Fatal(err)
			}
			var d apdu.Decoder
			var got [][][]byte
			var p wire.Packet
			now := t0
			odata := 0
			for _, fp := range fixture.Packets(t, c.name) {
				now = now.Add(time.Millisecond)
				if err := wire.ParsePacket(fp.PGM, &p); err != nil {
					t.Fatal(err)
				}
				if p.Header.Type.Upstream() {
					continue // the SUB's NAKs, on their way to the PUB
				}
				if p.Header.Type == wire.TypeODATA {
					// The nftables rule dropped the 1st, (N+1)th, (2N+1)th ... ODATA.
					if odata++; c.dropEvery > 0 && (odata-1)%c.dropEvery == 0 {
						continue
					}
				}
				_ = r.HandlePacket(now, src, &p)
				for _, ok := r.Poll(now); ok; _, ok = r.Poll(now) {
				}
				for ev, ok := r.Next(); ok; ev, ok = r.Next() {
					switch ev.Kind {
					case receiver.EventData:
						if err := d.Feed(ev.Payload); err != nil {
							t.Fatal(err)
						}
						for m := d.Next(); m != nil; m = d.Next() {
							c := make([][]byte, len(m))
							for i, f := range m {
								c[i] = bytes.Clone(f)
							}
							got = append(got, c)
						}
					case receiver.EventLoss:
						t.Fatalf("loss %v", ev)
					}
				}
			}
			if !slices.EqualFunc(got, want, func(x, y [][]byte) bool { return slices.EqualFunc(x, y, bytes.Equal) }) {
				t.Fatalf("got %d messages, libzmq's SUB received %d", len(got), len(want))
			}
			st := r.Stats()
			if c.dropEvery > 0 && st.Repaired == 0 {
				t.Errorf("nothing repaired: %+v", st)
			}
			t.Logf("%d messages, %d ODATA, %d repaired, %d NAKs sent", len(got), st.ODATA, st.Repaired, st.NAKsSent)
		})
	}
}

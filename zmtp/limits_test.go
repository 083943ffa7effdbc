package zmtp

import (
	"log/slog"
	"testing"
)

func TestSubscriberQueueLimits(t *testing.T) {
	type send struct {
		topic   string
		size    int
		control bool
		queued  bool // whether it is queued (else dropped)
	}
	tests := []struct {
		name     string
		hwm      int
		maxBytes int
		sends    []send
	}{
		{"message limit", 2, 1 << 20, []send{
			{"A", 10, false, true}, {"A", 10, false, true},
			{"A", 10, false, false}, // over the HWM: dropped
			{"B", 10, false, true},  // B's first message: the reserve takes it
			{"B", 10, false, false},
			{"A", 10, true, true}, // control: the reserve takes it
		}},
		{"byte limit", 1000, 2500, []send{
			{"A", 1000, false, true}, {"A", 1000, false, true},
			{"A", 1000, false, true},  // 2,000 queued < 2,500: still fits
			{"A", 1000, false, false}, // 3,000 queued: dropped
			{"A", 10, true, true},     // control ignores the byte limit
			{"C", 1000, false, true},  // a first message too
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Pub{hwm: tt.hwm, maxBytes: tt.maxBytes, log: slog.Default()}
			pe := &peer{pub: p, seen: map[string]struct{}{}, wake: make(chan struct{}, 1)}
			pe.subs.Add(nil)
			var dropped uint64
			for i, s := range tt.sends {
				pe.send([]byte(s.topic), make([]byte, s.size), s.control)
				if !s.queued {
					dropped++
				}
				if pe.dropped != dropped {
					t.Fatalf("send %d (%+v): %d dropped, want %d", i, s, pe.dropped, dropped)
				}
			}
		})
	}
}

package bench

import (
	"math"
	"testing"
)

func TestScheduleAtAndDue(t *testing.T) {
	tests := []struct {
		name  string
		start int64
		rate  float64
	}{
		{"1k", 1_700_000_000_000_000_000, 1_000},
		{"10k", 1_700_000_000_000_000_123, 10_000},
		{"100k", 5, 100_000},
		{"300k (period not an integer)", 1_700_000_000_000_000_000, 300_000},
		{"501k", 42, 501_000},
		{"7/s", 0, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSchedule(tt.start, tt.rate)
			if s.at(0) != tt.start {
				t.Fatalf("at(0) = %d, want the start %d", s.at(0), tt.start)
			}
			// No drift: tick n·rate is exactly n seconds after the start.
			for _, sec := range []int64{1, 10, 3600} {
				if got := s.at(sec * int64(tt.rate)); math.Abs(float64(got-tt.start-sec*1e9)) > 1 {
					t.Fatalf("at(%d s of ticks) = start + %d ns, want %d s", sec, got-tt.start, sec)
				}
			}
			if s.due(tt.start-1) != 0 {
				t.Fatalf("due before the start = %d, want 0", s.due(tt.start-1))
			}
			for _, i := range []int64{0, 1, 2, 99, 1000, 123_457} {
				at := s.at(i)
				if got := s.due(at); got != i+1 {
					t.Fatalf("due(at(%d)) = %d, want %d", i, got, i+1)
				}
				if s.at(i+1) > at+1 {
					if got := s.due(s.at(i+1) - 1); got != i+1 {
						t.Fatalf("due(just before tick %d) = %d, want %d", i+1, got, i+1)
					}
				}
			}
		})
	}
}

func TestAchievedRate(t *testing.T) {
	tests := []struct {
		name        string
		n           int64
		first, last int64
		period      float64
		want        float64
	}{
		{"on schedule", 10_000, 0, 9_999 * 100_000, 100_000, 10_000},
		{"last tick 1% of the run late", 10_000, 0, 9_999*100_000 + 10_000_000, 100_000, 10_000 / 1.01},
		{"half the ticks", 5_000, 0, 9_999 * 100_000, 100_000, 5_000},
		{"nothing", 0, 0, 100, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := achievedRate(tt.n, tt.first, tt.last, tt.period)
			if math.Abs(got-tt.want) > tt.want*1e-9+1e-9 {
				t.Fatalf("achievedRate = %g, want %g", got, tt.want)
			}
		})
	}
}

func TestPacerWaitsForTheClock(t *testing.T) {
	for _, mode := range []PaceMode{PaceSpin, PaceYield, PaceHybrid} {
		t.Run(string(mode), func(t *testing.T) {
			var clock int64
			p := pacer{mode: mode, now: func() int64 { clock += 1000; return clock }}
			if got := p.wait(50_500); got < 50_500 || got > 51_500 {
				t.Fatalf("wait returned at %d, want the first reading ≥ 50500", got)
			}
			if got := p.wait(0); got != 52_000 {
				t.Fatalf("wait for a past time returned %d, want the next reading 52000", got)
			}
		})
	}
}

func TestParsePaceMode(t *testing.T) {
	for _, s := range []string{"spin", "yield", "hybrid"} {
		if m, err := ParsePaceMode(s); err != nil || string(m) != s {
			t.Fatalf("ParsePaceMode(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := ParsePaceMode("sleep"); err == nil {
		t.Fatal("ParsePaceMode(sleep) accepted a mode that does not exist")
	}
}

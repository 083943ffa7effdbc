package topic

import (
	"fmt"
	"testing"
)

func TestMatchFollowsZeroMQPrefixRules(t *testing.T) {
	tests := []struct {
		subs  []string
		topic string
		want  bool
	}{
		{nil, "AAPL", false},
		{[]string{""}, "AAPL", true},
		{[]string{""}, "", true},
		{[]string{"AAPL"}, "AAPL", true},
		{[]string{"AAPL"}, "AAPL.OQ", true},
		{[]string{"AAPL"}, "AAP", false},
		{[]string{"AAPL"}, "MSFT", false},
		{[]string{"A", "MSFT"}, "MSFT", true},
		{[]string{"A", "MSFT"}, "MS", false},
		{[]string{"B", "AB"}, "ABC", true},
		{[]string{"\x00tick"}, "\x00tickcast", true},
		{[]string{"X"}, "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%q", tt.subs, tt.topic), func(t *testing.T) {
			var s Set
			for _, p := range tt.subs {
				s.Add([]byte(p))
			}
			if got := s.Match([]byte(tt.topic)); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSubscriptionsAreCounted(t *testing.T) {
	var s Set
	s.Add([]byte("A"))
	s.Add([]byte("A"))
	s.Add([]byte("AB"))
	if !s.Remove([]byte("A")) || !s.Match([]byte("AX")) {
		t.Fatal("one of two subscriptions to A removed: A must still match")
	}
	if !s.Remove([]byte("A")) || s.Match([]byte("AX")) {
		t.Fatal("both subscriptions to A removed: AX must not match")
	}
	if !s.Match([]byte("ABC")) {
		t.Fatal("AB still subscribed")
	}
	if s.Remove([]byte("Z")) {
		t.Fatal("removing an unknown prefix reported success")
	}
	if s.Remove([]byte("AB")); s.Len() != 0 || len(s.lengths) != 0 {
		t.Fatalf("set not empty: %d prefixes, lengths %v", s.Len(), s.lengths)
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	var s Set
	for i := range 1000 {
		s.Add(fmt.Appendf(nil, "SYM%04d", i))
	}
	topic := []byte("SYM0999.X")
	if n := testing.AllocsPerRun(100, func() { s.Match(topic) }); n != 0 {
		t.Fatalf("%v allocations per Match", n)
	}
}

func BenchmarkMatch1000Prefixes(b *testing.B) {
	var s Set
	for i := range 1000 {
		s.Add(fmt.Appendf(nil, "SYM%04d", i))
	}
	topic := []byte("SYM0999")
	for b.Loop() {
		s.Match(topic)
	}
}

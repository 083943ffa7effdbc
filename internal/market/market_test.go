package market

import (
	"testing"

	"github.com/tickcast/tickcast/schema"
)

func TestMarketIsDeterministicAndPlausible(t *testing.T) {
	a, b := New(100, 7), New(100, 7)
	counts := make([]int, 100)
	kinds := map[schema.Kind]int{}
	for range 100_000 {
		i, ta := a.Next(1)
		j, tb := b.Next(1)
		if i != j || ta != tb {
			t.Fatal("same seed, different ticks")
		}
		if ta.Price <= 0 || ta.Size <= 0 || ta.PriceExp != PriceExp || ta.Instrument != uint32(i) {
			t.Fatalf("implausible tick %+v", ta)
		}
		counts[i]++
		kinds[ta.Kind]++
	}
	if counts[0] < 5*counts[50] {
		t.Errorf("instrument 0 ticked %d times, instrument 50 %d: want a skew", counts[0], counts[50])
	}
	for _, k := range []schema.Kind{schema.KindTrade, schema.KindBid, schema.KindAsk} {
		if kinds[k] == 0 {
			t.Errorf("no %s ticks", k)
		}
	}
	if Symbol(0) != "AAPL" || Symbol(50) != "SYM0050" {
		t.Errorf("symbols %s %s", Symbol(0), Symbol(50))
	}
}

func TestNextAllocatesNothing(t *testing.T) {
	m := New(1000, 1)
	if n := testing.AllocsPerRun(1000, func() { m.Next(1) }); n != 0 {
		t.Fatalf("%v allocations per tick", n)
	}
}

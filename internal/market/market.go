// Package market simulates a market for demos, tests and benchmarks: a set
// of instruments whose prices follow random walks, producing trades and
// quotes. It is deterministic for a given seed and allocates nothing per
// tick.
package market

import (
	"fmt"
	"math/rand/v2"

	"github.com/tickcast/tickcast/schema"
)

// PriceExp is the exponent of every simulated price: prices are in units
// of 0.0001.
const PriceExp = -4

// Instrument is one simulated instrument.
type Instrument struct {
	ID     uint32
	Symbol string // also the tick's topic
	mid    int64  // mid price, in units of 10^PriceExp
	spread int64
}

// Market is a simulated market. It is not safe for concurrent use.
type Market struct {
	Instruments []Instrument
	rng         *rand.Rand
	cum         []uint32 // cumulative popularity weights, for picking instruments
}

// symbols are real tickers for the first instruments: topics a person
// recognises, with shared prefixes (AA, AAPL; MS, MSFT) to show ZeroMQ
// prefix filtering.
var symbols = []string{
	"AAPL", "MSFT", "AMZN", "GOOG", "META", "NVDA", "TSLA", "AA", "AAL", "AMD",
	"INTC", "IBM", "ORCL", "CSCO", "NFLX", "ADBE", "CRM", "QCOM", "TXN", "AVGO",
	"JPM", "BAC", "WFC", "GS", "MS", "C", "V", "MA", "PYPL", "AXP",
	"XOM", "CVX", "COP", "KO", "PEP", "MCD", "SBUX", "NKE", "WMT", "COST",
	"PFE", "MRK", "JNJ", "ABBV", "LLY", "UNH", "CVS", "T", "VZ", "DIS",
}

// Symbol returns the symbol of instrument i: a real ticker for the first
// fifty, then SYM0050, SYM0051, ...
func Symbol(i int) string {
	if i < len(symbols) {
		return symbols[i]
	}
	return fmt.Sprintf("SYM%04d", i)
}

// New returns a market of n instruments. Instruments are not equally busy:
// instrument i trades about 1/(i+1) as often as the first (Zipf-like), as
// in real markets.
func New(n int, seed uint64) *Market {
	m := &Market{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	var total uint32
	for i := range n {
		mid := int64(20+m.rng.IntN(480)) * 10_000
		m.Instruments = append(m.Instruments, Instrument{
			ID: uint32(i), Symbol: Symbol(i), mid: mid, spread: int64(1+m.rng.IntN(5)) * 100,
		})
		total += uint32(1_000_000 / (i + 1))
		m.cum = append(m.cum, total)
	}
	return m
}

// Next returns the next tick, for instrument index i, with the given event
// time. Seq is left 0: the publisher assigns it.
func (m *Market) Next(eventTime int64) (i int, t schema.Tick) {
	r := m.rng.Uint32N(m.cum[len(m.cum)-1])
	lo, hi := 0, len(m.cum)-1
	for lo < hi { // first cumulative weight above r
		mid := (lo + hi) / 2
		if m.cum[mid] > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	i = lo
	in := &m.Instruments[i]
	// A random walk of the mid, a tenth of a basis point per step at most.
	step := max(in.mid/100_000, 1)
	in.mid += (m.rng.Int64N(3) - 1) * step
	in.mid = max(in.mid, 10*in.spread)
	t = schema.Tick{Instrument: in.ID, EventTime: eventTime, PriceExp: PriceExp,
		Size: int64(1+m.rng.IntN(10)) * 100}
	switch k := m.rng.IntN(10); {
	case k < 3:
		t.Kind = schema.KindTrade
		t.Price = in.mid + (m.rng.Int64N(3)-1)*in.spread/2
	case k < 7:
		t.Kind = schema.KindBid
		t.Price = in.mid - in.spread/2
	default:
		t.Kind = schema.KindAsk
		t.Price = in.mid + in.spread/2
	}
	return i, t
}

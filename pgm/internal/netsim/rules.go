package netsim

import (
	"math/rand/v2"
	"time"

	"github.com/tickcast/tickcast/pgm/wire"
)

// Fate is what the network does to a packet.
type Fate struct {
	Drop   bool
	Copies int           // extra copies delivered (duplicates)
	Delay  time.Duration // on top of Net.Latency: later packets can overtake it
}

// A Rule decides a packet's Fate.
type Rule func(*Flight) Fate

// Rules combines rules: a packet is dropped if any drops it; copies and
// delays add up.
func Rules(rules ...Rule) Rule {
	return func(f *Flight) Fate {
		var out Fate
		for _, r := range rules {
			fa := r(f)
			out.Drop = out.Drop || fa.Drop
			out.Copies += fa.Copies
			out.Delay += fa.Delay
		}
		return out
	}
}

// Drop drops the nth transmission (1 = the first) of the packets of type
// typ whose first sqn is sqn, on their way to node to (a receiver index,
// SourceNode, or AnyNode).
func Drop(typ wire.Type, sqn uint32, nth, to int) Rule {
	return func(f *Flight) Fate {
		if f.Type == typ && f.Nth == nth && len(f.SQNs) > 0 && f.SQNs[0] == sqn && (to == AnyNode || f.To == to) {
			return Fate{Drop: true}
		}
		return Fate{}
	}
}

// DropAll drops every packet of type typ on its way to node to (a receiver
// index, SourceNode, or AnyNode).
func DropAll(typ wire.Type, to int) Rule {
	return func(f *Flight) Fate {
		return Fate{Drop: f.Type == typ && (to == AnyNode || f.To == to)}
	}
}

// Random drops each packet with the probability given for its type, from a
// seeded generator, so that a run is reproducible.
func Random(seed uint64, loss map[wire.Type]float64) Rule {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(f *Flight) Fate {
		return Fate{Drop: rng.Float64() < loss[f.Type]}
	}
}

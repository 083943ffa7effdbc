package source

// repairBudget caps what NAKs can draw from a source: RDATA and NCFs, in
// bytes, may use at most ratio times the ODATA bytes the source sent, plus a
// floor rate for an idle feed, with credit capped. Anyone who can send a
// datagram to the source can NAK (PGM has no authentication), so without it
// a forged NAK of a few hundred bytes draws up to 63 repairs of 1.5 KB each
// to the whole group, and a flood of them multiplies the feed's traffic.
// With it, repair traffic over any period is at most ratio times the feed's
// own over that period, plus the credit cap and the floor: a bounded factor.
//
// Credit is kept in bytes × 1e9, accrued exactly in integers as bucket does.
type repairBudget struct {
	ratioPermille int64 // credit per ODATA byte, in thousandths; < 0: no budget
	floor         int64 // bytes per second of credit whatever the feed sends
	cap           int64 // bytes
	credit        int64 // bytes × 1e9, at time at
	at            int64 // ns
}

// newRepairBudget returns an empty budget: credit comes from ODATA sent and
// from the floor, never from nothing.
func newRepairBudget(ratioPermille, floor, cap int64) repairBudget {
	return repairBudget{ratioPermille: ratioPermille, floor: floor, cap: cap}
}

func (b *repairBudget) unlimited() bool { return b.ratioPermille < 0 }

// refill accrues the floor's credit up to now.
func (b *repairBudget) refill(now int64) {
	if now <= b.at {
		return
	}
	full := b.cap * nsPerSec
	if el := now - b.at; b.floor > 0 && el >= full/b.floor+1 {
		b.credit = full
	} else {
		b.credit = min(full, b.credit+el*b.floor)
	}
	b.at = now
}

// earn credits the budget for cost bytes of ODATA sent.
func (b *repairBudget) earn(cost int64) {
	if b.unlimited() {
		return
	}
	b.credit = min(b.cap*nsPerSec, b.credit+cost*b.ratioPermille*(nsPerSec/1000))
}

// take charges cost bytes of repair traffic at now if the credit covers it.
func (b *repairBudget) take(now, cost int64) bool {
	if b.unlimited() {
		return true
	}
	b.refill(now)
	if b.credit < cost*nsPerSec {
		return false
	}
	b.credit -= cost * nsPerSec
	return true
}

// readyAt returns when the floor alone will have made cost bytes of credit;
// never (a large time) without a floor: only ODATA can earn it then.
func (b *repairBudget) readyAt(cost int64) int64 {
	if b.unlimited() {
		return b.at
	}
	need := cost*nsPerSec - b.credit
	if need <= 0 {
		return b.at
	}
	if b.floor == 0 {
		return 1<<63 - 1
	}
	return b.at + (need+b.floor-1)/b.floor
}

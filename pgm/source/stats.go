package source

// Stats are a Source's counters since New. Packet counts are packets; the
// NAK and repair counts are sequence numbers where the name says SQNs.
type Stats struct {
	ODATASent  uint64 // ODATA packets returned by Send
	ODATABytes uint64 // their payload bytes
	RDATASent  uint64 // repairs returned by Poll
	SPMsSent   uint64 // SPMs returned by Poll, OPT_FIN ones included
	NCFsSent   uint64 // NCFs returned by Poll

	RateLimited uint64 // Send calls refused by the rate limit

	NAKs        uint64 // valid NAKs received (each got an NCF unless NCFsDropped)
	NAKSQNs     uint64 // sequence numbers requested by valid NAKs
	SPMRs       uint64 // valid SPMRs received (each makes an SPM go out at once)
	NCFsDropped uint64 // NCFs not sent because too many were waiting (a NAK flood)
	// NCFs not sent because the repair budget (RepairRatio) was spent.
	NCFsOverBudget uint64

	// Why requested sequence numbers were not queued for repair.
	RepairsQueued      uint64 // queued for RDATA
	RepairsPending     uint64 // already queued: a duplicate NAK
	RepairsHeldOff     uint64 // repaired less than RepairHoldoff ago
	RepairsOutOfWindow uint64 // sent, but no longer in the transmit window
	RepairsNeverSent   uint64 // beyond the lead: never sent (left out of the NCF)
	RepairsSuppressed  uint64 // MaxQueuedRepairs were already waiting (a NAK flood)

	// Why received packets were ignored.
	IgnoredParse      uint64 // HandleDatagram could not parse it
	IgnoredDownstream uint64 // SPM, ODATA, RDATA, NCF (our own looped back, or other sources)
	IgnoredNNAK       uint64 // N-NAKs (only meaningful to network elements)
	IgnoredPort       uint64 // ports not ours
	IgnoredTSI        uint64 // another source's GSI or source port
	IgnoredNLA        uint64 // NAK naming another source NLA (OpenPGM: silently ignored)
	IgnoredGroup      uint64 // NAK naming another group
	IgnoredClosed     uint64 // received after Close
}

package receiver

// Stats are a Receiver's counters since New.
type Stats struct {
	// Packets handled, by type.
	ODATA, RDATA, SPMs, NCFs uint64

	// Dropped packets, by reason.
	DroppedParse      uint64 // HandleDatagram could not parse it (bad checksum, truncated, ...)
	DroppedPort       uint64 // downstream packet for another data-destination port
	DroppedIgnored    uint64 // from an ignored TSI
	DroppedMalformed  uint64 // TSDU length mismatch, sqn-trail ≥ 2^31-1, nonsense SPM window
	DroppedPeers      uint64 // new session refused: MaxPeers reached
	DroppedUnknown    uint64 // NCF for a session without a window
	DroppedDuplicates uint64 // data already held or delivered
	DroppedOld        uint64 // data behind the window
	DroppedOldSPM     uint64 // SPM sequence number went backwards
	DroppedUpstream   uint64 // NAKs and N-NAKs of other receivers
	DroppedOther      uint64 // POLL, POLR, ACK, ... (after parsing)
	// DroppedImplausible: data, or an SPM, whose sequence number was
	// further ahead of the window than the source can have gone since it
	// was last heard (see Config.MaxJump): forged, most likely. The window
	// did not move.
	DroppedImplausible uint64
	DroppedFinished    uint64 // from a session that ended with OPT_FIN

	// Sessions.
	PeersNew, PeersExpired uint64
	// PeersEvicted: sessions expired early to make room for a new one at
	// MaxPeers (the stalest, preferring one never confirmed by an SPM).
	PeersEvicted uint64
	// PeersUnconfirmed: sessions expired after UnconfirmedExpiry without
	// an SPM.
	PeersUnconfirmed uint64

	// Repair.
	Placeholders  uint64 // missing sequence numbers detected
	NAKsSent      uint64 // NAK packets
	NAKSQNsSent   uint64 // sequence numbers in them
	SPMRsSent     uint64 // SPMR packets (unicast and multicast counted apart)
	SPMRsHeard    uint64 // other receivers' SPMRs, which suppress ours
	Repaired      uint64 // missing sequence numbers filled by data
	LateRecovered uint64 // ... of which had already been given up but not yet reported
	Rejoins       uint64 // jumps beyond the window, handled as a new join
	NCFsBeyond    uint64 // NCF sequence numbers beyond the lead, ignored

	// Why sequence numbers were given up. A sqn counted here can still be
	// filled by late data before it reaches the application (LateRecovered).
	LostNCFRetries  uint64 // NAK_NCF_RETRIES exhausted
	LostDataRetries uint64 // NAK_DATA_RETRIES exhausted
	LostTrail       uint64 // the source's advertised trail passed it
	LostNoSPM       uint64 // no SPM, hence nowhere to send a NAK
	LostUnusable    uint64 // data we cannot deliver: a fragment of a multi-TPDU APDU, or larger than MaxTSDU
	LostExpired     uint64 // still missing when its peer expired
	LostEvicted     uint64 // still missing when the window overflowed
	EvictedData     uint64 // received but not yet delivered when the window overflowed (a slow consumer)
	LostJumped      uint64 // skipped by a rejoin
	LostFin         uint64 // still missing when the source said it had closed (OPT_FIN)

	// What the application got.
	Delivered  uint64 // EventData
	LossEvents uint64 // EventLoss
	LostSQNs   uint64 // sequence numbers in them
}

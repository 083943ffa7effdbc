package pgmline

import "github.com/tickcast/tickcast/port"

var (
	_ port.Instrumented = (*Sender)(nil)
	_ port.Instrumented = (*Receiver)(nil)
)

func counter(name, help string, v uint64) port.Metric {
	return port.Metric{Name: name, Help: help, Counter: true, Value: float64(v)}
}

func gauge(name, help string, v float64) port.Metric {
	return port.Metric{Name: name, Help: help, Value: v}
}

// AppendMetrics appends the PGM source's counters: what it sent (ODATA,
// RDATA, SPMs, NCFs), the repair requests it heard (NAKs) and what became
// of them, and its backlog.
func (s *Sender) AppendMetrics(dst []port.Metric) []port.Metric {
	st := s.pub.Stats()
	src := st.Sender.Source
	return append(dst,
		counter("pgm_odata_sent_total", "ODATA packets sent (original data).", src.ODATASent),
		counter("pgm_odata_sent_bytes_total", "Payload bytes of the ODATA packets sent.", src.ODATABytes),
		counter("pgm_rdata_sent_total", "RDATA packets sent (repairs).", src.RDATASent),
		counter("pgm_spms_sent_total", "SPM packets sent.", src.SPMsSent),
		counter("pgm_ncfs_sent_total", "NCF packets sent (NAK confirmations).", src.NCFsSent),
		counter("pgm_naks_received_total", "Valid NAKs received: receivers asking for repairs.", src.NAKs),
		counter("pgm_nak_sqns_received_total", "Sequence numbers asked for by the NAKs received.", src.NAKSQNs),
		counter("pgm_spmrs_received_total", "Valid SPMRs received.", src.SPMRs),
		counter("pgm_repairs_out_of_window_total", "Repairs asked for that had left the transmit window (unrecoverable for that receiver).", src.RepairsOutOfWindow),
		counter("pgm_repairs_suppressed_total", "Repairs not queued because too many were waiting (a NAK flood).", src.RepairsSuppressed),
		counter("pgm_ncfs_dropped_total", "NCFs not sent: too many waiting, or the repair budget spent.", src.NCFsDropped+src.NCFsOverBudget),
		counter("pgm_rate_limited_total", "Sends held back by the rate limit.", src.RateLimited),
		counter("pgm_ignored_packets_total", "Packets received and ignored (unparsable, another source's, another port's).",
			src.IgnoredParse+src.IgnoredDownstream+src.IgnoredNNAK+src.IgnoredPort+src.IgnoredTSI+src.IgnoredNLA+src.IgnoredGroup+src.IgnoredClosed),
		counter("pgm_send_errors_total", "Datagrams the kernel refused to send.", st.Sender.SendErrors),
		gauge("pgm_window_sqns", "Sequence numbers in the transmit window now.", float64(st.Sender.WindowSQNs)),
		gauge("pgm_backlog_bytes", "Bytes packed and waiting for the rate limit.", float64(st.Backlog)),
	)
}

// AppendMetrics appends the PGM receiver's counters: the data and repairs
// it received, the NAKs it sent, what it repaired and what it lost, and
// what it dropped.
func (s *Receiver) AppendMetrics(dst []port.Metric) []port.Metric {
	st := s.sub.Stats()
	queued, capacity := s.sub.Queued()
	r := st.Receiver.Receiver
	lost := r.LostNCFRetries + r.LostDataRetries + r.LostTrail + r.LostNoSPM + r.LostUnusable +
		r.LostExpired + r.LostEvicted + r.LostJumped + r.LostFin
	dropped := r.DroppedParse + r.DroppedPort + r.DroppedIgnored + r.DroppedMalformed + r.DroppedPeers +
		r.DroppedUnknown + r.DroppedUpstream + r.DroppedOther + r.DroppedImplausible + r.DroppedFinished
	return append(dst,
		counter("pgm_odata_received_total", "ODATA packets received (original data).", r.ODATA),
		counter("pgm_rdata_received_total", "RDATA packets received (repairs).", r.RDATA),
		counter("pgm_spms_received_total", "SPM packets received.", r.SPMs),
		counter("pgm_ncfs_received_total", "NCF packets received.", r.NCFs),
		counter("pgm_naks_sent_total", "NAK packets sent: repairs asked for.", r.NAKsSent),
		counter("pgm_nak_sqns_sent_total", "Sequence numbers asked for in the NAKs sent.", r.NAKSQNsSent),
		counter("pgm_spmrs_sent_total", "SPMR packets sent.", r.SPMRsSent),
		counter("pgm_missing_sqns_total", "Sequence numbers found missing (each then repaired or lost).", r.Placeholders),
		counter("pgm_repaired_sqns_total", "Missing sequence numbers filled by a repair or late data.", r.Repaired),
		counter("pgm_lost_sqns_total", "Sequence numbers given up as unrecoverable.", lost),
		counter("pgm_loss_events_total", "Unrecoverable losses reported to the feed.", r.LossEvents),
		counter("pgm_evicted_sqns_total", "Received data evicted from the window before the application took it (a slow consumer).", r.EvictedData),
		counter("pgm_duplicate_packets_total", "Data packets received that were already held or delivered.", r.DroppedDuplicates),
		counter("pgm_old_packets_total", "Data packets received behind the window.", r.DroppedOld),
		counter("pgm_dropped_packets_total", "Packets dropped as malformed, implausible, foreign or of a finished session.", dropped),
		counter("pgm_sessions_total", "PGM sources (sessions) heard.", r.PeersNew),
		counter("pgm_datagrams_received_total", "Datagrams read from the socket.", st.Receiver.Datagrams),
		counter("pgm_read_errors_total", "Failed socket reads.", st.Receiver.ReadErrors),
		counter("pgm_stalls_total", "Rounds that ended with the application's queue full.", st.Receiver.Stalls),
		counter("pgm_malformed_messages_total", "Malformed ZeroMQ frames in the PGM stream (the stream resynchronised).", st.Malformed),
		counter("pgm_discarded_messages_total", "Messages cut by loss, dropped whole.", st.Discarded),
		gauge("pgm_window_used_sqns", "Sequence numbers held in the receive windows now: received or missing, not yet delivered.", float64(st.Receiver.WindowUsed)),
		gauge("pgm_window_capacity_sqns", "Sequence numbers the receive windows can hold, across the sources heard.", float64(st.Receiver.WindowSQNs)),
		gauge("pgm_queued_batches", "Batches of messages decoded and waiting for the application now.", float64(queued)),
		gauge("pgm_queue_capacity_batches", "How many batches may wait for the application; a queue that stays full overruns the PGM window.", float64(capacity)),
	)
}

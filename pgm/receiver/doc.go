// Package receiver is the receiving side of PGM (RFC 3208) as OpenPGM 5.3
// under libzmq 4.3 runs it, without I/O: a state machine driven by the
// caller's clock, for every session (TSI) heard on one socket. It keeps a
// receive window per session, detects gaps, runs the NAK state machine,
// and delivers each session's data in order, reporting what cannot be
// recovered exactly where it was lost.
//
// A socket adapter owns the sockets and one goroutine per Receiver:
//
//	r, err := receiver.New(cfg, time.Now())
//	for {
//		now := time.Now()
//		for {
//			tx, ok := r.Poll(now)
//			if !ok {
//				break
//			}
//			if tx.Multicast {
//				sendTo(tx.Packet, group, ttl1) // SPMR to the group
//			} else {
//				sendTo(tx.Packet, tx.To, port) // NAK to the NLA, SPMR to the source
//			}
//		}
//		for {
//			ev, ok := r.Next()
//			if !ok {
//				break
//			}
//			switch ev.Kind {
//			case receiver.EventPeerNew:
//				decoders[ev.TSI] = new(apdu.Decoder)
//			case receiver.EventData:
//				decoders[ev.TSI].Feed(ev.Payload) // then its messages with Next
//			case receiver.EventLoss:
//				decoders[ev.TSI].Reset()
//			case receiver.EventPeerExpired:
//				delete(decoders, ev.TSI)
//			}
//		}
//		// Sleep until r.Deadline() (zero: no timer) or a datagram.
//		if datagram {
//			r.HandleDatagram(time.Now(), ipSource, b)
//		} else {
//			r.HandleTimeout(time.Now())
//		}
//	}
//
// Packets and payloads returned are views into the Receiver, valid until its
// next call; data is copied once, from the caller's datagram into the
// window. Nothing is allocated per packet once each window slot has been
// used.
//
// # The promise
//
// For every session, from its join point (the first ODATA/RDATA heard, or
// the lead+1 of the first SPM) to the last sequence number heard of, each
// number is delivered (EventData) or reported lost (EventLoss), exactly once
// and in order. Nothing is lost silently: a number is lost when the NAK
// retries run out, when the source's advertised trail passes it (once that
// trail has passed the join point: a late joiner never reports history),
// when no SPM says where to NAK, when the window overflows (the application
// reads too slowly, or the network dropped more than the window holds), or
// when the session expires.
//
// # Behaviour
//
// As OpenPGM (rxw.c, receiver.c): late join at the live position with no
// backfill; one placeholder per missing sqn, those of one packet sharing a
// back-off drawn uniformly in [1 µs, NAK_BO_IVL); expired back-offs sent
// oldest first as one NAK (OPT_NAK_LIST for up to 62 more), unicast to the
// SPM's path NLA; WAIT_NCF for NAK_RPT_IVL and WAIT_DATA for NAK_RDATA_IVL,
// each expiry a retry through a new back-off until NAK_NCF_RETRIES or
// NAK_DATA_RETRIES; NCFs suppress NAKs and extend the window; SPM leads
// extend it too (tail loss detection); SPMR after SPMR_EXPIRY without an
// SPM, unicast to the source's IP and to the group with TTL 1; peers expire
// PeerExpiry after their last SPM. Timers default to libzmq's values and
// are all configurable; the back-off randomness is injectable.
//
// # Deviations from OpenPGM, and why
//
//   - Timers run whenever the caller calls with a clock, and Deadline says
//     when: libzmq runs them only when a packet arrives, so a gap followed
//     by silence is never NAKed there.
//   - No SPM yet, hence no NLA to NAK: OpenPGM gives the sqn up at once. We
//     send an SPMR (at most one per NAK_RPT_IVL per peer) and wait until
//     NAK_RPT_IVL after it; the sqn is lost only if no SPM came by then.
//   - A jump further than the window holds (a data sqn or SPM lead more than
//     WindowSQNs beyond the lead) is handled as a new join: everything
//     before it is reported lost in one event, with no placeholders and no
//     NAKs for the skipped numbers. OpenPGM loops over every skipped number,
//     which a forged sqn can make 2^31 iterations. PGM has no
//     authentication: a forged packet of a session can still move its
//     window; the cost is bounded.
//   - NCFs extend the window only within its capacity.
//   - Placeholders that the advertised trail has already passed are lost at
//     once instead of being NAKed.
//   - The first SPM of a session is accepted whatever its sqn (OpenPGM
//     compares it with 0 and drops one from the upper half of the space).
//   - No duplicate plain NAK after a NAK list.
//   - Data that cannot be delivered as one TSDU (a fragment of a multi-TPDU
//     APDU, which libzmq never sends and aborts on, or a payload larger than
//     MaxTSDU) is reported lost in its place.
//   - Delivered data is released at once (views are valid until the next
//     call), so the window holds only undelivered data.
//   - The window is indexed relative to its trail, not by sqn modulo its
//     size, which breaks at the 2^32 wrap for sizes that are not powers of
//     two.
//   - An expired session drains: what it holds is delivered, then
//     EventPeerExpired; if its TSI is heard again meanwhile, the new peer's
//     events wait for that.
//   - Bounded resources: at most MaxPeers sessions (16), a window of
//     WindowSQNs slots each, slot buffers allocated on first use.
package receiver

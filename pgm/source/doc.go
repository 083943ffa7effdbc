// Package source is the sending side of a PGM session (RFC 3208) as OpenPGM
// 5.3 under libzmq 4.3 runs it, without I/O: a state machine driven by the
// caller's clock. It keeps the transmit window, numbers and encodes ODATA,
// paces it with a rate limit, schedules SPMs, and answers NAKs with NCFs and
// repairs (RDATA).
//
// A socket adapter owns the sockets and one goroutine per Source:
//
//	src, err := source.New(cfg, time.Now())
//	var apdu []byte // the APDU waiting for the rate limit, if any
//	for {
//		now := time.Now()
//		for pkt := src.Poll(now); pkt != nil; pkt = src.Poll(now) {
//			send(pkt) // to the group: SPM, NCF, RDATA
//		}
//		for {
//			if apdu == nil {
//				apdu = packer.Next() // apdu.Packer; nil when nothing waits
//			}
//			if apdu == nil || now.Before(src.SendTime(len(apdu))) {
//				break
//			}
//			pkt, _ := src.Send(now, apdu)
//			send(pkt) // to the group: ODATA
//			apdu = nil
//		}
//		wake := src.Deadline()
//		if apdu != nil {
//			wake = earliest(wake, src.SendTime(len(apdu)))
//		}
//		// Sleep until wake, a datagram on the unicast socket NAKs and SPMRs
//		// arrive on, or new messages for the packer.
//		switch {
//		case datagram:
//			src.HandleDatagram(time.Now(), b) // or HandlePacket if already parsed
//		default:
//			src.HandleTimeout(time.Now())
//		}
//	}
//
// Every packet goes to the group. Returned packets are views into the
// Source, valid until its next call. Nothing is allocated per packet.
//
// # Behaviour
//
// As OpenPGM: ODATA numbered from FirstSQN (0) with the trail written
// before the packet is added; an empty window advertised as trail 0, lead
// 0xFFFFFFFF; three SPMs at start; heartbeat SPMs at +0.1, +0.2, +0.3,
// +0.4, +0.5, +1.8, +8.8 and +24.8 s after the last data; an ambient SPM
// every 30 s; an SPM at once for an SPMR; three SPMs with OPT_FIN on
// Close; NAKs accepted only when addressed to the session exactly (ports,
// GSI, source NLA, group), confirmed at once with an NCF mirroring the NAK,
// even for sqns that have left the window; RDATA built from the stored
// ODATA in place (wire.ToRDATA) with the current trail; the rate limit
// charging each packet its length plus 28 bytes, with OpenPGM's bucket size.
//
// # Deviations from OpenPGM, and why
//
//   - Repairs go out at once. libzmq's PUB emits one queued RDATA per
//     wakeup (up to 30 s when idle); repair time is tail latency.
//   - RDATA is not rate limited by default (RepairRate 0); when limited, it
//     has a bucket of its own, so repairs never wait behind ODATA.
//   - Sequence numbers beyond the lead (never sent) are left out of the
//     NCF, and a NAK naming only such numbers gets none: confirming them
//     would make every receiver extend its window to numbers that do not
//     exist and NAK them in turn.
//   - A NAK for a sqn repaired less than RepairHoldoff (1 ms) ago gets its
//     NCF but no second RDATA: it crossed the repair in flight (OpenPGM
//     receivers follow a NAK list with a duplicate plain NAK; several
//     receivers NAK the same loss).
//   - Bounded work under floods: at most 64 NCFs wait for Poll (NCFsDropped
//     counts the rest), each sqn is queued for repair at most once, SPMRs
//     arriving between two polls share one SPM, and a caller that oversleeps
//     gets one SPM per timer, not a burst of the missed ones.
//   - Defaults: 100 Mbit/s and a 1 s window (8333 packets) instead of
//     libzmq's 100 kbit/s and 10 s, which would starve a feed and, at
//     100 Mbit/s, need a 120 MB window. LibzmqRate and
//     LibzmqRecoveryInterval restore libzmq's 80-packet window for interop
//     tests.
package source

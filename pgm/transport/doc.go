// Package transport puts tickcast's PGM state machines on sockets: a Sender
// drives a pgm/source.Source and a Receiver a pgm/receiver.Receiver, each
// from one goroutine, over EPGM (PGM in UDP, epgm://) or raw PGM (IP
// protocol 113, pgm://), as libzmq 4.3 / OpenPGM 5.3 put them on the wire.
//
// Endpoints are parsed as libzmq parses them (ParseEndpoint), with the
// interface always named: multicast is sent from and joined on that
// interface and no other, with a TTL of 1 unless asked otherwise.
//
// Datagrams move in batches, recvmmsg and sendmmsg on headers and buffers
// allocated once, inside syscall.RawConn callbacks so that the Go runtime's
// poller does the waiting. The ODATA rate limit runs on the clock the loop
// reads anyway (no system call per packet); waits shorter than the
// runtime's timer granularity are spent yielding, and the rate bucket holds
// two milliseconds of sending so that a late timer costs no throughput.
//
// Socket layout (see Sender and Receiver), chosen so that tickcast and
// libzmq peers share a host without stealing each other's unicast NAKs:
// the source binds its unicast socket to the interface's address and the
// endpoint's port with SO_REUSEPORT; the receiver binds to the group and
// port with SO_REUSEADDR and SO_REUSEPORT, IP_MULTICAST_ALL off.
//
// Linux only: elsewhere opening a socket fails with ErrUnsupported.
package transport

// Package pgm is tickcast's pure-Go implementation of PGM (RFC 3208) and
// its UDP encapsulation EPGM, interoperable with libzmq 4.3 / OpenPGM 5.3.
//
// The stack is layered in subpackages:
//
//   - [github.com/tickcast/tickcast/pgm/wire]: the packet codec (headers,
//     SPM, ODATA/RDATA, NAK/N-NAK/NCF, SPMR, options, checksum, NLAs, the
//     IPv4 header of raw PGM). No I/O, no allocation on the hot paths.
//
//   - [github.com/tickcast/tickcast/pgm/sqn]: 32-bit serial-number
//     arithmetic for PGM sequence numbers.
//
//   - [github.com/tickcast/tickcast/pgm/apdu]: how libzmq carries ZeroMQ
//     messages over PGM: ZMTP/1.0 frames packed into APDUs with a 2-byte
//     message offset, and the matching stream decoder.
//
//   - [github.com/tickcast/tickcast/pgm/source]: the sending side of a
//     session without I/O: transmit window, rate limit, SPM schedule,
//     NAK/NCF/RDATA repair.
//
//   - [github.com/tickcast/tickcast/pgm/receiver]: the receiving side
//     without I/O: per-session receive windows, the NAK state machine, and
//     in-order delivery with every loss reported in place.
//
//   - [github.com/tickcast/tickcast/pgm/transport]: the sockets. Endpoint
//     parsing (epgm://iface;group:port, pgm://...), a Sender driving a
//     source and a Receiver driving a receiver, each from one goroutine,
//     with batched recvmmsg/sendmmsg and no allocation per packet.
//
//   - [github.com/tickcast/tickcast/pgm/zmq]: ZeroMQ PUB and SUB sockets
//     over PGM, as libzmq frames messages: multipart messages packed into
//     APDUs, one decoder per source, local prefix filtering, loss events.
//
//   - [github.com/tickcast/tickcast/pgm/pgmline]: a port.Sink (Sender)
//     and a port.Source (Receiver) on those sockets, which package endpoint opens
//     for epgm:// and pgm:// endpoints.
//
// Sockets drive source and receiver with parsed packets and the current
// time, send what they return, and sleep until their deadline.
package pgm

// Package pgm is tickcast's pure-Go implementation of PGM (RFC 3208) and
// its UDP encapsulation EPGM, interoperable with libzmq 4.3 / OpenPGM 5.3.
//
// The stack is layered in subpackages:
//
//   - [github.com/tickcast/tickcast/pgm/wire]: the packet codec (headers,
//     SPM, ODATA/RDATA, NAK/N-NAK/NCF, SPMR, options, checksum, NLAs, the
//     IPv4 header of raw PGM). No I/O, no allocation on the hot paths.
//   - [github.com/tickcast/tickcast/pgm/sqn]: 32-bit serial-number
//     arithmetic for PGM sequence numbers.
//   - [github.com/tickcast/tickcast/pgm/apdu]: how libzmq carries ZeroMQ
//     messages over PGM: ZMTP/1.0 frames packed into APDUs with a 2-byte
//     message offset, and the matching stream decoder.
//
// The protocol state machines (transmit and receive windows, NAK timers) and
// the sockets build on these packages.
package pgm

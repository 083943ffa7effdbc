// Package wire encodes and decodes PGM packets (RFC 3208 §8, §9) as OpenPGM
// 5.3 puts them on the wire, for both raw PGM (IP protocol 113) and EPGM (PGM
// directly inside a UDP payload).
//
// Encoding appends to a caller's buffer: every packet type has Len, which is
// the exact encoded size, and Append, which writes the header, the body, the
// options and the payload and fills in the checksum. With enough capacity in
// the buffer nothing is allocated.
//
// Decoding never panics and never allocates. [ParsePacket] fills a
// caller-owned [Packet] for receive loops; each packet type also has a Parse
// method. Parsed payloads are not copied: [Data.Payload] points into the
// input. Errors wrap the sentinel errors of this package (ErrTruncated,
// ErrBadChecksum, ...) and can be tested with errors.Is.
//
// Packet structs describe a packet by its meaning, not by its header layout:
// every packet carries the TSI of the source session and the data-destination
// port, and Append puts them in the header the right way round (downstream
// packets carry sport=TSI.SPort, dport=DataPort; upstream NAK, N-NAK and SPMR
// carry them swapped). The raw header is available as [Header].
package wire

package wire

import (
	"encoding/binary"
	"strconv"
)

// HeaderLen is the size of the common PGM header (RFC 3208 §8).
const HeaderLen = 16

// Type is a PGM packet type (RFC 3208 §8, OpenPGM packet.h enum pgm_type_e).
// The top two bits of the type byte are the PGM version, which must be 0.
type Type uint8

// Packet types. POLL, POLR and ACK are recognised but not implemented.
const (
	TypeSPM   Type = 0x00 // PGM_SPM, source path message (§8.1)
	TypePOLL  Type = 0x01 // PGM_POLL, poll request (§14.7.1)
	TypePOLR  Type = 0x02 // PGM_POLR, poll response (§14.7.2)
	TypeODATA Type = 0x04 // PGM_ODATA, original data (§8.2)
	TypeRDATA Type = 0x05 // PGM_RDATA, repair data (§8.2)
	TypeNAK   Type = 0x08 // PGM_NAK, negative acknowledgement (§8.3)
	TypeNNAK  Type = 0x09 // PGM_NNAK, null NAK (§8.3)
	TypeNCF   Type = 0x0A // PGM_NCF, NAK confirmation (§8.3)
	TypeSPMR  Type = 0x0C // PGM_SPMR, SPM request (§13.6)
	TypeACK   Type = 0x0D // PGM_ACK, PGMCC congestion-control ACK
)

// Header option flags: the options byte of the common header (RFC 3208 §8,
// OpenPGM packet.h). Append derives HdrOptPresent and HdrOptNetwork from the
// options it encodes.
const (
	HdrOptPresent   = 0x01 // PGM_OPT_PRESENT: option extensions follow the body
	HdrOptNetwork   = 0x02 // PGM_OPT_NETWORK: a network-significant option (NAK list, parity parameters) is present
	HdrOptVarPktLen = 0x40 // PGM_OPT_VAR_PKTLEN: FEC parity packet of variable-length data
	HdrOptParity    = 0x80 // PGM_OPT_PARITY: FEC parity packet
)

const versionMask = 0xC0

var typeNames = [...]string{
	TypeSPM: "SPM", TypePOLL: "POLL", TypePOLR: "POLR", TypeODATA: "ODATA",
	TypeRDATA: "RDATA", TypeNAK: "NAK", TypeNNAK: "NNAK", TypeNCF: "NCF",
	TypeSPMR: "SPMR", TypeACK: "ACK",
}

// String returns the RFC name of the type, or its value in hex.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "Type(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}

// Known reports whether t is one of the PGM packet types.
func (t Type) Known() bool {
	return int(t) < len(typeNames) && typeNames[t] != ""
}

// Upstream reports whether packets of type t travel from receivers towards
// the source (NAK, N-NAK, SPMR, POLR, ACK). Their header carries the
// data-destination port as sport and the source's TSI sport as dport
// (OpenPGM PGM_IS_UPSTREAM).
func (t Type) Upstream() bool {
	switch t {
	case TypeNAK, TypeNNAK, TypeSPMR, TypePOLR, TypeACK:
		return true
	}
	return false
}

// GSI is a Global Source Identifier (RFC 3208 §3), 6 bytes. Any value
// interoperates; libzmq derives it from random bytes.
type GSI [6]byte

// String formats the GSI as OpenPGM does: six decimal bytes separated by dots.
func (g GSI) String() string {
	b := make([]byte, 0, 24)
	for i, v := range g {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return string(b)
}

// TSI is a Transport Session Identifier (RFC 3208 §3): the GSI and source port
// of a sending session. It identifies a source; receivers key their per-peer
// state by it.
type TSI struct {
	GSI   GSI
	SPort uint16 // data-source port
}

// String formats the TSI as OpenPGM's pgm_tsi_print does: "g.s.i.g.s.i.sport".
func (t TSI) String() string {
	return t.GSI.String() + "." + strconv.FormatUint(uint64(t.SPort), 10)
}

// Header is the common PGM header exactly as on the wire (RFC 3208 §8).
type Header struct {
	SourcePort uint16
	DestPort   uint16
	Type       Type   // the type byte; ParseHeader requires its version bits to be 0
	Options    uint8  // HdrOpt* flags
	Checksum   uint16 // 0 means "no checksum"
	GSI        GSI
	TSDULength uint16 // payload length of ODATA/RDATA, 0 otherwise
}

// ParseHeader decodes the common header at the start of b. It checks only the
// length and the version; the packet type is not interpreted.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, errShortHeader
	}
	if b[4]&versionMask != 0 {
		return Header{}, ErrBadVersion
	}
	h := Header{
		SourcePort: binary.BigEndian.Uint16(b[0:]),
		DestPort:   binary.BigEndian.Uint16(b[2:]),
		Type:       Type(b[4]),
		Options:    b[5],
		Checksum:   binary.BigEndian.Uint16(b[6:]),
		TSDULength: binary.BigEndian.Uint16(b[14:]),
	}
	copy(h.GSI[:], b[8:14])
	return h, nil
}

// Append appends the 16 header bytes as they are in h, checksum included.
func (h *Header) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, h.SourcePort)
	b = binary.BigEndian.AppendUint16(b, h.DestPort)
	b = append(b, byte(h.Type), h.Options)
	b = binary.BigEndian.AppendUint16(b, h.Checksum)
	b = append(b, h.GSI[:]...)
	return binary.BigEndian.AppendUint16(b, h.TSDULength)
}

// TSI returns the TSI of the source session the packet belongs to: the GSI
// with the source's port, which upstream packets carry in DestPort.
func (h *Header) TSI() TSI {
	if h.Type.Upstream() {
		return TSI{GSI: h.GSI, SPort: h.DestPort}
	}
	return TSI{GSI: h.GSI, SPort: h.SourcePort}
}

// DataPort returns the data-destination port, which upstream packets carry in
// SourcePort.
func (h *Header) DataPort() uint16 {
	if h.Type.Upstream() {
		return h.SourcePort
	}
	return h.DestPort
}

// appendHeader starts a packet of type t: the header with a zero checksum,
// to be filled in by finish once the packet is complete.
func appendHeader(b []byte, t Type, tsi TSI, dataPort uint16, opts *Options, tsdu int) ([]byte, error) {
	if tsdu > 0xFFFF {
		return b, errTooLong
	}
	h := Header{Type: t, GSI: tsi.GSI, TSDULength: uint16(tsdu), Options: opts.headerFlags()}
	h.SourcePort, h.DestPort = tsi.SPort, dataPort
	if t.Upstream() {
		h.SourcePort, h.DestPort = dataPort, tsi.SPort
	}
	return h.Append(b), nil
}

// finish writes the checksum of the packet that starts at b[start:].
func finish(b []byte, start int) []byte {
	pkt := b[start:]
	binary.BigEndian.PutUint16(pkt[6:], Checksum(pkt))
	return b
}

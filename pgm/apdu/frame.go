// Package apdu carries ZeroMQ messages over PGM the way libzmq 4.3 does
// (pgm_sender.cpp, pgm_receiver.cpp, v1_encoder.cpp, v1_decoder.cpp).
//
// Messages are encoded as ZMTP/1.0 ("v1") frames into one continuous byte
// stream per source. The stream is cut into APDUs, each sent as the payload of
// one ODATA packet, each starting with a 2-byte big-endian offset: where in
// the rest of the APDU the first message begins, or NoOffset if none does. A
// receiver joining mid-stream uses the offset to find a message boundary.
//
// [Packer] builds APDUs on the send side; [Decoder] turns a source's APDUs
// back into messages on the receive side. Neither does I/O, and both reuse
// their buffers, so they allocate nothing once warmed up.
package apdu

import "encoding/binary"

// FlagMore is the v1 frame flag meaning another frame of the same message
// follows. Other flag bits are sent as 0 and ignored on receipt.
const FlagMore = 0x01

// maxShortBody is the largest body with the 1-byte length form: the length
// byte holds body+1 (the flags byte is counted) and 0xFF announces the long
// form.
const maxShortBody = 253

// FrameLen returns the encoded size of a v1 frame with an n-byte body.
func FrameLen(n int) int {
	if n <= maxShortBody {
		return 2 + n
	}
	return 10 + n
}

// AppendFrame appends a v1 frame: [n+1 : u8][flags][body] for a body of at
// most 253 bytes, else [0xFF][n+1 : u64 big-endian][flags][body].
func AppendFrame(b, body []byte, more bool) []byte {
	b = appendFrameHeader(b, len(body), more)
	return append(b, body...)
}

func appendFrameHeader(b []byte, n int, more bool) []byte {
	if n <= maxShortBody {
		b = append(b, byte(n+1))
	} else {
		b = append(b, 0xFF)
		b = binary.BigEndian.AppendUint64(b, uint64(n)+1)
	}
	if more {
		return append(b, FlagMore)
	}
	return append(b, 0)
}

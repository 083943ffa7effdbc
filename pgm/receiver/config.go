package receiver

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/tickcast/tickcast/pgm/sqn"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Defaults: libzmq 4.3's values (pgm_socket.cpp) for the NAK timers, SPMR and
// peer expiry. The window follows tickcast's source defaults (see sqn.Window).
const (
	DefaultNAKBackoffInterval = 50 * time.Millisecond  // PGM_NAK_BO_IVL
	DefaultNAKRepeatInterval  = 200 * time.Millisecond // PGM_NAK_RPT_IVL
	DefaultNAKRDataInterval   = 200 * time.Millisecond // PGM_NAK_RDATA_IVL
	DefaultNAKNCFRetries      = 50                     // PGM_NAK_NCF_RETRIES
	DefaultNAKDataRetries     = 50                     // PGM_NAK_DATA_RETRIES
	DefaultSPMRExpiry         = 25 * time.Millisecond  // PGM_SPMR_EXPIRY
	DefaultPeerExpiry         = 300 * time.Second      // PGM_PEER_EXPIRY

	// DefaultRate and DefaultRecoveryInterval size the window as the
	// source's defaults do (100 Mbit/s for 1 s: 8333 packets). LibzmqRate
	// and LibzmqRecoveryInterval give libzmq's 80.
	DefaultRate             = 12_500_000 // bytes per second
	DefaultRecoveryInterval = time.Second
	LibzmqRate              = 12_500
	LibzmqRecoveryInterval  = 10 * time.Second
	DefaultMaxTPDU          = 1500

	// DefaultMaxPeers bounds the sessions tracked at once. Each costs
	// about 60 bytes per window slot up front plus up to MaxTSDU per slot
	// as data arrives, so a flood of forged TSIs is bounded by MaxPeers
	// windows. When the table is full, a new session takes the place of
	// the stalest one, preferring one never confirmed by an SPM.
	DefaultMaxPeers = 16
	// DefaultUnconfirmedExpiry is how long a session that never sent an
	// SPM is kept: a real source sends SPMs after its data and answers the
	// SPMR a new session draws within milliseconds; a forged one sends
	// none, and must not hold a place for the 300 s of PeerExpiry.
	DefaultUnconfirmedExpiry = 5 * time.Second
	// DefaultJumpConfirm bounds how long a sequence number far ahead of a
	// session's window waits to be believed; see Config.MaxJump.
	DefaultJumpConfirm = 2 * time.Second
)

// Config configures a Receiver. DataPort and Group are required; every other
// zero field takes its default.
type Config struct {
	// DataPort is the data-destination port: downstream packets must carry
	// it, and NAKs and SPMRs carry it as their source port.
	DataPort uint16
	// Group is the multicast group: the group NLA of NAKs, and where
	// multicast SPMRs go.
	Group netip.Addr

	// WindowSQNs is the receive window per peer, in packets: how far data
	// may run ahead of the oldest packet not yet delivered or given up.
	// 0 means libzmq's computation from Rate, RecoveryInterval and MaxTPDU
	// (see sqn.Window).
	WindowSQNs       int
	Rate             int64         // bytes per second; 0 = DefaultRate
	RecoveryInterval time.Duration // 0 = DefaultRecoveryInterval
	MaxTPDU          int           // 0 = DefaultMaxTPDU
	// MaxTSDU is the largest payload kept. 0 means MaxTPDU minus an IPv4
	// header and a PGM data header (1456), which fits both raw PGM and
	// EPGM. A larger payload cannot be delivered: its sequence number is
	// reported lost.
	MaxTSDU int

	NAKBackoffInterval time.Duration // NAK_BO_IVL: 0 = 50 ms; a back-off is random in [1 µs, this)
	NAKRepeatInterval  time.Duration // NAK_RPT_IVL: wait for an NCF; 0 = 200 ms
	NAKRDataInterval   time.Duration // NAK_RDATA_IVL: wait for RDATA after an NCF; 0 = 200 ms
	NAKNCFRetries      int           // NAK_NCF_RETRIES: 0 = 50
	NAKDataRetries     int           // NAK_DATA_RETRIES: 0 = 50
	SPMRExpiry         time.Duration // wait for an SPM before sending an SPMR; 0 = 25 ms
	PeerExpiry         time.Duration // forget a peer not heard in an SPM for this long; 0 = 300 s
	// NoMulticastSPMR sends SPMRs only unicast to the source. By default
	// they also go to the group with TTL 1, as OpenPGM does, which lets
	// the other receivers on the link suppress theirs.
	NoMulticastSPMR bool

	// MaxPeers bounds the sessions tracked at once. 0 = DefaultMaxPeers.
	MaxPeers int
	// UnconfirmedExpiry: see DefaultUnconfirmedExpiry. 0 = the default.
	UnconfirmedExpiry time.Duration
	// MaxJump is how far ahead of a session's lead a sequence number (of
	// data, or of an SPM's lead) is believed at once: anyone who can send
	// to the group can forge a packet with a live session's TSI, and one
	// sequence number far ahead would move the window past the real data.
	// Further ahead, a packet is believed only if the session has been
	// silent for as long as its source would take to send that many
	// packets at Rate (a source cannot outrun its rate limit), at most
	// JumpConfirm (the smallest packets at Rate: no real jump waits longer
	// than the loss behind it took); otherwise it is dropped and counted (DroppedImplausible)
	// and the window does not move. A real loss of more than MaxJump
	// packets is therefore believed at once or after a short wait, and a
	// forged jump only after the real source has been silent. 0 means an
	// eighth of the window, at most 4096 and at least 64 (or the window).
	MaxJump int
	// JumpConfirm: see MaxJump. 0 = DefaultJumpConfirm.
	JumpConfirm time.Duration
	// Ignore lists TSIs whose packets are dropped, such as a source in the
	// same process whose multicast loops back. See also Receiver.Ignore.
	Ignore []wire.TSI
	// Rand draws the NAK back-offs. nil means a PCG seeded at random; tests
	// pass a seeded source to be deterministic.
	Rand rand.Source
}

// resolved is a Config with defaults applied, durations in nanoseconds.
type resolved struct {
	Config
	backoff, repeat, rdata, spmr, expiry int64
	unconfirmed, jumpConfirm             int64
	packetTime                           int64 // ns a source needs to send its smallest packet at Rate
}

func (c Config) resolve() (resolved, error) {
	r := resolved{Config: c}
	if c.DataPort == 0 {
		return r, fmt.Errorf("%w: DataPort is required", ErrBadConfig)
	}
	if !c.Group.IsValid() {
		return r, fmt.Errorf("%w: Group is required", ErrBadConfig)
	}
	r.Group = c.Group.Unmap()
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if r.Rate == 0 {
		r.Rate = DefaultRate
	}
	if r.RecoveryInterval == 0 {
		r.RecoveryInterval = DefaultRecoveryInterval
	}
	def(&r.MaxTPDU, DefaultMaxTPDU)
	def(&r.MaxTSDU, r.MaxTPDU-20-24)
	def(&r.WindowSQNs, sqn.Window(r.Rate, r.RecoveryInterval, r.MaxTPDU))
	def(&r.NAKNCFRetries, DefaultNAKNCFRetries)
	def(&r.NAKDataRetries, DefaultNAKDataRetries)
	def(&r.MaxPeers, DefaultMaxPeers)
	switch {
	case r.Rate < 0, r.RecoveryInterval < 0:
		return r, fmt.Errorf("%w: negative Rate or RecoveryInterval", ErrBadConfig)
	case r.WindowSQNs < 1 || r.WindowSQNs > sqn.MaxWindow:
		return r, fmt.Errorf("%w: WindowSQNs %d out of range", ErrBadConfig, r.WindowSQNs)
	case r.MaxTSDU < 1 || r.MaxTSDU > 0xFFFF:
		return r, fmt.Errorf("%w: MaxTSDU %d out of range", ErrBadConfig, r.MaxTSDU)
	case r.NAKNCFRetries < 1 || r.NAKNCFRetries > 0xFFFF || r.NAKDataRetries < 1 || r.NAKDataRetries > 0xFFFF:
		return r, fmt.Errorf("%w: NAK retries must be 1 to 65535", ErrBadConfig)
	case r.MaxPeers < 1:
		return r, fmt.Errorf("%w: MaxPeers must be positive", ErrBadConfig)
	}
	dur := func(v time.Duration, d time.Duration) (int64, error) {
		switch {
		case v == 0:
			return int64(d), nil
		case v < 0:
			return 0, fmt.Errorf("%w: negative interval %v", ErrBadConfig, v)
		}
		return int64(v), nil
	}
	var err error
	if r.backoff, err = dur(c.NAKBackoffInterval, DefaultNAKBackoffInterval); err != nil {
		return r, err
	}
	if r.repeat, err = dur(c.NAKRepeatInterval, DefaultNAKRepeatInterval); err != nil {
		return r, err
	}
	if r.rdata, err = dur(c.NAKRDataInterval, DefaultNAKRDataInterval); err != nil {
		return r, err
	}
	if r.spmr, err = dur(c.SPMRExpiry, DefaultSPMRExpiry); err != nil {
		return r, err
	}
	if r.expiry, err = dur(c.PeerExpiry, DefaultPeerExpiry); err != nil {
		return r, err
	}
	if r.unconfirmed, err = dur(c.UnconfirmedExpiry, DefaultUnconfirmedExpiry); err != nil {
		return r, err
	}
	r.unconfirmed = min(r.unconfirmed, r.expiry)
	if r.jumpConfirm, err = dur(c.JumpConfirm, DefaultJumpConfirm); err != nil {
		return r, err
	}
	if r.MaxJump == 0 {
		r.MaxJump = max(min(r.WindowSQNs/8, 4096), min(r.WindowSQNs, 64))
	}
	if r.MaxJump < 0 {
		return r, fmt.Errorf("%w: negative MaxJump", ErrBadConfig)
	}
	// The smallest packet a source can send: IP and UDP headers (which
	// count against its rate limit), the PGM and data headers, one byte.
	// So no real jump is ever doubted longer than it took.
	const minPacket = 20 + 8 + wire.HeaderLen + 8 + 1
	r.packetTime = max(minPacket*int64(time.Second)/r.Rate, 1)
	if r.Rand == nil {
		r.Rand = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return r, nil
}

package source

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tickcast/tickcast/pgm/sqn"
	"github.com/tickcast/tickcast/pgm/wire"
)

// Defaults. Where tickcast differs from libzmq the libzmq value is given as
// a Libzmq* constant, so interop tests can configure a libzmq-like source.
const (
	// DefaultRate is tickcast's ODATA rate limit: 100 Mbit/s, counting the
	// IP and UDP headers. libzmq's 100 kbit/s (LibzmqRate) starves any
	// feed; 100 Mbit/s leaves room on a 1 GbE link for other traffic and
	// still keeps a burst from overrunning receivers' socket buffers.
	DefaultRate = 12_500_000 // bytes per second
	// LibzmqRate is libzmq's default ZMQ_RATE, 100 kbit/s, in bytes per
	// second (PGM_ODATA_MAX_RTE = rate*1000/8).
	LibzmqRate = 12_500

	// DefaultRecoveryInterval is how much history the transmit window keeps
	// at the full rate: with DefaultRate it makes an 8333-packet, 12 MB
	// window. libzmq keeps 10 s (LibzmqRecoveryInterval), which at tickcast's
	// rate would be 120 MB; one second is far longer than any repair takes
	// with the default NAK timers on a LAN.
	DefaultRecoveryInterval = time.Second
	// LibzmqRecoveryInterval is libzmq's default ZMQ_RECOVERY_IVL.
	LibzmqRecoveryInterval = 10 * time.Second

	// DefaultMaxTPDU is libzmq's ZMQ_MULTICAST_MAXTPDU: the largest IP
	// datagram, headers included. It sizes the window and the rate bucket.
	DefaultMaxTPDU = 1500
	// DefaultMaxTSDU is the largest APDU Send accepts: libzmq's PGM_MSS for
	// EPGM (apdu.MaxAPDUEPGM), so that a libzmq receiver never sees
	// a fragmented APDU.
	DefaultMaxTSDU = 1428
	// DefaultOverhead is what OpenPGM charges the rate limit per packet on
	// top of the PGM packet: an IPv4 and a UDP header.
	DefaultOverhead = 28

	// DefaultAmbientSPM is OpenPGM's ambient SPM interval (PGM_AMBIENT_SPM
	// in libzmq).
	DefaultAmbientSPM = 30 * time.Second
	// DefaultRepairHoldoff: see Config.RepairHoldoff.
	DefaultRepairHoldoff = time.Millisecond
	// DefaultRepairRatio, DefaultRepairFloor and DefaultMaxQueuedRepairs:
	// see Config.RepairRatio. Repairs may at most double the feed's
	// traffic; an idle feed may still repair about 80 packets a second.
	DefaultRepairRatio      = 1.0
	DefaultRepairFloor      = 128 << 10 // bytes per second
	DefaultMaxQueuedRepairs = 4096
)

// DefaultHeartbeatSPM returns the intervals between the heartbeat SPMs that
// follow data, as libzmq 4.3 / OpenPGM 5.3 put them on the wire: after the
// last data at T, SPMs at T+0.1, +0.2, +0.3, +0.4, +0.5, +1.8, +8.8 and
// +24.8 s, then only ambient SPMs. (libzmq passes 100,100,100,100,1300,7000,
// 16000,25000,30000 ms; OpenPGM's indexing turns that into this schedule and
// never uses the last two entries.)
func DefaultHeartbeatSPM() []time.Duration {
	ms := time.Millisecond
	return []time.Duration{100 * ms, 100 * ms, 100 * ms, 100 * ms, 100 * ms, 1300 * ms, 7000 * ms, 16000 * ms}
}

// Config configures a Source. TSI, DataPort, NLA and Group are required;
// every other zero field takes its default.
type Config struct {
	// TSI identifies the session: a GSI (any 6 bytes; libzmq uses random
	// ones) and the data-source port (random, never equal to DataPort).
	TSI wire.TSI
	// DataPort is the data-destination port, the endpoint's port for EPGM.
	DataPort uint16
	// NLA is the source's unicast address: advertised in SPMs as the
	// address receivers send NAKs to, and required in every NAK.
	NLA netip.Addr
	// Group is the multicast group the source sends to; NAKs must name it.
	Group netip.Addr

	// Rate limits ODATA, in bytes per second, each packet charged its PGM
	// length plus Overhead. 0 means DefaultRate, negative means no limit.
	Rate int64
	// RateBurst is the size of the token bucket in bytes. 0 means what
	// OpenPGM uses: Rate/1000 (one millisecond of sending) when that holds
	// a MaxTPDU packet, else Rate (one second). It is raised to hold at
	// least one packet of MaxTSDU.
	RateBurst int64
	// Overhead is charged per packet on top of its PGM length. 0 means
	// DefaultOverhead (IPv4 + UDP); negative means nothing.
	Overhead int
	// RepairRate limits RDATA, in bytes per second, in a bucket of its own
	// (same burst rule as Rate). 0, the default, means no limit: repairs are
	// what a receiver's tail latency waits on, and they are bounded anyway
	// by the window and by the receivers' NAK timers. OpenPGM does not
	// limit RDATA under libzmq either.
	RepairRate int64

	// WindowSQNs is the transmit window in packets. 0 means it is computed
	// as libzmq does from Rate, RecoveryInterval and MaxTPDU (see
	// WindowSQNs); with LibzmqRate and LibzmqRecoveryInterval that is 80.
	WindowSQNs int
	// RecoveryInterval: see WindowSQNs. 0 means DefaultRecoveryInterval.
	RecoveryInterval time.Duration
	// MaxTPDU: 0 means DefaultMaxTPDU.
	MaxTPDU int
	// MaxTSDU is the largest APDU Send accepts. 0 means DefaultMaxTSDU.
	MaxTSDU int
	// FirstSQN is the sequence number of the first ODATA. OpenPGM starts
	// at 0; tests start near 2^32 to exercise wrap-around.
	FirstSQN uint32

	// AmbientSPM is the interval of the free-running ambient SPM timer.
	// 0 means DefaultAmbientSPM.
	AmbientSPM time.Duration
	// HeartbeatSPM are the intervals between the SPMs that follow data,
	// the first counted from the last ODATA or RDATA. nil means
	// DefaultHeartbeatSPM(); an empty non-nil slice disables heartbeats.
	HeartbeatSPM []time.Duration
	// RepairHoldoff: a NAK for a sequence number whose RDATA went out less
	// than RepairHoldoff ago is confirmed with an NCF but not repaired
	// again, because it crossed that RDATA in flight: OpenPGM follows a NAK
	// list with a duplicate plain NAK for its first sqn, and several
	// receivers NAK the same loss. Keep it well below the receivers'
	// NAK_RDATA_IVL (200 ms in libzmq) so that a receiver whose RDATA was
	// lost is repaired on its next NAK. 0 means DefaultRepairHoldoff;
	// negative disables it.
	RepairHoldoff time.Duration
	// RepairRatio caps what NAKs can draw from the source, since anyone who
	// can send it a datagram can NAK: RDATA and NCF bytes may use at most
	// RepairRatio times the ODATA bytes sent (credit earned as ODATA goes,
	// capped at RepairRatio times the transmit window's bytes), plus
	// RepairFloor bytes per second whatever the feed sends. A repair
	// waits for credit; an NCF without credit is dropped (the receiver NAKs
	// again). 0 means DefaultRepairRatio (1: repairs at most double the
	// traffic); negative means no cap.
	RepairRatio float64
	// RepairFloor: see RepairRatio. 0 means DefaultRepairFloor; negative
	// means none.
	RepairFloor int64
	// MaxQueuedRepairs bounds the repairs waiting to go: beyond it, NAKed
	// sequence numbers are not queued (Stats.RepairsSuppressed), and the
	// receivers NAK again. 0 means DefaultMaxQueuedRepairs.
	MaxQueuedRepairs int
}

// resolved is a Config with defaults applied, in the units the Source uses.
type resolved struct {
	Config
	overhead      int64
	heartbeat     []int64 // ns
	ambient       int64   // ns
	repairHoldoff int64   // ns; 0 = off
	repairRatio   int64   // thousandths; < 0 = no cap
	repairFloor   int64   // bytes per second
}

func (c Config) resolve() (resolved, error) {
	r := resolved{Config: c}
	if c.TSI.SPort == 0 && c.TSI.GSI == (wire.GSI{}) {
		return r, fmt.Errorf("%w: TSI is required", ErrBadConfig)
	}
	if c.DataPort == 0 {
		return r, fmt.Errorf("%w: DataPort is required", ErrBadConfig)
	}
	if c.TSI.SPort == c.DataPort {
		return r, fmt.Errorf("%w: TSI source port equals DataPort", ErrBadConfig)
	}
	if !c.NLA.IsValid() || c.NLA.IsUnspecified() {
		return r, fmt.Errorf("%w: NLA must be a unicast address", ErrBadConfig)
	}
	if !c.Group.IsValid() {
		return r, fmt.Errorf("%w: Group is required", ErrBadConfig)
	}
	r.NLA, r.Group = c.NLA.Unmap(), c.Group.Unmap()
	if r.Rate == 0 {
		r.Rate = DefaultRate
	}
	if r.MaxTPDU == 0 {
		r.MaxTPDU = DefaultMaxTPDU
	}
	if r.MaxTSDU == 0 {
		r.MaxTSDU = DefaultMaxTSDU
	}
	if r.MaxTPDU < 0 || r.MaxTSDU < 1 || r.MaxTSDU > 0xFFFF-wire.HeaderLen-8 {
		return r, fmt.Errorf("%w: MaxTPDU %d / MaxTSDU %d out of range", ErrBadConfig, r.MaxTPDU, r.MaxTSDU)
	}
	if r.RecoveryInterval == 0 {
		r.RecoveryInterval = DefaultRecoveryInterval
	}
	switch {
	case c.Overhead == 0:
		r.overhead = DefaultOverhead
	case c.Overhead > 0:
		r.overhead = int64(c.Overhead)
	}
	if r.WindowSQNs == 0 {
		rate := r.Rate
		if rate < 0 {
			rate = DefaultRate
		}
		r.WindowSQNs = sqn.Window(rate, r.RecoveryInterval, r.MaxTPDU)
	}
	if r.WindowSQNs < 1 || r.WindowSQNs > sqn.MaxWindow {
		return r, fmt.Errorf("%w: WindowSQNs %d out of range", ErrBadConfig, r.WindowSQNs)
	}
	if r.RepairRate < 0 || r.RateBurst < 0 || r.RecoveryInterval < 0 {
		return r, fmt.Errorf("%w: negative RepairRate, RateBurst or RecoveryInterval", ErrBadConfig)
	}
	if r.AmbientSPM == 0 {
		r.AmbientSPM = DefaultAmbientSPM
	}
	if r.AmbientSPM < 0 {
		return r, fmt.Errorf("%w: negative AmbientSPM", ErrBadConfig)
	}
	r.ambient = int64(r.AmbientSPM)
	hb := c.HeartbeatSPM
	if hb == nil {
		hb = DefaultHeartbeatSPM()
	}
	r.heartbeat = make([]int64, len(hb))
	for i, d := range hb {
		if d <= 0 {
			return r, fmt.Errorf("%w: heartbeat interval %v is not positive", ErrBadConfig, d)
		}
		r.heartbeat[i] = int64(d)
	}
	switch {
	case c.RepairHoldoff == 0:
		r.repairHoldoff = int64(DefaultRepairHoldoff)
	case c.RepairHoldoff > 0:
		r.repairHoldoff = int64(c.RepairHoldoff)
	}
	switch {
	case c.RepairRatio == 0:
		r.repairRatio = int64(DefaultRepairRatio * 1000)
	case c.RepairRatio < 0:
		r.repairRatio = -1
	case c.RepairRatio > 1000 || c.RepairRatio != c.RepairRatio:
		return r, fmt.Errorf("%w: RepairRatio %v out of range", ErrBadConfig, c.RepairRatio)
	default:
		r.repairRatio = max(int64(c.RepairRatio*1000), 1)
	}
	switch {
	case c.RepairFloor == 0:
		r.repairFloor = DefaultRepairFloor
	case c.RepairFloor > 0:
		r.repairFloor = min(c.RepairFloor, 1<<32)
	}
	if r.MaxQueuedRepairs == 0 {
		r.MaxQueuedRepairs = DefaultMaxQueuedRepairs
	}
	if r.MaxQueuedRepairs < 0 {
		return r, fmt.Errorf("%w: negative MaxQueuedRepairs", ErrBadConfig)
	}
	return r, nil
}

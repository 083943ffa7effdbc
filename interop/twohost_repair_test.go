package interop

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/apdu"
)

// oneAPDU makes message i on topic: [topic, body] sized so that the
// message fills one EPGM APDU exactly (1428 bytes with the offset), so the
// message sent as ODATA sqn i (sqns start at 0) is message i. That makes
// loss accounting exact: what the network dropped is what is missing.
func oneAPDU(topic string, i int) [][]byte {
	n := apdu.MaxAPDUEPGM - 2 - apdu.FrameLen(len(topic)) - apdu.FrameLen(1000) + 1000
	body := make([]byte, n)
	binary.BigEndian.PutUint32(body, uint32(i))
	for j := 4; j < n; j++ {
		body[j] = byte(i*7 + j)
	}
	return [][]byte{[]byte(topic), body}
}

// repairMessages are n one-APDU messages and three END markers, so that
// the subscriber knows the end even if one of them is dropped.
func repairMessages(n int) [][][]byte {
	var msgs [][][]byte
	for i := range n {
		msgs = append(msgs, oneAPDU("T", i))
	}
	for i := range 3 {
		msgs = append(msgs, oneAPDU("END", n+i))
	}
	return msgs
}

var twoHostPort = 25000 + os.Getpid()%900 // a range of its own per package

// TestTwoHostRepair: every 5th ODATA is dropped by the subscriber host's
// kernel; NAK, NCF and RDATA cross the link and every message arrives,
// tickcast to tickcast and both ways between tickcast and libzmq, over EPGM
// and raw PGM.
func TestTwoHostRepair(t *testing.T) {
	const n = 600
	msgs := repairMessages(n)
	file := batchFile(t, msgs)
	type tcase struct {
		network  string
		pub, sub string // tickcast or libzmq
	}
	var cases []tcase
	for _, network := range []string{"epgm", "pgm"} {
		cases = append(cases, tcase{network, "tickcast", "tickcast"}, tcase{network, "tickcast", "libzmq"},
			tcase{network, "libzmq", "tickcast"})
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %s to %s", c.network, c.pub, c.sub), func(t *testing.T) {
			if c.pub == "libzmq" || c.sub == "libzmq" {
				needLibzmq(t)
			}
			h := newTwoHosts(t)
			twoHostPort++
			port := twoHostPort
			group := fmt.Sprintf("239.192.11.%d", port%200+1)
			pubEP := fmt.Sprintf("%s://%s;%s:%d", c.network, h.pubIP, group, port)
			subEP := fmt.Sprintf("%s://%s;%s:%d", c.network, h.subIP, group, port)
			h.dropEveryODATA(t, c.network, port, 5, false)

			var sub *peer
			if c.sub == "tickcast" {
				sub = helper(t, h.sub, "PGM_HELPER_ROLE=sub", "PGM_HELPER_ENDPOINT="+subEP)
			} else {
				sub = pythonIn(t, h.sub, libzmqPGMEnv, "sub", subEP, fmt.Sprint(len(msgs)), "30", "")
			}
			expectLine(t, sub, "READY")
			time.Sleep(300 * time.Millisecond) // joined
			var pub *peer
			if c.pub == "tickcast" {
				hold := "PGM_HELPER_HOLD_MS=3000" // libzmq NAKs a lost tail only as our SPMs wake it
				if c.sub == "tickcast" {
					hold = "PGM_HELPER_HOLD_MS=500" // the sub has everything when the pub's STATS is read
				}
				pub = helper(t, h.pub, "PGM_HELPER_ROLE=pub", "PGM_HELPER_ENDPOINT="+pubEP, "PGM_HELPER_FILE="+file, hold)
			} else {
				pub = pythonIn(t, h.pub, append(libzmqPGMEnv, "PEER_HOLD_S=10"), "pgmpub", pubEP, file)
			}
			expectLine(t, pub, "READY")

			var got [][][]byte
			if c.sub == "tickcast" {
				o := readHelperSub(t, sub, 30*time.Second)
				got = o.msgs
				if len(o.losses) != 0 {
					t.Errorf("losses reported: %+v", o.losses)
				}
				var st struct {
					Receiver struct {
						Receiver struct{ Repaired, NAKsSent uint64 }
					}
				}
				json.Unmarshal([]byte(o.stats), &st)
				t.Logf("tickcast sub: %d NAKs, %d repaired", st.Receiver.Receiver.NAKsSent, st.Receiver.Receiver.Repaired)
				if st.Receiver.Receiver.Repaired < n/5 {
					t.Errorf("only %d sqns repaired: the loss did not happen as planned", st.Receiver.Receiver.Repaired)
				}
				if len(got) > 0 && string(got[len(got)-1][0]) == "END" {
					// The helper stops at the first END it gets.
					msgs = msgs[:len(got)]
				}
			} else {
				got = sub.messages(t, len(msgs))
			}
			if !equalMessages(got, msgs) {
				t.Fatalf("%d messages received differ from the %d sent", len(got), len(msgs))
			}
			if c.pub == "tickcast" {
				l := expectLine(t, pub, "STATS")
				var st struct {
					Sender struct {
						Source struct{ NAKs, RDATASent uint64 }
					}
				}
				json.Unmarshal([]byte(l[len("STATS "):]), &st)
				t.Logf("tickcast pub: %d NAKs, %d RDATA", st.Sender.Source.NAKs, st.Sender.Source.RDATASent)
			}
		})
	}
}

// TestTwoHostUnrepairable: every 7th ODATA and every RDATA are dropped, so
// repair is impossible: the tickcast subscriber reports exactly the
// sequence numbers dropped as lost, and delivers every other message.
func TestTwoHostUnrepairable(t *testing.T) {
	const n, every = 300, 7
	msgs := repairMessages(n)
	h := newTwoHosts(t)
	twoHostPort++
	port := twoHostPort
	group := fmt.Sprintf("239.192.11.%d", port%200+1)
	h.dropEveryODATA(t, "epgm", port, every, true)
	sub := helper(t, h.sub, "PGM_HELPER_ROLE=sub", fmt.Sprintf("PGM_HELPER_ENDPOINT=epgm://%s;%s:%d", h.subIP, group, port),
		"PGM_HELPER_NAK_RETRIES=2")
	expectLine(t, sub, "READY")
	time.Sleep(300 * time.Millisecond)
	pub := helper(t, h.pub, "PGM_HELPER_ROLE=pub", fmt.Sprintf("PGM_HELPER_ENDPOINT=epgm://%s;%s:%d", h.pubIP, group, port),
		"PGM_HELPER_FILE="+batchFile(t, msgs))
	expectLine(t, pub, "READY")
	o := readHelperSub(t, sub, 30*time.Second)

	var lost []uint32
	for _, e := range o.losses {
		for k := range e.Count {
			lost = append(lost, e.SQN+k)
		}
	}
	// The kernel dropped ODATA 0, 7, 14, ...: message i is ODATA sqn i. The
	// helper stops at the first END it gets; a loss right after it may
	// come in the same batch.
	end := 0
	if len(o.msgs) > 0 {
		end = int(binary.BigEndian.Uint32(o.msgs[len(o.msgs)-1][1]))
	}
	if len(lost) > 0 {
		end = max(end, int(lost[len(lost)-1]))
	}
	if end < n {
		t.Fatalf("the helper stopped at sqn %d", end)
	}
	var wantLost []uint32
	var wantMsgs [][][]byte
	for i := 0; i <= end; i++ {
		if i%every == 0 {
			wantLost = append(wantLost, uint32(i))
		} else {
			wantMsgs = append(wantMsgs, msgs[i])
		}
	}
	if !slices.Equal(lost, wantLost) {
		t.Errorf("reported lost sqns %v, dropped %v", lost, wantLost)
	}
	if !equalMessages(o.msgs, wantMsgs) {
		t.Errorf("%d messages delivered, want the %d not dropped", len(o.msgs), len(wantMsgs))
	}
	t.Logf("%d messages delivered, %d sqns reported lost in %d events", len(o.msgs), len(lost), len(o.losses))
}

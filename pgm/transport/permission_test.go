package transport

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestRawNeedsCapNetRaw runs a raw PGM Sender and Receiver without
// CAP_NET_RAW (capsh drops it from this test binary, re-executed): both
// fail with ErrPermission and a message that says what is missing, and the
// kernel's EPERM (socket(2) of a SOCK_RAW) stays in the chain for errors.Is.
func TestRawNeedsCapNetRaw(t *testing.T) {
	if os.Getenv("PGM_RAW_HELPER") == "1" {
		ep, err := ParseEndpoint("pgm://127.0.0.1;239.192.7.250:7000")
		if err != nil {
			t.Fatal(err)
		}
		_, errS := NewSender(t.Context(), ep, SenderConfig{}, &sliceFeeder{})
		_, errR := NewReceiver(t.Context(), ep, ReceiverConfig{}, newCollector())
		for _, err := range []error{errS, errR} {
			if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_RAW") {
				t.Fatalf("without CAP_NET_RAW: %v", err)
			}
			if !errors.Is(err, syscall.EPERM) {
				t.Fatalf("without CAP_NET_RAW: errors.Is(err, EPERM) is false: %v", err)
			}
		}
		t.Log(errS)
		return
	}
	capsh, err := exec.LookPath("capsh")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and capsh (libcap2-bin) to drop CAP_NET_RAW")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(capsh, "--drop=cap_net_raw", "--", "-c", `exec "$0" -test.run='^TestRawNeedsCapNetRaw$' -test.v`, exe)
	cmd.Env = append(os.Environ(), "PGM_RAW_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "CAP_NET_RAW") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

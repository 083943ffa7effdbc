package port_test

import (
	"os/exec"
	"strings"
	"testing"
)

// Ports at the bottom: port imports nothing of tickcast's, and no transport
// depends on the feed layers above it, directly or not.
func TestNoTransportDependsOnTheFeedLayers(t *testing.T) {
	const mod = "github.com/tickcast/tickcast/"
	feedLayers := []string{mod + "publisher", mod + "subscriber", mod + "relay", mod + "endpoint", strings.TrimSuffix(mod, "/")}
	deps := func(pkg string) []string {
		t.Helper()
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	for _, d := range deps(mod + "port") {
		if strings.HasPrefix(d, mod) && d != mod+"port" {
			t.Errorf("port imports %s: it must stay a leaf", d)
		}
	}
	for _, transport := range []string{"zmtp", "inproc", "pgm/pgmline", "pgm/zmq", "pgm/transport"} {
		for _, d := range deps(mod + transport) {
			for _, layer := range feedLayers {
				if d == layer {
					t.Errorf("%s depends on %s", transport, layer)
				}
			}
		}
	}
}

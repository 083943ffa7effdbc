package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/tickcast/tickcast/internal/netns"
)

// A PGM publisher whose datagrams the kernel refuses (here a firewall
// rule on output; in life no route, an interface down) says so at the
// default log level, with the endpoint, once and then rate-limited with a
// count: the loss is not silent even when nobody watches the metrics.
func TestAPublisherWhoseDatagramsAreRefusedSaysSo(t *testing.T) {
	lan := netns.NewLAN(t, 1, "10.79.0")
	h := lan.Hosts[0]
	const port = 7979
	for _, args := range [][]string{
		{"add", "table", "ip", "block"},
		{"add", "chain", "ip", "block", "out", "{ type filter hook output priority 0; }"},
		{"add", "rule", "ip", "block", "out", "udp", "dport", fmt.Sprint(port), "counter", "drop"},
	} {
		if out, err := h.Command(append([]string{"nft"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v\n%s", args, err, out)
		}
	}
	bin := buildTickcast(t)
	ep := fmt.Sprintf("epgm://%s;239.192.79.9:%d", h.IP, port)
	out, err := h.Command(bin, "pub", "--endpoint", ep, "--count", "5000", "--rate", "20000", "--symbols", "5").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "published 5,000 ticks") {
		t.Fatalf("pub: %v\n%s", err, out)
	}
	// (PGM names the endpoint by its interface: epgm://eth0;group:port.)
	warn := regexp.MustCompile(`(?m)^time=\S+ level=WARN msg="pgm: the kernel refused datagrams; receivers lose them[^"]*" endpoint=epgm://\S+;239\.192\.79\.9:7979 err="[^"]*operation not permitted" refused=\d+`)
	if n := len(warn.FindAllString(string(out), -1)); n != 1 {
		t.Errorf("want the refusal logged once (then every 30 s), got %d:\n%s", n, out)
	}
}

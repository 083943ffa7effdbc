package interop

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast"
)

// The README's pyzmq snippet, run as written (on the port the test's
// publisher got), receives a tickcast message.
func TestTheREADMEsPythonSnippetReadsAFeed(t *testing.T) {
	needLibzmq(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := bytes.Cut(readme, []byte("\n## Subscribing from a libzmq program\n"))
	m := regexp.MustCompile("(?s)\n```python\n(.*?)```\n").FindSubmatch(section)
	if m == nil {
		t.Fatal("README.md has no python snippet under \"## Subscribing from a libzmq program\"")
	}
	const readmeEndpoint = "tcp://127.0.0.1:6001"
	if !bytes.Contains(m[1], []byte(readmeEndpoint)) {
		t.Fatalf("the snippet does not connect to %s:\n%s", readmeEndpoint, m[1])
	}

	pub, err := tickcast.NewPublisher("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ep := pub.Stats().Sinks[0].Endpoint
	script := strings.ReplaceAll(string(m[1]), readmeEndpoint, ep)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", script)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Publish until the snippet has its message: it may join late.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the snippet failed: %v\n%s", err, stderr.String())
			}
			if got := strings.TrimSpace(out.String()); got != "b'AAPL' b'TKC1'" {
				t.Fatalf("the snippet printed %q", got)
			}
			return
		case <-tick.C:
			pub.Publish("AAPL", tickcast.Tick{Kind: tickcast.Trade, Price: 1892300, PriceExp: -4, Size: 100})
		}
	}
}

package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tickcast/tickcast/publisher"
	"github.com/tickcast/tickcast/recovery"
	"github.com/tickcast/tickcast/schema"
	"github.com/tickcast/tickcast/zmtp"
)

// A Python program asks a recovery service for a replay with pyzmq, and
// decodes it with the code flatc generated for Python (python/replay.py):
// every tick of the range, in order, across partial replies.
func TestAPythonClientReplaysARange(t *testing.T) {
	needLibzmq(t)
	if out, err := exec.Command(python, "-c", "import flatbuffers").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("python3-flatbuffers is missing (%v: %s): apt-get install python3-flatbuffers", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	srv, err := recovery.NewServer("tcp://127.0.0.1:0", recovery.WithReplyLimits(3, 1<<20, 100))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publisher.New(publisher.WithSink(srv), publisher.WithMaxBatch(4))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for i := range 100 {
		if err := pub.Publish("AAPL", schema.Tick{Kind: schema.KindTrade, Price: 1892300 + int64(i), PriceExp: -4, Size: 100}); err != nil {
			t.Fatal(err)
		}
		pub.Publish("MSFT", schema.Tick{Price: 1})
	}
	// Until the last tick is in the history (the publisher sends in the
	// background). Closing the publisher would close the service, its sink.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := zmtp.DialRequester(srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	enc := schema.NewEncoder(256)
	for {
		frames, err := req.Request(ctx, enc.EncodeRequest(&schema.Request{Kind: schema.ReplayRequest, Topic: []byte("AAPL"), From: 100, To: 100}))
		if err != nil {
			t.Fatal(err)
		}
		var m schema.Message
		if err := m.Decode(frames[0]); err != nil {
			t.Fatal(err)
		}
		if m.Reply.Status == schema.ReplyOK {
			break
		}
		time.Sleep(time.Millisecond)
	}

	out, err := exec.CommandContext(ctx, python, "../python/replay.py", srv.Endpoint(), "AAPL", "10", "60").CombinedOutput()
	if err != nil {
		t.Fatalf("replay.py: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 51 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, l := range lines {
		want := fmt.Sprintf("AAPL #%d %.4f x 100", 10+i, float64(1892300+9+i)/10000)
		if l != want {
			t.Fatalf("line %d: %q, want %q", i, l, want)
		}
	}
	if st := srv.ServerStats(); st.Requests < 5 {
		t.Fatalf("%d requests: the replies were not partial", st.Requests)
	}
}

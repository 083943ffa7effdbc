package interop

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tickcast/tickcast/schema"
)

// needCpp skips the test when g++ or the FlatBuffers C++ headers are
// missing, or fails it in CI.
func needCpp(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("g++"); err != nil {
		missing = append(missing, "g++")
	}
	if _, err := os.Stat("/usr/include/flatbuffers/flatbuffers.h"); err != nil {
		missing = append(missing, "libflatbuffers-dev")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("C++ toolchain for cpp/ missing: apt-get install %v", missing)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// The C++ example (cpp/example/tickdump.cpp) compiles against the committed
// generated header (cpp/tick_generated.h) and Debian's FlatBuffers headers,
// decodes what the Go encoder writes, field for field, and rejects what is
// not a tickcast feed message.
func TestCppExampleDecodesTheWireFormat(t *testing.T) {
	needCpp(t)
	bin := filepath.Join(t.TempDir(), "tickdump")
	if out, err := exec.Command("g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", "../cpp",
		"-o", bin, "../cpp/example/tickdump.cpp").CombinedOutput(); err != nil {
		t.Fatalf("g++: %v\n%s", err, out)
	}
	run := func(body []byte) (string, int) {
		t.Helper()
		cmd := exec.Command(bin)
		cmd.Stdin = bytes.NewReader(body)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &exit):
			return stderr.String(), exit.ExitCode()
		}
		t.Fatalf("tickdump: %v", err)
		return "", 0
	}

	enc := schema.NewEncoder(0)
	batch := bytes.Clone(enc.Encode(schema.Header{Type: schema.Batch, Session: 0xfeed0001, StreamSeq: 7,
		PrevStreamSeq: 5, PrevTopicSeq: 9}, []schema.Tick{
		{Seq: 10, Kind: schema.KindTrade, Price: 1892300, PriceExp: -4, Size: 100, Instrument: 3, EventTime: 1_700_000_000_000_000_001},
		{Seq: 11, Kind: schema.KindAsk, Price: -5, PriceExp: 2, Size: 7, SizeExp: -1, Instrument: 4, EventTime: 2},
	}))
	for _, c := range []struct {
		name string
		body []byte
		want string
	}{
		{"batch", batch, "Batch session=00000000feed0001 stream_seq=7 prev_stream_seq=5 prev_topic_seq=9 topic_seq=0 heartbeat_ns=0\n" +
			"#10 Trade 1892300e-4 x 100e0 instrument=3 event_time_ns=1700000000000000001\n" +
			"#11 Ask -5e2 x 7e-1 instrument=4 event_time_ns=2\n"},
		{"heartbeat", bytes.Clone(enc.Encode(schema.Header{Type: schema.Heartbeat, Session: 1, StreamSeq: 1, Heartbeat: 1e9}, nil)),
			"Heartbeat session=0000000000000001 stream_seq=1 prev_stream_seq=0 prev_topic_seq=0 topic_seq=0 heartbeat_ns=1000000000\n"},
		{"topic heartbeat", bytes.Clone(enc.Encode(schema.Header{Type: schema.TopicHeartbeat, Session: 1, StreamSeq: 9, TopicSeq: 11,
			PrevStreamSeq: 7, PrevTopicSeq: 9}, nil)),
			"TopicHeartbeat session=0000000000000001 stream_seq=9 prev_stream_seq=7 prev_topic_seq=9 topic_seq=11 heartbeat_ns=0\n"},
		{"end of session", bytes.Clone(enc.Encode(schema.Header{Type: schema.EndOfSession, Session: 1, StreamSeq: 10}, nil)),
			"EndOfSession session=0000000000000001 stream_seq=10 prev_stream_seq=0 prev_topic_seq=0 topic_seq=0 heartbeat_ns=0\n"},
	} {
		if out, code := run(c.body); code != 0 || out != c.want {
			t.Errorf("%s: exit %d, printed\n%s\nwant\n%s", c.name, code, out, c.want)
		}
	}

	foreignID := bytes.Clone(batch)
	copy(foreignID[4:8], "XXXX")
	request := bytes.Clone(enc.EncodeRequest(&schema.Request{Kind: schema.ReplayRequest, Topic: []byte("AAPL"), From: 1, To: 2}))
	for name, body := range map[string][]byte{
		"empty":          nil,
		"garbage":        []byte("not a tickcast message at all"),
		"identifier":     foreignID,
		"truncated":      batch[:len(batch)/2],
		"recovery":       request,
		"batch no ticks": bytes.Clone(enc.Encode(schema.Header{Type: schema.Batch, Session: 1, StreamSeq: 1}, nil)),
	} {
		if out, code := run(body); code != 1 {
			t.Errorf("%s: exit %d (%s), want 1", name, code, out)
		}
	}
}

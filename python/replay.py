#!/usr/bin/python3
"""Ask a tickcast recovery service for a topic's ticks over a range of
sequence numbers, decode the reply with the code flatc generated from
schema/tick.fbs (python/fb), and print one line per tick.

    python3 python/replay.py tcp://127.0.0.1:7001 AAPL 1 100

A request is one frame (a Message of type RecoveryRequest) sent on a REQ
socket; the reply is one message: a RecoveryReply frame, then `count` pairs
[topic, body], each body a Batch as the publisher sent it. A reply is bounded:
a Partial one is continued by asking again from its to_seq + 1.
Needs python3-zmq and python3-flatbuffers (Debian's).
"""
import os
import sys

import flatbuffers
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fb import Message, MessageType, RecoveryRequest, ReplyStatus, RequestKind  # noqa: E402

WIRE_VERSION = 1
STATUS = {v: k for k, v in vars(ReplyStatus.ReplyStatus).items() if not k.startswith("_")}


def replay_request(topic, first, last, req_id, session=0):
    """Encode a replay request for topic's ticks first..last (inclusive)."""
    b = flatbuffers.Builder(128)
    t = b.CreateString(topic)
    RecoveryRequest.Start(b)
    RecoveryRequest.AddKind(b, RequestKind.RequestKind.Replay)
    RecoveryRequest.AddId(b, req_id)
    RecoveryRequest.AddSession(b, session)
    RecoveryRequest.AddTopic(b, t)
    RecoveryRequest.AddFromSeq(b, first)
    RecoveryRequest.AddToSeq(b, last)
    req = RecoveryRequest.End(b)
    Message.Start(b)
    Message.AddVersion(b, WIRE_VERSION)
    Message.AddType(b, MessageType.MessageType.RecoveryRequest)
    Message.AddRequest(b, req)
    b.Finish(Message.End(b), file_identifier=b"TKC1")
    return bytes(b.Output())


def replay(endpoint, topic, first, last, timeout_ms=5000):
    """Yield (seq, price, size) for topic's ticks first..last, asking as
    often as the service's bounded replies need; stop where it has no more,
    printing what it said to stderr."""
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    req_id, session, want = 0, 0, first
    try:
        while want <= last:
            req_id += 1
            sock.send(replay_request(topic, want, last, req_id, session))
            frames = sock.recv_multipart()
            msg = Message.Message.GetRootAs(frames[0], 0)
            if msg.Type() != MessageType.MessageType.RecoveryReply:
                raise RuntimeError("not a recovery reply")
            rep = msg.Reply()
            session = rep.Session()
            for body in frames[2::2]:
                batch = Message.Message.GetRootAs(body, 0)
                for i in range(batch.TicksLength()):
                    tick = batch.Ticks(i)
                    if want <= tick.Seq() <= last:
                        yield tick.Seq(), tick.Price() * 10.0 ** tick.PriceExp(), tick.Size()
                        want = tick.Seq() + 1
            if rep.Status() != ReplyStatus.ReplyStatus.Partial:
                if rep.Status() != ReplyStatus.ReplyStatus.Ok:
                    print("%s: %d..%d: %s (held from %d to %d)" % (topic, want, last, STATUS[rep.Status()],
                          rep.HeldFrom(), rep.HeldTo()), file=sys.stderr)
                return
            want = rep.ToSeq() + 1
    finally:
        sock.close()


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ep, name, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    for seq, price, size in replay(ep, name.encode(), lo, hi):
        print("%s #%d %.4f x %d" % (name, seq, price, size))

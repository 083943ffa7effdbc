#!/usr/bin/python3
"""A libzmq peer for tickcast's interop tests, driven by Debian's python3-zmq.

  libzmq_peer.py sub ENDPOINT COUNT TIMEOUT_S PREFIX...
      connect a SUB, subscribe to every PREFIX (hex), print READY, then print
      each message received as a JSON list of hex frames, until COUNT
      messages or TIMEOUT_S seconds; then DONE.
  libzmq_peer.py pub ENDPOINT MESSAGES_FILE
      bind an XPUB (a PUB that shows subscriptions), print the bound endpoint,
      wait for the first subscription, then send every message of
      MESSAGES_FILE (one JSON list of hex frames per line), then linger.
  libzmq_peer.py pgmpub ENDPOINT MESSAGES_FILE
      connect a PUB to a pgm:// or epgm:// endpoint, print READY, wait
      PEER_START_S (default 0.5) for the session's SPMs to reach the
      receivers, send every message of MESSAGES_FILE, print SENT, and keep
      the session up PEER_HOLD_S (default 2) for repairs before closing.

  libzmq_peer.py benchsub ENDPOINT COUNT
      a SUB on everything: print READY, receive COUNT messages (or stop after
      30 s without one), print "RESULT messages seconds" timed from the first.
  libzmq_peer.py benchpub ENDPOINT COUNT SIZE
      a PUB: after PEER_START_S, send COUNT messages [b"TICK", SIZE bytes] as
      fast as python can, then hold PEER_HOLD_S.

Options through the environment: ZMQ_HEARTBEAT_IVL_MS enables ZMTP
heartbeats (PING) on the socket, with a timeout of three intervals.
ZMQ_RATE (kbit/s), ZMQ_RECOVERY_IVL (ms), ZMQ_RCVBUF, ZMQ_SNDBUF and
ZMQ_MULTICAST_HOPS set those socket options (PGM); unset, libzmq's defaults
stay (100 kbit/s, 10 s: an 80-packet window).
"""
import json
import os
import sys
import time

import zmq


def heartbeats(sock):
    ivl = int(os.environ.get("ZMQ_HEARTBEAT_IVL_MS", "0"))
    if ivl > 0:
        sock.setsockopt(zmq.HEARTBEAT_IVL, ivl)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * ivl)
        sock.setsockopt(zmq.HEARTBEAT_TTL, 3 * ivl)


def pgm_options(sock):
    for name in ("RATE", "RECOVERY_IVL", "RCVBUF", "SNDBUF", "MULTICAST_HOPS"):
        v = os.environ.get("ZMQ_" + name)
        if v:
            sock.setsockopt(getattr(zmq, name), int(v))


def sub(endpoint, count, timeout, prefixes):
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    heartbeats(s)
    pgm_options(s)
    s.setsockopt(zmq.RCVTIMEO, 100)
    s.setsockopt(zmq.RCVHWM, 0)
    s.setsockopt(zmq.LINGER, 0)
    for p in prefixes:
        s.setsockopt(zmq.SUBSCRIBE, bytes.fromhex(p))
    s.connect(endpoint)
    print("READY", flush=True)
    got, deadline = 0, time.time() + timeout
    while got < count and time.time() < deadline:
        try:
            frames = s.recv_multipart()
        except zmq.Again:
            continue
        print(json.dumps([f.hex() for f in frames]), flush=True)
        got += 1
    print("DONE", flush=True)
    s.close()
    ctx.term()


def pub(endpoint, path):
    ctx = zmq.Context()
    s = ctx.socket(zmq.XPUB)
    heartbeats(s)
    s.setsockopt(zmq.LINGER, 5000)
    s.setsockopt(zmq.SNDHWM, 0)
    s.bind(endpoint)
    print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    s.setsockopt(zmq.RCVTIMEO, 20000)
    s.recv()  # the first subscription: a subscriber is there
    time.sleep(0.2)  # and its other subscriptions with it
    with open(path) as f:
        for line in f:
            frames = [bytes.fromhex(h) for h in json.loads(line)]
            s.send_multipart(frames)
    hold = float(os.environ.get("PEER_HOLD_S", "0"))
    if hold > 0:
        time.sleep(hold)  # keep the connection up (heartbeat tests)
    print("SENT", flush=True)
    s.close()
    ctx.term()


def pgmpub(endpoint, path):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUB)
    pgm_options(s)
    s.setsockopt(zmq.SNDHWM, 0)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    print("READY", flush=True)
    time.sleep(float(os.environ.get("PEER_START_S", "0.5")))
    with open(path) as f:
        for line in f:
            s.send_multipart([bytes.fromhex(h) for h in json.loads(line)])
    print("SENT", flush=True)
    time.sleep(float(os.environ.get("PEER_HOLD_S", "2")))
    s.close()
    ctx.term()


def benchsub(endpoint, count):
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    pgm_options(s)
    s.setsockopt(zmq.RCVHWM, 0)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.setsockopt(zmq.RCVTIMEO, 30000)
    s.connect(endpoint)
    print("READY", flush=True)
    got, first = 0, None
    try:
        while got < count:
            s.recv_multipart()
            if first is None:
                first = time.time()
            got += 1
    except zmq.Again:
        pass
    print("RESULT %d %.6f" % (got, time.time() - (first or time.time())), flush=True)
    s.close()
    ctx.term()


def benchpub(endpoint, count, size):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUB)
    pgm_options(s)
    s.setsockopt(zmq.SNDHWM, 0)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    print("READY", flush=True)
    time.sleep(float(os.environ.get("PEER_START_S", "0.5")))
    body = b"x" * size
    for _ in range(count):
        s.send(b"TICK", zmq.SNDMORE)
        s.send(body)
    print("SENT", flush=True)
    time.sleep(float(os.environ.get("PEER_HOLD_S", "2")))
    s.close()
    ctx.term()


if __name__ == "__main__":
    if sys.argv[1] == "sub":
        sub(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:])
    elif sys.argv[1] == "pub":
        pub(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "benchsub":
        benchsub(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "benchpub":
        benchpub(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "pgmpub":
        pgmpub(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: libzmq_peer.py sub|pub ...")

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

Options through the environment: ZMQ_HEARTBEAT_IVL_MS enables ZMTP
heartbeats (PING) on the socket, with a timeout of three intervals.
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


def sub(endpoint, count, timeout, prefixes):
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    heartbeats(s)
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


if __name__ == "__main__":
    if sys.argv[1] == "sub":
        sub(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:])
    elif sys.argv[1] == "pub":
        pub(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: libzmq_peer.py sub|pub ...")

#!/usr/bin/python3
"""libzmq ends for tickcast's bind-or-connect interop tests, driven by
Debian's python3-zmq. Every socket is on 127.0.0.1.

  zmq_topology.py proxy
      bind an XSUB and an XPUB on ephemeral ports, print the XSUB's endpoint
      then the XPUB's, one a line, and run zmq.proxy(xsub, xpub) until
      killed: publishers connect to the XSUB, subscribers to the XPUB, and
      subscriptions flow from the XPUB through the XSUB to the publishers.
  zmq_topology.py subbind COUNT TIMEOUT_S PREFIX...
      bind a SUB on an ephemeral port, subscribe to every PREFIX (hex),
      print the bound endpoint, then each message received as a JSON list of
      hex frames, until COUNT messages or TIMEOUT_S seconds; then DONE.
  zmq_topology.py pubconnect ENDPOINT MESSAGES_FILE
      connect an XPUB (a PUB that shows subscriptions) to ENDPOINT, print
      READY, wait for the first subscription (and 0.2 s for the others that
      come with it), send every message of MESSAGES_FILE (one JSON list of
      hex frames a line), print SENT, and linger until they are gone.

High-water marks are off (0) everywhere: these tests are about routing,
and a message lost at a libzmq HWM would be a gap that is not tickcast's.
"""
import json
import sys
import time

import zmq


def proxy():
    ctx = zmq.Context()
    xsub = ctx.socket(zmq.XSUB)
    xpub = ctx.socket(zmq.XPUB)
    for s in (xsub, xpub):
        s.setsockopt(zmq.SNDHWM, 0)
        s.setsockopt(zmq.RCVHWM, 0)
        s.setsockopt(zmq.LINGER, 0)
    xsub.bind("tcp://127.0.0.1:*")
    xpub.bind("tcp://127.0.0.1:*")
    print(xsub.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    print(xpub.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    zmq.proxy(xsub, xpub)


def subbind(count, timeout, prefixes):
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.RCVHWM, 0)
    s.setsockopt(zmq.RCVTIMEO, 100)
    s.setsockopt(zmq.LINGER, 0)
    for p in prefixes:
        s.setsockopt(zmq.SUBSCRIBE, bytes.fromhex(p))
    s.bind("tcp://127.0.0.1:*")
    print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
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


def pubconnect(endpoint, path):
    ctx = zmq.Context()
    s = ctx.socket(zmq.XPUB)
    s.setsockopt(zmq.SNDHWM, 0)
    s.setsockopt(zmq.LINGER, 5000)
    s.connect(endpoint)
    print("READY", flush=True)
    s.setsockopt(zmq.RCVTIMEO, 20000)
    s.recv()  # the first subscription: the subscriber is there
    time.sleep(0.2)  # and its other subscriptions with it
    with open(path) as f:
        for line in f:
            s.send_multipart([bytes.fromhex(h) for h in json.loads(line)])
    print("SENT", flush=True)
    s.close()
    ctx.term()


if __name__ == "__main__":
    if sys.argv[1] == "proxy":
        proxy()
    elif sys.argv[1] == "subbind":
        subbind(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:])
    elif sys.argv[1] == "pubconnect":
        pubconnect(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: zmq_topology.py proxy|subbind|pubconnect ...")

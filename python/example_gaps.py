#!/usr/bin/python3
"""Read a tickcast feed until its session ends and report every gap, with
the shipped reader (tickcast_reader.py) and generated code (fb/):

    python3 python/example_gaps.py tcp://127.0.0.1:6001 [TOPIC_PREFIX ...]
"""
import json
import sys

from tickcast_reader import Reader

reader = Reader(sys.argv[1], sys.argv[2:] or [""])
for ev in reader.events(until_end=True, timeout=60):
    if ev.kind == "gap":
        how = "a topic heartbeat" if ev.gap.heartbeat else "a later tick"
        print("gap %s: ticks %d..%d lost (%d), seen by %s" % (
            ev.topic.decode(), ev.gap.expected, ev.gap.received - 1, ev.gap.missing, how))
    elif ev.kind == "session_start":
        print("session %016x%s" % (ev.session, " (a restart: sequences start again)" if ev.prev_session else ""))
    elif ev.kind == "session_end":
        print("end of session %016x" % ev.session)
    sys.stdout.flush()
reader.close()
print(json.dumps(reader.summary()))

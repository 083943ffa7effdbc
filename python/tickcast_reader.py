#!/usr/bin/python3
"""tickcast_reader: read a tickcast feed from Python, with exact gap reports.

A library module and a command line. It subscribes with pyzmq, decodes every
message with the code flatc generated from schema/tick.fbs (python/fb), and
follows the subscriber's rules of docs/protocol.md, as the Go subscriber
(package subscriber) does for one line: per-topic sequence numbers, gaps
revealed by a later tick or by a topic heartbeat, late join at the first
message of each topic, sessions (a restart is not a gap; the end is
announced), stale lines, and the plausibility bounds that keep a forged or
broken message from moving the state. It reads one line: A/B arbitration and
recovery requests are the Go subscriber's (docs/recovery.md has the recovery
protocol; python/replay.py is a client).

    from tickcast_reader import Reader
    reader = Reader("tcp://127.0.0.1:6001", ["AAPL", "MSFT"])
    for ev in reader.events(until_end=True, timeout=60):
        if ev.kind == "gap":
            print(ev.topic, ev.gap.expected, ev.gap.received - 1)
    print(reader.summary())

The command line prints ticks and events, and a summary at the end (with
--json, one JSON object per line, the summary last, as `tickcast sub --json`):

    python3 python/tickcast_reader.py --endpoint tcp://127.0.0.1:6001 --topic AAPL --json

Feed (the rules, without I/O or a clock) can be driven by any transport:
Feed.message(frames, now) for each ZeroMQ message, Feed.timeout(now) now and
then. Needs Debian's python3-zmq (for Reader) and python3-flatbuffers.
"""
import argparse
import collections
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fb import Message as _fbmessage  # noqa: E402
from fb.Kind import Kind as _Kind  # noqa: E402
from fb.MessageType import MessageType as _MessageType  # noqa: E402

CONTROL_TOPIC = b"\x00tickcast"  # heartbeats and session ends; no ordinary prefix matches it
IDENTIFIER = b"TKC1"  # the FlatBuffers file identifier, bytes 4..8 of every body
WIRE_VERSION = 1

BATCH = _MessageType.Batch
HEARTBEAT = _MessageType.Heartbeat
TOPIC_HEARTBEAT = _MessageType.TopicHeartbeat
END_OF_SESSION = _MessageType.EndOfSession
_FEED_TYPES = (BATCH, HEARTBEAT, TOPIC_HEARTBEAT, END_OF_SESSION)
_KNOWN_TYPES = range(1, 8)  # Batch .. Snapshot

# The Go subscriber's bounds (subscriber/feed.go); docs/protocol.md explains them.
MIN_STREAM_JUMP = 1 << 20  # a stream sequence may jump this much, plus...
MAX_MESSAGE_RATE = 10_000_000  # ...this many messages per second since the line last heard it
MAX_TICKS_PER_MESSAGE = 1 << 20  # a topic advances at most this much per stream sequence number
MIN_HEARTBEAT_NS, MAX_HEARTBEAT_NS = 1_000_000, 3600 * 10**9
DEFAULT_STALE = 3.0  # seconds of silence before a line is stale, until a heartbeat interval is heard
STALE_HEARTBEATS = 3  # then this many heartbeat intervals
DEFAULT_MAX_TOPICS = 100_000  # topics followed per session
DEFAULT_TOPIC_IDLE = 600.0  # seconds unheard before a topic is forgotten (joined afresh if heard again)
ADOPT_BACKWARDS = 3  # messages in a row that carry on a sequence that went back before it is followed
U64 = (1 << 64) - 1

# Field slots of table Message, in tick.fbs order, and their sizes in the table.
_SLOT_SIZES = (1, 1, 8, 8, 8, 8, 8, 4, 8, 8, 4, 4)
_SLOT_TICKS = 7
_TICK_SIZE = 40

Gap = collections.namedtuple("Gap", "expected received missing heartbeat")
Gap.__doc__ = """Ticks expected .. received-1 of a topic will not arrive (missing of them);
heartbeat: a topic heartbeat revealed them, not a later tick."""


class DecodeError(ValueError):
    """A body that is not a well-formed tickcast message of a known version and type."""


def decode(body):
    """Check body as the Go decoder does (schema/decode.go) and return the
    generated fb.Message.Message over it. FlatBuffers for Python has no
    verifier: its accessors trust offsets, so every offset and length the
    feed reads is checked first. Raises DecodeError."""
    size = len(body)
    if size < 8 or size > 1 << 31:
        raise DecodeError("size %d" % size)
    if body[4:8] != IDENTIFIER:
        raise DecodeError("not a tickcast message (file identifier)")
    pos = struct.unpack_from("<I", body, 0)[0]
    if pos + 4 > size:
        raise DecodeError("root offset out of bounds")
    vt = pos - struct.unpack_from("<i", body, pos)[0]
    if vt < 0 or vt + 4 > size:
        raise DecodeError("vtable out of bounds")
    vt_size, obj_size = struct.unpack_from("<HH", body, vt)
    if vt_size < 4 or vt_size % 2 or vt + vt_size > size or obj_size < 4 or pos + obj_size > size:
        raise DecodeError("table out of bounds")
    offsets = []
    for i, field_size in enumerate(_SLOT_SIZES):
        entry = 4 + 2 * i
        if entry + 2 > vt_size:
            break  # fields of a later schema: absent
        off = struct.unpack_from("<H", body, vt + entry)[0]
        if off and (off < 4 or off + field_size > obj_size):
            raise DecodeError("field %d out of bounds" % i)
        offsets.append(off)
    m = _fbmessage.Message.GetRootAs(body, 0)
    if m.Version() != WIRE_VERSION:
        raise DecodeError("unsupported version %d" % m.Version())
    if m.Type() not in _KNOWN_TYPES:
        raise DecodeError("unknown message type %d" % m.Type())
    n = 0
    if len(offsets) > _SLOT_TICKS and offsets[_SLOT_TICKS]:
        at = pos + offsets[_SLOT_TICKS]
        vec = at + struct.unpack_from("<I", body, at)[0]
        if vec + 4 > size:
            raise DecodeError("tick vector out of bounds")
        n = struct.unpack_from("<I", body, vec)[0]
        if vec + 4 + n * _TICK_SIZE > size:
            raise DecodeError("tick vector out of bounds")
    if m.Type() in (BATCH, _MessageType.Snapshot) and n == 0:
        raise DecodeError("a batch without ticks")
    # Recovery requests and replies are not checked further: a feed counts
    # them as foreign (decode errors) whatever they hold.
    return m


class Event(object):
    """One thing the feed reports. kind is one of: ticks, gap, session_start,
    session_end, stale, active, backwards, topic_limit, line_up, line_down.
    ticks: the ticks event's fb.Tick.Tick objects, in sequence order; gap: a
    Gap (gap events; backwards: expected is where the topic was, received
    where the message went back to)."""
    __slots__ = ("kind", "line", "session", "topic", "ticks", "gap", "prev_session", "detail",
                 "stream_seq", "send_time_ns", "recv_time_ns")

    def __init__(self, kind, line="", session=0, topic=b"", ticks=(), gap=None, prev_session=0, detail="",
                 stream_seq=0, send_time_ns=0, recv_time_ns=0):
        self.kind, self.line, self.session, self.topic = kind, line, session, topic
        self.ticks, self.gap, self.prev_session, self.detail = ticks, gap, prev_session, detail
        self.stream_seq, self.send_time_ns, self.recv_time_ns = stream_seq, send_time_ns, recv_time_ns

    def __repr__(self):
        return "Event(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__ if getattr(self, k))


class Stats(object):
    """The line's counters (subscriber.LineStats, for one line)."""
    __slots__ = ("messages", "bytes", "ticks", "gaps", "missing", "decode_errors", "filtered", "implausible",
                 "backwards", "topics_refused", "topics_expired", "restarts", "stale", "connects", "disconnects")

    def __init__(self):
        for k in self.__slots__:
            setattr(self, k, 0)


class _Topic(object):
    """Where a topic is in its sequence (the Go subscriber's lineTopic and
    topicState, which coincide on one line)."""
    __slots__ = ("next", "last_stream", "backwards", "back_run", "back_next", "heard")

    def __init__(self, now):
        self.next = 0  # the sequence number due next
        self.last_stream = 0  # the stream sequence of the last message on the topic
        self.backwards = False  # the sequence went back: reported once
        self.back_run = 0  # messages in a row that carried on from where it went back
        self.back_next = 0
        self.heard = now


def _join_topic(first, join, prev_stream, prev_topic):
    """Where a topic first heard starts: at first, unless the message names a
    previous message on the topic sent after we joined the session (so ours
    to get, and we did not get it): then just after what preceded it."""
    start = (prev_topic + 1) & U64
    if prev_stream != 0 and prev_stream >= join and start < first:
        return start
    return first


def _plausible_jump(t, to, stream):
    """Whether a topic may go from t.next to `to` in a message of stream
    sequence `stream`: at most MAX_TICKS_PER_MESSAGE per stream sequence
    number since the last message on the topic."""
    if to <= t.next or t.last_stream == 0:
        return True
    if stream <= t.last_stream:
        return False
    d = stream - t.last_stream
    return d >= U64 // MAX_TICKS_PER_MESSAGE or to - t.next <= d * MAX_TICKS_PER_MESSAGE


class Feed(object):
    """The subscriber's rules for one line, without I/O or a clock.

    message(frames, now) takes one ZeroMQ message (a list of frames) received
    at now (seconds, monotonic) and returns the events it causes, in order;
    timeout(now) returns the events due by the clock (a stale line) and
    forgets idle topics; deadline() says when timeout next has work.
    prefixes are the topic prefixes subscribed to (bytes or str; "" matches
    every topic): a transport that cannot filter upstream sends everything,
    and what matches none is counted and skipped."""

    def __init__(self, prefixes=(b"",), line="", stale_after=None, max_topics=DEFAULT_MAX_TOPICS,
                 topic_idle=DEFAULT_TOPIC_IDLE, now=None):
        self.prefixes = [p.encode() if isinstance(p, str) else bytes(p) for p in prefixes] or [b""]
        self.line = line
        self.stale_after = stale_after
        self.max_topics = max_topics
        self.topic_idle = topic_idle
        self.stats = Stats()
        self.session = None  # the session the line carries; None before its first message
        self.join = 0  # the lowest stream sequence heard of the session: where we joined it
        self.topics = {}  # topic (bytes) -> _Topic, for the session
        self.ended = False  # the session ended (EndOfSession)
        self.at_limit = False  # topic_limit was reported for the session
        self.max_stream = 0  # the highest stream sequence heard; 0: none since (re)connecting
        self.stream_at = 0.0
        self.heartbeat = None  # the publisher's heartbeat interval, seconds
        self.last_heard = time.monotonic() if now is None else now
        self.stale = False
        self.down = False
        self.swept_at = None
        self._out = []

    def matches(self, topic):
        return any(topic.startswith(p) for p in self.prefixes)

    def _emit(self, kind, **kw):
        self._out.append(Event(kind, line=self.line, **kw))

    def state(self):
        """The line's state, as the Go subscriber names it."""
        if self.ended:
            return "ended"
        if self.down:
            return "down"
        if self.stale:
            return "stale"
        if self.session is None:
            return "connecting"
        return "active"

    def message(self, frames, now):
        """Take one message; return the events it causes."""
        out = self._out = []
        st = self.stats
        st.messages += 1
        st.bytes += sum(len(f) for f in frames)
        topic = bytes(frames[0]) if frames else b""
        control = topic == CONTROL_TOPIC
        if not control and not self.matches(topic):
            st.filtered += 1
            return out
        if len(frames) != 2:
            st.decode_errors += 1
            return out
        try:
            m = decode(bytes(frames[1]))
        except (DecodeError, struct.error):  # struct.error: never, after decode's checks
            st.decode_errors += 1
            return out
        typ = m.Type()
        if typ not in _FEED_TYPES:
            st.decode_errors += 1  # recovery messages are not a feed's
            return out
        if control != (typ in (HEARTBEAT, END_OF_SESSION)):
            st.decode_errors += 1  # feed-wide messages on the control topic only, a topic's never
            return out
        session, stream = m.Session(), m.StreamSeq()
        if not self._plausible_stream(session, stream, now):
            return out
        self.last_heard = now
        if self.stale:
            self.stale = False
            self._emit("active", session=session)
        self._attach(session)
        if self.join == 0 or stream < self.join:
            self.join = stream
        if typ == HEARTBEAT:
            if m.HeartbeatNs() > 0:
                hb = m.HeartbeatNs()
                if MIN_HEARTBEAT_NS <= hb <= MAX_HEARTBEAT_NS:
                    self.heartbeat = hb / 1e9
                else:
                    st.implausible += 1  # the line keeps its stale timeout
        elif typ == END_OF_SESSION:
            if not self.ended:
                self.ended = True
                self._emit("session_end", session=session)
        elif typ == TOPIC_HEARTBEAT:
            self._topic_heartbeat(topic, m, now)
        else:
            self._batch(topic, m, now)
        return out

    def _plausible_stream(self, session, stream, now):
        """Whether the stream sequence is one the publisher can have reached
        since the line last heard it; if not, the message is dropped."""
        same = self.session is not None and self.session == session
        if self.max_stream and same and stream > self.max_stream:
            limit = MIN_STREAM_JUMP + int(max(now - self.stream_at, 0.0) * MAX_MESSAGE_RATE)
            if stream - self.max_stream > limit:
                self.stats.implausible += 1
                return False
        if not same or stream > self.max_stream:
            self.max_stream, self.stream_at = stream, now
        return True

    def _attach(self, session):
        """Make the line carry session: a new session starts afresh (sequence
        numbers restart, which is not a gap)."""
        if self.session is not None and self.session == session:
            return
        prev = self.session if self.session is not None else 0
        self.session, self.join, self.topics, self.ended, self.at_limit = session, 0, {}, False, False
        if prev != 0:
            self.stats.restarts += 1
        self._emit("session_start", session=session, prev_session=prev)

    def _topic(self, name, now):
        """The topic's state and whether it was known; (None, False) past the topic limit."""
        t = self.topics.get(name)
        if t is not None:
            t.heard = now
            return t, True
        if len(self.topics) >= self.max_topics:
            self.stats.topics_refused += 1
            if not self.at_limit:
                self.at_limit = True
                self._emit("topic_limit", session=self.session,
                           detail="%d topics: messages on new topics are dropped until idle ones expire"
                           % len(self.topics))
            return None, False
        t = self.topics[name] = _Topic(now)
        return t, False

    def _gap(self, name, expected, received, heartbeat):
        g = Gap(expected, received, received - expected, heartbeat)
        self.stats.gaps += 1
        self.stats.missing += g.missing
        self._emit("gap", session=self.session, topic=name, gap=g)

    def _batch(self, name, m, now):
        t, known = self._topic(name, now)
        if t is None:
            return
        n, stream = m.TicksLength(), m.StreamSeq()
        first = m.Ticks(0).Seq()
        if not known:
            # Late join: the topic starts at its first tick heard, unless the
            # message names a previous one we should have heard.
            t.next = _join_topic(first, self.join, m.PrevStreamSeq(), m.PrevTopicSeq())
        elif not _plausible_jump(t, first, stream):
            self.stats.implausible += 1
            return
        if stream > t.last_stream:
            t.last_stream = stream
        if first < t.next and not self._backwards(name, t, m, first, n):
            return
        t.backwards = False
        run = []
        for i in range(n):
            tick = m.Ticks(i)
            seq = tick.Seq()
            if seq < t.next:
                self.stats.backwards += 1  # overlaps what came before
                continue
            if seq > t.next:
                if run:
                    self._ticks(name, run, m, now)
                    run = []
                self._gap(name, t.next, seq, False)
            run.append(tick)
            t.next = (seq + 1) & U64
        if run:
            self._ticks(name, run, m, now)

    def _ticks(self, name, run, m, now):
        self.stats.ticks += len(run)
        self._emit("ticks", session=self.session, topic=name, ticks=run, stream_seq=m.StreamSeq(),
                   send_time_ns=m.SendTimeNs(), recv_time_ns=time.time_ns())

    def _backwards(self, name, t, m, first, n):
        """A message that starts behind the topic's sequence: reported once,
        not delivered, unless ADOPT_BACKWARDS messages in a row carry the
        sequence on from where it went back: then it is followed from there.
        Returns whether to take the message."""
        last = m.Ticks(n - 1).Seq()
        if not t.backwards:
            t.backwards, t.back_run = True, 0
            self._emit("backwards", session=self.session, topic=name, gap=Gap(t.next, first, 0, False))
        if t.back_run > 0 and first == t.back_next:
            t.back_run += 1
        else:
            t.back_run = 1
        t.back_next = (last + 1) & U64
        if t.back_run < ADOPT_BACKWARDS:
            self.stats.backwards += n
            return False
        t.next, t.backwards, t.back_run = first, False, 0
        return True

    def _topic_heartbeat(self, name, m, now):
        last = m.TopicSeq()
        if last == U64:
            self.stats.implausible += 1
            return
        t, known = self._topic(name, now)
        if t is None:
            return
        stream = m.StreamSeq()
        if not known:
            t.next = _join_topic(last + 1, self.join, m.PrevStreamSeq(), m.PrevTopicSeq())
        elif not _plausible_jump(t, last + 1, stream):
            self.stats.implausible += 1
            return
        if stream > t.last_stream:
            t.last_stream = stream
        if last + 1 > t.next:
            # The topic went quiet after ticks that never came.
            self._gap(name, t.next, last + 1, True)
            t.next = last + 1

    def line_event(self, kind, now, detail=""):
        """The transport connected ("line_up") or lost its connection
        ("line_down"): the publisher may have gone far meanwhile."""
        out = self._out = []
        if kind == "line_up":
            self.stats.connects += 1
            self.down = False
        elif kind == "line_down":
            self.stats.disconnects += 1
            self.down = True
        else:
            return out
        self.max_stream = 0
        self._emit(kind, session=self.session or 0, detail=detail)
        return out

    def _stale_after(self):
        if self.stale_after:
            return self.stale_after
        if self.heartbeat:
            return STALE_HEARTBEATS * self.heartbeat
        return DEFAULT_STALE

    def deadline(self):
        """When timeout has work next (None: not until a message comes)."""
        if self.stale or self.ended:
            return None
        return self.last_heard + self._stale_after()

    def timeout(self, now):
        """Forget idle topics; report the line stale after its silence."""
        out = self._out = []
        if self.topic_idle > 0 and (self.swept_at is None or now - self.swept_at >= self.topic_idle / 10):
            self.swept_at = now
            for name in [k for k, t in self.topics.items() if now - t.heard >= self.topic_idle]:
                del self.topics[name]
                self.stats.topics_expired += 1
            if len(self.topics) < self.max_topics:
                self.at_limit = False
        if not self.stale and not self.ended:
            silent = now - self.last_heard
            if silent >= self._stale_after():
                self.stale = True
                self.stats.stale += 1
                self._emit("stale", session=self.session or 0, detail="nothing heard for %dms" % round(silent * 1000))
        return out


class Tally(object):
    """What was delivered, per topic, for a summary like `tickcast sub`'s."""

    def __init__(self):
        self.received, self.sessions, self.restarts, self.ends = 0, 0, 0, 0
        self.topics = {}

    def _topic(self, name):
        key = name.decode("utf-8", "replace")
        t = self.topics.get(key)
        if t is None:
            t = self.topics[key] = {"received": 0, "gaps": 0, "missing": 0, "last_seq": 0}
        return t

    def add(self, ev):
        if ev.kind == "ticks":
            t = self._topic(ev.topic)
            self.received += len(ev.ticks)
            t["received"] += len(ev.ticks)
            t["last_seq"] = ev.ticks[-1].Seq()
        elif ev.kind == "gap":
            t = self._topic(ev.topic)
            t["gaps"] += 1
            t["missing"] += ev.gap.missing
        elif ev.kind == "session_start":
            self.sessions += 1
            if ev.prev_session:
                self.restarts += 1
        elif ev.kind == "session_end":
            self.ends += 1

    def summary(self, feed, seconds=0.0, timed_out=False):
        s = feed.stats
        return {
            "type": "summary", "received": self.received, "gaps": s.gaps, "missing": s.missing,
            "decode_errors": s.decode_errors, "implausible": s.implausible, "backwards": s.backwards,
            "topics_refused": s.topics_refused, "topics_expired": s.topics_expired,
            "sessions": self.sessions, "restarts": self.restarts, "session_ends": self.ends,
            "seconds": round(seconds, 6), "timed_out": timed_out, "topics": self.topics,
            "lines": [{
                "endpoint": feed.line, "state": feed.state(), "messages": s.messages, "bytes": s.bytes,
                "ticks": s.ticks, "decode_errors": s.decode_errors, "filtered": s.filtered,
                "connects": s.connects, "disconnects": s.disconnects, "stale": s.stale,
                "implausible": s.implausible, "backwards": s.backwards, "topics_refused": s.topics_refused,
            }],
        }


class Reader(object):
    """A ZeroMQ SUB on one endpoint of a tickcast feed, and the Feed rules.

    topics are prefixes (str or bytes; "" or none: every topic). The control
    topic is subscribed to as well, last, and every subscription is set
    before connecting, so that they reach the publisher together."""

    def __init__(self, endpoint, topics=("",), rcvhwm=100_000, **feed_options):
        import zmq  # only the network reader needs pyzmq
        from zmq.utils.monitor import recv_monitor_message
        self._zmq, self._recv_monitor = zmq, recv_monitor_message
        prefixes = [p.encode() if isinstance(p, str) else bytes(p) for p in topics] or [b""]
        self.feed = Feed(prefixes, line=endpoint, **feed_options)
        self.tally = Tally()
        self.sock = zmq.Context.instance().socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, rcvhwm)
        for p in prefixes:
            self.sock.setsockopt(zmq.SUBSCRIBE, p)
        self.sock.setsockopt(zmq.SUBSCRIBE, CONTROL_TOPIC)
        self.monitor = self.sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        self.sock.connect(endpoint)
        self.started = time.monotonic()
        self.count = 0
        self.closed = False

    def events(self, count=0, timeout=None, until_end=False):
        """Yield events until count ticks were received (0: no limit), the
        session ends (until_end), or timeout seconds pass. The summary says
        timed_out if count was not reached."""
        zmq, feed = self._zmq, self.feed
        self.count = count
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.monitor, zmq.POLLIN)
        end = None if timeout is None else time.monotonic() + timeout
        while count == 0 or self.tally.received < count:
            now = time.monotonic()
            for ev in feed.timeout(now):
                self.tally.add(ev)
                yield ev
            wake = [d for d in (feed.deadline(), end) if d is not None]
            wait = None if not wake else max(min(wake) - now, 0)
            if end is not None and now >= end:
                return
            ready = dict(poller.poll(None if wait is None else int(wait * 1000) + 1))
            if self.monitor in ready:
                evt = self._recv_monitor(self.monitor)
                kind = "line_up" if evt["event"] == zmq.EVENT_CONNECTED else "line_down"
                for ev in feed.line_event(kind, time.monotonic(), str(evt.get("endpoint", b""), "utf-8", "replace")):
                    yield ev
            if self.sock not in ready:
                continue
            for _ in range(1000):  # what is there, then look at the clock again
                try:
                    frames = self.sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                for ev in feed.message(frames, time.monotonic()):
                    self.tally.add(ev)
                    yield ev
                    if until_end and ev.kind == "session_end" or count and self.tally.received >= count:
                        return

    def summary(self):
        timed_out = self.count > 0 and self.tally.received < self.count
        return self.tally.summary(self.feed, time.monotonic() - self.started, timed_out)

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.disable_monitor()
        except self._zmq.ZMQError:
            pass
        self.monitor.close(0)
        self.sock.close(0)


# The command line.

_KIND_NAMES = {v: k.lower() for k, v in vars(_Kind).items() if not k.startswith("_")}


def _decimal(v, exp):
    """v × 10^exp, exactly, as `tickcast sub` writes it."""
    if exp >= 0:
        return str(v) + "0" * exp
    digits = str(abs(v)).rjust(-exp + 1, "0")
    s = digits[:exp] + "." + digits[exp:]
    return "-" + s if v < 0 else s


def _event_json(ev):
    m = {"type": ev.kind, "line": ev.line}
    if ev.session:
        m["session"] = "%016x" % ev.session
    if ev.kind == "gap":
        m.update(topic=ev.topic.decode("utf-8", "replace"), expected=ev.gap.expected, received=ev.gap.received,
                 missing=ev.gap.missing, by_heartbeat=ev.gap.heartbeat)
    elif ev.kind == "backwards":
        m.update(topic=ev.topic.decode("utf-8", "replace"), to=ev.gap.received, **{"from": ev.gap.expected})
    elif ev.kind == "session_start" and ev.prev_session:
        m["previous_session"] = "%016x" % ev.prev_session
    if ev.detail:
        m["detail"] = ev.detail
    return m


def _print_event(ev, as_json, ticks, out):
    if ev.kind == "ticks":
        if not ticks:
            return
        topic = ev.topic.decode("utf-8", "replace")
        for t in ev.ticks:
            kind = _KIND_NAMES.get(t.Kind(), "kind(%d)" % t.Kind())
            price, size = _decimal(t.Price(), t.PriceExp()), _decimal(t.Size(), t.SizeExp())
            if as_json:
                out.write(json.dumps({
                    "type": "tick", "topic": topic, "seq": t.Seq(), "kind": kind, "price": price, "size": size,
                    "instrument": t.Instrument(), "event_time_ns": t.EventTimeNs(),
                    "recv_time_ns": ev.recv_time_ns, "latency_ns": ev.recv_time_ns - t.EventTimeNs(),
                    "session": "%016x" % ev.session}) + "\n")
            else:
                out.write("%s #%d %s %s x %s\n" % (topic, t.Seq(), kind, price, size))
        return
    if as_json:
        out.write(json.dumps(_event_json(ev)) + "\n")
    elif ev.kind == "gap":
        how = "the topic heartbeat" if ev.gap.heartbeat else "a later tick"
        out.write("-- GAP %s: seq %d..%d missing (%d ticks), seen by %s\n" % (
            ev.topic.decode("utf-8", "replace"), ev.gap.expected, ev.gap.received - 1, ev.gap.missing, how))
    elif ev.kind == "session_start":
        if ev.prev_session:
            out.write("-- RESTART %s: session %016x replaces %016x (sequences restart: not a gap)\n" % (
                ev.line, ev.session, ev.prev_session))
        else:
            out.write("-- SESSION %016x on %s\n" % (ev.session, ev.line))
    elif ev.kind == "session_end":
        out.write("-- END of session %016x on %s\n" % (ev.session, ev.line))
    else:
        out.write("-- %s %s %s\n" % (ev.kind.upper().replace("_", " "), ev.line, ev.detail))


def _seconds(s):
    """A duration: 1.5, 1.5s, 500ms or 2m."""
    for suffix, scale in (("ms", 1e-3), ("s", 1.0), ("m", 60.0)):
        if s.endswith(suffix):
            return float(s[:-len(suffix)]) * scale
    return float(s)


def _replay(path, feed, tally, show):
    """Feed the messages of a file, one a line: a JSON array of hex frames."""
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            frames = [bytes.fromhex(h) for h in json.loads(line)]
            now = time.monotonic()
            for ev in feed.message(frames, now) + feed.timeout(now):
                tally.add(ev)
                show(ev)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Read a tickcast feed: ticks, gaps (by a later tick or a topic heartbeat), sessions; a summary at the end.")
    ap.add_argument("--endpoint", help="the feed to read (connects): tcp://host:port, ipc://path, epgm://iface;group:port")
    ap.add_argument("--topic", action="append", default=[], help="topic prefix, repeatable; none (or '') means every topic")
    ap.add_argument("--count", type=int, default=0, help="exit 0 once this many ticks arrived (exit 3 if --timeout passes first)")
    ap.add_argument("--timeout", type=_seconds, default=None, help="stop after this long (1.5, 10s, 500ms, 2m)")
    ap.add_argument("--until-end", action="store_true", help="exit once the publisher ends its session")
    ap.add_argument("--json", action="store_true", help="one JSON object per line; the summary is the last line")
    ap.add_argument("--quiet", action="store_true", help="print only the summary")
    ap.add_argument("--no-ticks", action="store_true", help="print events but not ticks")
    ap.add_argument("--stale", type=_seconds, default=None, help="report the line stale after this much silence (default: 3 heartbeats)")
    ap.add_argument("--max-topics", type=int, default=DEFAULT_MAX_TOPICS, help="topics followed per session")
    ap.add_argument("--replay", metavar="FILE", help="read messages from FILE (a JSON array of hex frames a line) instead of a socket")
    args = ap.parse_args(argv)
    if (args.endpoint is None) == (args.replay is None):
        ap.error("give --endpoint or --replay")
    out = sys.stdout
    flushed = [time.monotonic()]

    def show(ev):
        if args.quiet:
            return
        _print_event(ev, args.json, not args.no_ticks, out)
        # Events at once; ticks at most every 100 ms, so a fast feed costs few writes.
        now = time.monotonic()
        if ev.kind != "ticks" or now - flushed[0] >= 0.1:
            out.flush()
            flushed[0] = now

    opts = dict(stale_after=args.stale, max_topics=args.max_topics)
    topics = args.topic or [""]
    status = 0
    if args.replay:
        feed, tally = Feed(topics, line="replay", **opts), Tally()
        _replay(args.replay, feed, tally, show)
        summary = tally.summary(feed)
    else:
        reader = Reader(args.endpoint, topics, **opts)
        try:
            for ev in reader.events(count=args.count, timeout=args.timeout, until_end=args.until_end):
                show(ev)
        except KeyboardInterrupt:
            pass
        finally:
            reader.close()
        summary = reader.summary()
        if summary["timed_out"]:
            status = 3
    if args.json:
        out.write(json.dumps(summary) + "\n")
    else:
        out.write("received %d ticks, %d gaps, %d missing, %d decode errors; %d sessions, %d restarts, %d ends\n" % (
            summary["received"], summary["gaps"], summary["missing"], summary["decode_errors"],
            summary["sessions"], summary["restarts"], summary["session_ends"]))
        for name in sorted(summary["topics"]):
            t = summary["topics"][name]
            out.write("  %-12s %10d received %6d gaps %8d missing  last #%d\n" % (
                name, t["received"], t["gaps"], t["missing"], t["last_seq"]))
    out.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())

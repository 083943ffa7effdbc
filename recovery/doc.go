// Package recovery is tickcast's retransmission service: it keeps the recent
// history of a feed, exactly as published, and the last value of every
// topic, and answers replay requests (a topic's messages over a range of
// sequence numbers) and snapshot requests (the last value of every topic
// matching some prefixes) over ZeroMQ request/reply, so that a subscriber can
// fill a gap that the transport could not repair, and a late joiner can start
// from a snapshot.
//
// History is the protocol logic, without I/O and without a clock; Server
// puts it on a zmtp.Replier and takes the feed as a port.Sink (inside a
// publisher) or through Record (a standalone service reading a feed).
//
// # The protocol
//
// A request is one frame: a schema Message of type RecoveryRequest. A reply
// is one ZeroMQ message: frame 0 a Message of type RecoveryReply (status,
// the range covered, what is held), then Count pairs of frames [topic, body],
// each body a Message as the publisher sent it (replay) or of type Snapshot
// (snapshot). Replies are bounded (messages and bytes for a replay, topics
// for a snapshot): a reply with status Partial is continued by asking again
// from its To+1 (replay) or after its Topic (snapshot).
package recovery

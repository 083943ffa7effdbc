// tickdump: decode one tickcast message with the generated C++ code
// (../tick_generated.h, flatc --cpp from schema/tick.fbs) and print it.
//
//   g++ -std=c++17 -I cpp -o tickdump cpp/example/tickdump.cpp
//   ./tickdump < body.bin
//
// The input is the body of a tickcast message (frame 1 of the two ZeroMQ
// frames [topic, body]; with libzmq, what zmq_msg_data gives for the second
// frame). Bytes from the network are untrusted: the FlatBuffers verifier
// checks every offset before anything is read, and the version and type are
// checked before the fields are believed. docs/protocol.md has the rules a
// feed handler follows with what it decodes (sequences, gaps, heartbeats,
// sessions). Exit status: 0 a feed message, 1 anything else.
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "tick_generated.h"

int main() {
  std::string body((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  auto data = reinterpret_cast<const uint8_t *>(body.data());

  if (body.size() < 8 || !fb::MessageBufferHasIdentifier(data)) {
    std::fprintf(stderr, "not a tickcast message (file identifier %s)\n", fb::MessageIdentifier());
    return 1;
  }
  flatbuffers::Verifier verifier(data, body.size());
  if (!fb::VerifyMessageBuffer(verifier)) {
    std::fprintf(stderr, "malformed message\n");
    return 1;
  }
  const fb::Message *m = fb::GetMessage(data);
  if (m->version() != 1) {
    std::fprintf(stderr, "unsupported wire version %u\n", unsigned(m->version()));
    return 1;
  }
  switch (m->type()) {
  case fb::MessageType_Batch:
  case fb::MessageType_Heartbeat:
  case fb::MessageType_TopicHeartbeat:
  case fb::MessageType_EndOfSession:
    break;
  default:
    std::fprintf(stderr, "not a feed message (type %u)\n", unsigned(m->type()));
    return 1;
  }
  std::printf("%s session=%016" PRIx64 " stream_seq=%" PRIu64 " prev_stream_seq=%" PRIu64
              " prev_topic_seq=%" PRIu64 " topic_seq=%" PRIu64 " heartbeat_ns=%" PRId64 "\n",
              fb::EnumNameMessageType(m->type()), m->session(), m->stream_seq(), m->prev_stream_seq(),
              m->prev_topic_seq(), m->topic_seq(), m->heartbeat_ns());
  if (m->type() == fb::MessageType_Batch && (m->ticks() == nullptr || m->ticks()->size() == 0)) {
    std::fprintf(stderr, "a batch without ticks\n");
    return 1;
  }
  if (m->ticks() != nullptr) {
    for (const fb::Tick *t : *m->ticks()) {
      std::printf("#%" PRIu64 " %s %" PRId64 "e%d x %" PRId64 "e%d instrument=%" PRIu32 " event_time_ns=%" PRId64 "\n",
                  t->seq(), fb::EnumNameKind(t->kind()), t->price(), int(t->price_exp()), t->size(),
                  int(t->size_exp()), t->instrument(), t->event_time_ns());
    }
  }
  return 0;
}

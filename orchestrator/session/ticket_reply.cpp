#include "session/ticket_reply.h"

namespace breakfix {

ReplyText read_reply(Runtime& runtime, const Lab& lab, const Reply& reply) {
  ReplyText read{reply.host, reply.path, std::nullopt, false, ""};
  const LabHost* host = lab.find(reply.host);
  if (!host) {
    read.problem = "the lab has no host " + reply.host;
    return read;
  }
  TreeReadOptions options;
  options.keep_bytes = kMaxReplyBytes;
  // The archive of one file: its header, then at most the kept bytes and a little more.
  options.max_bytes = kMaxReplyBytes + (1 << 20);
  auto done = runtime.read_tree(
      host->container_id, reply.path, options,
      [&](const FileRecord& header) {
        if (header.path != reply.path) return ReadWant::Skip;
        if (header.type == FileType::Regular) return ReadWant::Keep;
        // A link is not followed: it would show the interviewer a file the candidate only pointed at.
        read.problem = std::string("it is a ") + (header.type == FileType::Other ? "special file" : to_string(header.type)) + ", not a file";
        return ReadWant::Skip;
      },
      [&](FileRecord record) {
        read.cut = record.size > static_cast<std::int64_t>(kMaxReplyBytes);
        read.text = std::move(record.head);
        return false;
      });
  if (!done && done.error().code != ErrorCode::NotFound) read.problem = done.error().message;
  return read;
}

}  // namespace breakfix

#pragma once

// What the tests of channel recording share: SFTP packets made by hand, feeding an
// observer the two sides of a conversation in the order the gateway sees them (whole or
// cut into pieces), and a record's start as the gateway fills it.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/transfer_observer.h"
#include "session/channel_record.h"

namespace breakfix::testing {

// SFTP's big-endian integers, length-prefixed strings and [length][type][body] packets.
inline std::string u32(std::uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16), static_cast<char>(value >> 8),
          static_cast<char>(value)};
}
inline std::string u64(std::uint64_t value) {
  return u32(static_cast<std::uint32_t>(value >> 32)) + u32(static_cast<std::uint32_t>(value));
}
inline std::string str(std::string_view text) { return u32(static_cast<std::uint32_t>(text.size())) + std::string(text); }
inline std::string packet(std::uint8_t type, const std::string& body) {
  return u32(static_cast<std::uint32_t>(body.size() + 1)) + static_cast<char>(type) + body;
}

// One side's bytes at a time.
struct Step {
  bool client;
  std::string bytes;
};

// Feeds `steps` to `observer` in pieces of `piece` bytes (0: whole), ends the channel
// when `end`, and returns every operation it completed, in order.
inline std::vector<FileOperation> feed(TransferObserver& observer, const std::vector<Step>& steps, std::size_t piece = 0,
                                       bool end = true) {
  std::vector<FileOperation> operations;
  auto take = [&] {
    for (auto& operation : observer.take_operations()) operations.push_back(std::move(operation));
  };
  for (const Step& step : steps) {
    std::string_view rest = step.bytes;
    while (!rest.empty()) {
      const std::size_t n = piece == 0 ? rest.size() : std::min(piece, rest.size());
      if (step.client) observer.from_client(rest.substr(0, n));
      else observer.from_server(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    take();
  }
  if (end) observer.end();
  take();
  return operations;
}

// An exec channel's start: `command` on host main as root, connection #3 from 127.0.0.1,
// started at 2026-11-27T03:34:30.250Z.
inline ChannelRecord exec_start(const std::string& command) {
  ChannelRecord start;
  start.type = "exec";
  start.host = "main";
  start.user = "root";
  start.command = command;
  start.connection = 3;
  start.from = "127.0.0.1";
  start.connection_opened = from_unix_ms(1795750466000);
  start.started = from_unix_ms(1795750470250);
  return start;
}

}  // namespace breakfix::testing

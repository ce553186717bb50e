#pragma once

// What the tests of the transfer observers share: SFTP packets made by hand, and feeding
// an observer the two sides of a conversation in the order the gateway sees them, whole
// or cut into pieces.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/transfer_observer.h"

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

}  // namespace breakfix::testing

#pragma once

// Watches the bytes of a file-transfer protocol go through a channel's bridge (both
// directions, in the order the gateway saw them) and tells what was done to which files.
// The observer sits in the gateway, never in the container: the candidate is root there
// and could change anything that reports from inside.
//
// Contract for every implementation: memory stays bounded whatever the bytes are (a
// hostile client or a replaced server may send anything); nothing throws on bad input
// (an observer that cannot follow the stream says so once, as an "unparsed" operation,
// and ignores the rest); no I/O.

#include <string_view>
#include <utility>
#include <vector>

#include "session/channel_record.h"

namespace breakfix {

class TransferObserver {
 public:
  virtual ~TransferObserver() = default;
  virtual void from_client(std::string_view bytes) = 0;
  virtual void from_server(std::string_view bytes) = 0;
  // The channel ended: files still open and requests never answered become operations.
  virtual void end() = 0;

  // The operations completed since the last call, oldest first. Callers take them after
  // each call above, so they never pile up.
  std::vector<FileOperation> take_operations() { return std::exchange(completed_, {}); }

 protected:
  void completed(FileOperation operation) { completed_.push_back(std::move(operation)); }

 private:
  std::vector<FileOperation> completed_;
};

}  // namespace breakfix

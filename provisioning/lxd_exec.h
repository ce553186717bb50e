#pragma once

// An exec on LXD as an ExecStream. LXD runs the process once the caller has connected
// to the operation's websockets: one for a terminal (interactive), or one each for
// stdin, stdout and stderr, plus a control socket for resizes. A thread of the stream's
// own moves their messages through a socketpair, so that the caller polls one file
// descriptor, as with Docker's hijacked connection.

#include <functional>
#include <memory>

#include "breakfix/runtime.h"
#include "lxd_client.h"

namespace breakfix::lxd {

// Connects to the websockets of `operation` (an exec started with wait-for-websocket)
// and returns the stream. `kill` kills the exec's process tree (ExecStream::kill).
Result<std::unique_ptr<ExecStream>> open_exec_stream(Client& client, const Operation& operation, bool tty,
                                                     std::function<Status()> kill);

// Starts an exec (POST `exec_path`, "/1.0/instances/<name>/exec", with `body`) and opens
// its stream, as open_exec_stream; made again when LXD declined its websockets, which in
// a cluster it did now and then for an instance of another member.
Result<std::unique_ptr<ExecStream>> start_exec_stream(Client& client, const std::string& exec_path,
                                                      const nlohmann::json& body, const std::string& what, bool tty,
                                                      std::function<Status()> kill);

}  // namespace breakfix::lxd

#pragma once

// Bounds on a blocking socket's reads and writes (SO_RCVTIMEO, SO_SNDTIMEO): the one way
// the Docker client, the CLI's API client and the daemon's HTTP server keep a silent
// peer from holding a thread. Zero removes the bound.

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>

namespace breakfix {

inline void set_socket_timeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace breakfix

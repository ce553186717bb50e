#pragma once

// The gateway's counters, for whoever exports them (the daemon's /metrics). The gateway
// owns this seam so that it depends on no part above it. Called from any thread.

namespace breakfix {

class GatewayMetrics {
 public:
  virtual ~GatewayMetrics() = default;
  virtual void count_ssh_connection() = 0;   // accepted, before authentication
  virtual void ssh_connection_opened() = 0;  // a connection's thread started
  virtual void ssh_connection_closed() = 0;  // ... and ended
  virtual void count_auth_failure() = 0;
  virtual void count_runtime_error() = 0;    // an exec into a host failed
};

}  // namespace breakfix

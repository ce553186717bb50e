#pragma once

// What the gateway asks of whoever issues a session's credentials: does a password match
// the session's hash, is an offered key among the allowed ones. The gateway owns this
// seam so that it depends on no part above it; the daemon answers it with the rules of
// daemon/credentials.h, and tests with a fake.

#include <string>
#include <vector>

namespace breakfix {

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Whether `password` is the one whose hash a session keeps.
  virtual bool password_matches(const std::string& password, const std::string& hash) const = 0;
  // Whether the key the client proved it holds, as "<type> <base64>", is one of `allowed`,
  // each in that same form (the daemon normalises keys where they come in).
  virtual bool key_listed(const std::string& offered, const std::vector<std::string>& allowed) const = 0;
};

}  // namespace breakfix

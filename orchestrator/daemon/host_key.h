#pragma once

// The gateway's identity: one ed25519 host key made on the first start and kept in the
// data dir (mode 0600), so candidates' known_hosts stay valid across restarts.

#include <filesystem>
#include <string>

#include "breakfix/error.h"

namespace breakfix {

struct HostKeyInfo {
  std::filesystem::path file;
  std::string fingerprint;  // "SHA256:..." as ssh prints it
  std::string public_line;  // "ssh-ed25519 AAAA..." for known_hosts
};

// Loads <data_dir>/ssh_host_ed25519_key, generating it first when absent.
Result<HostKeyInfo> ensure_host_key(const std::filesystem::path& data_dir);

}  // namespace breakfix

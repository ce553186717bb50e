#pragma once

// SHA-256 over OpenSSL, alone in a file of its own: the static helper that reads labs'
// files on an LXD cluster's members (hostview_main.cpp) links it without libarchive.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace breakfix::archive {

// `size` bytes as lowercase hex digits.
std::string to_hex(const unsigned char* bytes, std::size_t size);

// The SHA-256 of `data` as 64 lowercase hex digits. Aborts the process if OpenSSL
// cannot compute it (out of memory, or a configuration without the default provider):
// a wrong digest would give two different build contexts the same image tag.
std::string sha256_hex(std::string_view data);

// The SHA-256 of data that arrives in pieces. Aborts the process, as sha256_hex does,
// if OpenSSL cannot compute it.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  // 64 lowercase hex digits; call once, after the last update.
  std::string hex_digest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace breakfix::archive

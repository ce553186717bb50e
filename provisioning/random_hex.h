#pragma once

// Random hex strings for names that must not collide (exec markers, scratch objects).
// Not for secrets: std::random_device is good enough here and is what both backends use.

#include <cstddef>
#include <random>
#include <string>

namespace breakfix {

inline std::string random_hex(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device random;
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    const unsigned value = random() & 0xff;
    out += kHex[value >> 4];
    out += kHex[value & 15];
  }
  return out;
}

}  // namespace breakfix

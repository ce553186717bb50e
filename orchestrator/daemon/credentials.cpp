#include "daemon/credentials.h"

#include <crypt.h>
#include <libssh/libssh.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>
#include <semaphore>
#include <sstream>

namespace breakfix {
namespace {

constexpr char kAlphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";  // 31 letters: no i, l, o, 0, 1

// Reads a big-endian uint32-prefixed string of an SSH key blob at `at`.
bool read_ssh_string(const std::string& blob, std::size_t& at, std::string& out) {
  if (at + 4 > blob.size()) return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(blob.data() + at);
  const std::size_t length = (std::size_t{bytes[0]} << 24) | (std::size_t{bytes[1]} << 16) |
                             (std::size_t{bytes[2]} << 8) | std::size_t{bytes[3]};
  at += 4;
  if (length > blob.size() - at) return false;
  out = blob.substr(at, length);
  at += length;
  return true;
}

std::string base64_decode(const std::string& text) {
  std::string out(text.size(), '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (length < 0) return "";
  std::size_t padding = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++padding;
  out.resize(static_cast<std::size_t>(length) - std::min<std::size_t>(padding, static_cast<std::size_t>(length)));
  return out;
}

std::string sha256(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

}  // namespace

std::string generate_password() {
  std::string password;
  unsigned char random[16];
  RAND_bytes(random, sizeof random);
  for (int i = 0; i < 16; ++i) {
    if (i > 0 && i % 4 == 0) password += '-';
    // 31 letters; the bias of 256 % 31 is under 1 in 8 per letter, irrelevant for 80 bits.
    password += kAlphabet[random[i] % (sizeof kAlphabet - 1)];
  }
  return password;
}

Result<std::string> hash_password(const std::string& password) {
  // yescrypt is made to be costly: about 16 MiB and 0.1 s a hash. Thirty sessions
  // created at once would otherwise hash on thirty API threads at once (450 MiB peak,
  // measured by bench/session_load.py); two at a time keep memory flat on any machine.
  static std::counting_semaphore<2> hashing(2);
  hashing.acquire();
  struct Release {
    ~Release() { hashing.release(); }
  } release;
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn("$y$", 0, nullptr, 0, setting, sizeof setting)) {
    return make_error(ErrorCode::Internal, "cannot make a yescrypt salt (libcrypt)");
  }
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* hash = crypt_r(password.c_str(), setting, data.get());
  if (!hash || hash[0] == '*') return make_error(ErrorCode::Internal, "cannot hash the password (libcrypt)");
  return std::string(hash);
}

bool verify_password(const std::string& password, const std::string& hash) {
  if (hash.empty() || hash[0] != '$') return false;
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* computed = crypt_r(password.c_str(), hash.c_str(), data.get());
  if (!computed || computed[0] == '*') return false;
  const std::string a = sha256(computed);
  const std::string b = sha256(hash);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> validate_public_key(const std::string& line) {
  std::istringstream words(line);
  std::string type, base64;
  words >> type >> base64;
  if (type.empty()) return make_error(ErrorCode::Invalid, "not a public key line (\"ssh-ed25519 AAAA... comment\")");
  static const char* const kAccepted[] = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                                          "ecdsa-sha2-nistp521", "ssh-rsa"};
  bool accepted = false;
  for (const char* name : kAccepted) accepted = accepted || type == name;
  if (!accepted) {
    return make_error(ErrorCode::Invalid, "key type '" + type + "' is not accepted (ed25519, ecdsa or rsa of 2048 bits or more)");
  }
  if (base64.empty()) return make_error(ErrorCode::Invalid, "has no key data after '" + type + "'");
  ssh_key key = nullptr;
  if (ssh_pki_import_pubkey_base64(base64.c_str(), ssh_key_type_from_name(type.c_str()), &key) != SSH_OK || !key) {
    return make_error(ErrorCode::Invalid, "the " + type + " key data does not decode; is the key complete?");
  }
  ssh_key_free(key);
  // The blob names its own type, which must agree with the line's.
  const std::string blob = base64_decode(base64);
  std::size_t at = 0;
  std::string blob_type;
  if (!read_ssh_string(blob, at, blob_type) || blob_type != type) {
    return make_error(ErrorCode::Invalid, "the key data is not a " + type + " key; is the key complete?");
  }
  if (type == "ssh-rsa") {
    std::string exponent, modulus;
    if (!read_ssh_string(blob, at, exponent) || !read_ssh_string(blob, at, modulus)) {
      return make_error(ErrorCode::Invalid, "the rsa key does not decode");
    }
    std::size_t leading = 0;
    while (leading < modulus.size() && modulus[leading] == '\0') ++leading;
    std::size_t bits = (modulus.size() - leading) * 8;
    if (leading < modulus.size()) {
      for (unsigned char top = static_cast<unsigned char>(modulus[leading]); top < 0x80 && bits > 0; top <<= 1) --bits;
    }
    if (bits < 2048) return make_error(ErrorCode::Invalid, "rsa keys need 2048 bits or more (this one has " + std::to_string(bits) + ")");
  }
  return type + " " + base64;
}

int match_token(const std::string& given, const std::vector<std::string>& tokens) {
  const std::string given_digest = sha256(given);
  int match = -1;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].empty()) continue;
    const std::string digest = sha256(tokens[i]);
    if (CRYPTO_memcmp(digest.data(), given_digest.data(), digest.size()) == 0) match = static_cast<int>(i);
  }
  return match;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> random(bytes);
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (unsigned char byte : random) {
    text += kHex[byte >> 4];
    text += kHex[byte & 15];
  }
  return text;
}

bool same_secret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool CredentialAuthenticator::password_matches(const std::string& password, const std::string& hash) const {
  return verify_password(password, hash);
}

// The allowed keys were normalised where they came in (the API, the config), so a login
// attempt costs string comparisons, not a parse of every key.
bool CredentialAuthenticator::key_listed(const std::string& offered, const std::vector<std::string>& allowed) const {
  return std::find(allowed.begin(), allowed.end(), offered) != allowed.end();
}

}  // namespace breakfix

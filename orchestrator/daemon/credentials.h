#pragma once

// How candidates and interviewers prove who they are: one-time passwords (generated
// here, shown once, kept only as a yescrypt hash from libcrypt), public keys (parsed
// with libssh, so what the API accepts is exactly what the gateway can check) and API
// bearer tokens (compared in constant time).

#include <string>
#include <vector>

#include "breakfix/error.h"
#include "gateway/authenticator.h"

namespace breakfix {

// 4 groups of 4 characters from an alphabet without look-alikes ("k7mq-..."): 80 bits,
// easy to read out over a video call.
std::string generate_password();
// crypt(3) with a fresh yescrypt salt ("$y$...").
Result<std::string> hash_password(const std::string& password);
bool verify_password(const std::string& password, const std::string& hash);

// A public key line as in authorized_keys ("ssh-ed25519 AAAA... comment"). Accepts
// ed25519, ecdsa (256/384/521) and rsa of 2048 bits or more; returns the line without
// its comment. Invalid says what is wrong with it.
Result<std::string> validate_public_key(const std::string& line);

// Whether `given` equals one of `tokens`, without leaking where they differ by timing.
// Returns the index of the matching token, or -1.
int match_token(const std::string& given, const std::vector<std::string>& tokens);

// `bytes` random bytes from OpenSSL's generator, as lower-case hex (cookies, CSRF tokens).
std::string random_hex(std::size_t bytes);
// Whether two secrets are equal, in time that does not depend on where they differ.
bool same_secret(const std::string& a, const std::string& b);

// The gateway's logins checked by the rules above.
class CredentialAuthenticator final : public Authenticator {
 public:
  bool password_matches(const std::string& password, const std::string& hash) const override;
  bool key_listed(const std::string& offered, const std::vector<std::string>& allowed) const override;
};

}  // namespace breakfix

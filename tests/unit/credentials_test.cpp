// Candidate and interviewer credentials: one-time passwords, public keys, API tokens.

#include <doctest/doctest.h>

#include <regex>
#include <set>

#include "daemon/credentials.h"

using namespace breakfix;

namespace {
// Made with ssh-keygen for this test; public halves only.
const std::string kEd25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICYCIF983sg8ZspJZZWKlvMREbQmB7yUz5GvM2GbC0n3";
const std::string kEcdsa384 = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBND1Bqd9S4SGELB6Z+zkzMBQxxW406JuPgAai9wREVymCUJAXBsBixG4JlCzW8Tvga1rjyNNLPfrd16N0LZTyAAM2ofxRVylm/hpH/01nuFf05xfiNi3lg65UZO0dA2GqQ==";
const std::string kRsa1024 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCqQXl3bTbZB6bsqqJdCrV5TIv2316+HcfF2qBwNvjmQnt4Q5UF0LV0sgQNEcv5Kug+YAOMKY0CYoUSNjGQL+MxNTu4qkEsO81yIC0dtQW0UQktZrKF+6q0NCkEAKS0z5iB9VqWiscqwys0gb5va71dGtZokq15vgwuYkFmPOfkRw==";
const std::string kRsa3072 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCFt3ZfCrG6fwFxcu/CI6C+BdKXAsc1sMj2MJDEvlJmAad/lFs47HVuYKyGqlNRo6TG+HrH89I7xonajnzwvBSHjZGN1TtbJtEl+G9Cv3GamMkVNOxY6ZjbULZ9w/5JhmsSUBLb4Lh+yi1r6hryTM0bcPoMoXn0bUUQTvvSI5H6UvUwknOW1GLSNfjUm51EE/XjAdb5Li87RufykCblZb8QDM4bBwbjmSuOume8/6vhQW1lvo1odYsZOS7SY9vpLawRLaXbxhJiaJy6kVbe5boLewLCBMdQWfzGjoqPfPitJ5ycf/WVnp9FLuWpcYifVepHrdXzkP0x4Jk7DmGX6zhgL1VwtUnBL/ZNwscZo9fq30F5pK9EpmdulP2pH9Kkwn+SYHe9fm8fs1fAKByeNLofYqb2kc/N0FUe0kO5isAfKO9DyyrSwXWJyUavkLp9ObsX/2I2z83D7wRC0C4J+XTYbPb+SCj1V2j70EFUvKjRb/DVm86/OUP1UW0e60aMoOc=";
}  // namespace

TEST_CASE("credentials: one-time passwords are readable, random and kept only as a yescrypt hash") {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const std::string password = generate_password();
    CHECK(std::regex_match(password, std::regex("[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}")));
    CHECK(password.find_first_of("ilo01") == std::string::npos);
    seen.insert(password);
  }
  CHECK(seen.size() == 50);
  const std::string password = generate_password();
  auto hash = hash_password(password);
  REQUIRE(hash.ok());
  CHECK(hash->rfind("$y$", 0) == 0);
  CHECK(hash->find(password) == std::string::npos);
  CHECK(verify_password(password, *hash));
  CHECK_FALSE(verify_password(password + "x", *hash));
  CHECK_FALSE(verify_password("", *hash));
  CHECK_FALSE(verify_password(password, ""));
  CHECK_FALSE(verify_password(password, "not a hash"));
  // The same password hashes differently each time (fresh salt).
  CHECK(*hash_password(password) != *hash);
}

TEST_CASE("credentials: public keys as the gateway will accept them") {
  CHECK(*validate_public_key(kEd25519 + " ada@laptop") == kEd25519);
  CHECK(validate_public_key(kEcdsa384).ok());
  CHECK(validate_public_key(kRsa3072 + " x").ok());
  auto weak = validate_public_key(kRsa1024);
  REQUIRE_FALSE(weak.ok());
  CHECK(weak.error().message == "rsa keys need 2048 bits or more (this one has 1024)");
  CHECK(validate_public_key("ssh-dss AAAAB3NzaC1kc3M= old").error().message.find("not accepted") != std::string::npos);
  CHECK(validate_public_key("").error().message.find("not a public key line") != std::string::npos);
  CHECK(validate_public_key("ssh-ed25519").error().message.find("has no key data") != std::string::npos);
  CHECK(validate_public_key("ssh-ed25519 AAAA!!!!").error().message.find("does not decode") != std::string::npos);
  // An ecdsa key presented as ed25519.
  const std::string swapped = "ssh-ed25519 " + kEcdsa384.substr(kEcdsa384.find(' ') + 1);
  CHECK_FALSE(validate_public_key(swapped).ok());
}

TEST_CASE("credentials: a key is listed only in the form the daemon normalised it to") {
  const CredentialAuthenticator authenticator;
  const std::vector<std::string> allowed = {*validate_public_key(kEcdsa384 + " bob"), *validate_public_key(kEd25519)};
  CHECK(authenticator.key_listed(kEd25519, allowed));
  CHECK(authenticator.key_listed(kEcdsa384, allowed));
  CHECK_FALSE(authenticator.key_listed(kRsa3072, allowed));
  CHECK_FALSE(authenticator.key_listed(kEd25519 + "x", allowed));
  CHECK_FALSE(authenticator.key_listed(kEd25519, {}));
}

TEST_CASE("credentials: tokens match exactly") {
  const std::vector<std::string> tokens = {"", "first-token-0123456789abcdef", "second-token-0123456789abcdef"};
  CHECK(match_token("second-token-0123456789abcdef", tokens) == 2);
  CHECK(match_token("first-token-0123456789abcdef", tokens) == 1);
  CHECK(match_token("first-token-0123456789abcde", tokens) == -1);
  CHECK(match_token("", tokens) == -1);  // an interviewer without a token is not matched by an empty one
}

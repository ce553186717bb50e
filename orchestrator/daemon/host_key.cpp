#include "daemon/host_key.h"

#include <libssh/libssh.h>
#include <sys/stat.h>

#include <memory>

namespace breakfix {
namespace {

struct KeyDeleter {
  void operator()(ssh_key key) const { ssh_key_free(key); }
};
using KeyPtr = std::unique_ptr<std::remove_pointer_t<ssh_key>, KeyDeleter>;

}  // namespace

Result<HostKeyInfo> ensure_host_key(const std::filesystem::path& data_dir) {
  HostKeyInfo info;
  info.file = data_dir / "ssh_host_ed25519_key";
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  ssh_key raw = nullptr;
  if (!std::filesystem::exists(info.file)) {
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK) {
      return make_error(ErrorCode::Internal, "cannot generate an ed25519 host key (libssh)");
    }
    KeyPtr generated(raw);
    const std::filesystem::path partial = info.file.string() + ".partial";
    const mode_t old_mask = ::umask(077);
    const int exported = ssh_pki_export_privkey_file(generated.get(), nullptr, nullptr, nullptr, partial.c_str());
    ::umask(old_mask);
    if (exported != SSH_OK) return make_error(ErrorCode::Failed, "cannot write the host key to " + partial.string());
    std::filesystem::rename(partial, info.file, ec);
    if (ec) return make_error(ErrorCode::Failed, "cannot write " + info.file.string() + ": " + ec.message());
  }
  raw = nullptr;
  if (ssh_pki_import_privkey_file(info.file.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK) {
    return make_error(ErrorCode::Failed, "cannot read the host key " + info.file.string() +
                                             " (remove it to make a new one; candidates will see a changed key)");
  }
  KeyPtr key(raw);
  unsigned char* hash = nullptr;
  std::size_t hash_length = 0;
  if (ssh_get_publickey_hash(key.get(), SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_length) != 0) {
    return make_error(ErrorCode::Internal, "cannot hash the host key");
  }
  char* fingerprint = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_length);
  ssh_clean_pubkey_hash(&hash);
  info.fingerprint = fingerprint ? fingerprint : "";
  ssh_string_free_char(fingerprint);
  char* base64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key.get(), &base64) == SSH_OK && base64) {
    info.public_line = std::string("ssh-ed25519 ") + base64;
    ssh_string_free_char(base64);
  }
  return info;
}

}  // namespace breakfix

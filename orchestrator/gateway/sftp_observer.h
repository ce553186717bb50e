#pragma once

// Follows an SFTP version 3 conversation (draft-ietf-secsh-filexfer-02, as OpenSSH speaks
// it) as it passes between the client and the container's sftp-server, and reports what
// was done to files: uploads and downloads (path, bytes, whether it worked), directory
// listings, mkdir, rmdir, remove, rename, symlink, hardlink and setstat.
//
// Written by hand: libssh's SFTP server API (sftp_server_new, sftp_get_client_message)
// answers requests itself on a channel it reads; it cannot watch a conversation that
// another process answers. The parser is passive: it never changes or delays a byte.
//
// How: the client's requests say what is asked (OPEN with its flags, WRITE lengths,
// REMOVE...) under a request id; the server's replies say what happened (a HANDLE for an
// OPEN maps the handle to its path; DATA lengths count what was read; STATUS says ok or
// why not). An upload or download becomes one operation when its handle is closed.
//
// Bounds (a hostile client, or a hostile sftp-server in a container whose root is the
// candidate, may send anything): a packet longer than `max_packet` (OpenSSH's own limit)
// stops the parse; of each packet only the first bytes that can matter are kept (never
// the data of a READ or WRITE); at most `pending_requests` unanswered requests (holding at
// most `pending_bytes` of paths; past either the lowest request id is forgotten) and
// `open_handles` open files are followed (past that a file is recorded when it opens,
// without a byte count); paths are cut at `path_bytes`. About 450 KiB at most in all. A malformed packet is skipped; one whose framing is broken
// ends the parse with one "unparsed" operation.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "gateway/transfer_observer.h"

namespace breakfix {

struct SftpLimits {
  std::size_t max_packet = 256 * 1024;        // OpenSSH's SFTP_MAX_MSG_LENGTH
  std::size_t kept_request = 16 * 1024;       // of a request: two PATH_MAX paths and attributes
  std::size_t pending_requests = 256;         // OpenSSH's client keeps up to 64 in flight
  std::size_t pending_bytes = 128 * 1024;     // the paths and attributes they carry
  std::size_t open_handles = 64;
  std::size_t path_bytes = 4096;              // PATH_MAX
};

class SftpObserver : public TransferObserver {
 public:
  explicit SftpObserver(SftpLimits limits = {});
  ~SftpObserver() override;

  void from_client(std::string_view bytes) override;
  void from_server(std::string_view bytes) override;
  void end() override;

  // The parse stopped (broken framing, not SFTP v3); later bytes are ignored.
  bool gave_up() const { return gave_up_; }
  std::size_t pending_requests() const { return pending_.size(); }
  std::size_t open_handles() const { return handles_.size(); }

  // Splits a stream into packets: [uint32 length][byte type][length-1 bytes], keeping
  // only the first `keep(type)` bytes after the type.
  class Framer {
   public:
    struct Packet {
      std::uint8_t type = 0;
      std::size_t size = 0;  // bytes after the type byte
      std::string kept;      // the first of them
    };
    explicit Framer(std::size_t max_packet) : max_packet_(max_packet) {}
    // Calls `packet` for each whole packet, keeping `keep(type)` bytes of it. Returns false
    // (now and ever after) once a length is 0 or above max_packet.
    bool feed(std::string_view bytes, const std::function<std::size_t(std::uint8_t)>& keep,
              const std::function<void(const Packet&)>& packet);

   private:
    std::size_t max_packet_;
    std::string header_;  // the length and type, until all 5 bytes are in
    Packet current_;
    std::size_t keep_ = 0;
    std::size_t left_ = 0;  // bytes of the current packet not seen yet
    bool in_body_ = false;
    bool broken_ = false;
  };

 private:
  enum class Request { Open, Close, Read, Write, Setstat, Opendir, Remove, Mkdir, Rmdir, Rename, Symlink, Hardlink };
  struct Pending {
    Request request = Request::Open;
    std::string path;    // or the handle, for Close, Read and Write
    std::string to;
    std::uint32_t flags = 0;  // OPEN's pflags
    std::string attributes;
  };
  struct OpenFile {
    std::string path;
    bool writing = false;
    bool directory = false;
    std::string attributes;
    std::uint64_t bytes_read = 0;
    std::uint64_t bytes_written = 0;
    std::string error;  // the first failed READ or WRITE
  };

  void client_packet(const Framer::Packet& packet);
  void server_packet(const Framer::Packet& packet);
  void answered(const Pending& pending, std::optional<std::uint32_t> status);
  void remember(std::uint32_t id, Pending pending);
  void forget(std::map<std::uint32_t, Pending>::iterator request);
  void give_up(const std::string& why);
  std::string bounded_path(std::string_view path) const;
  FileOperation transfer(const OpenFile& file) const;

  SftpLimits limits_;
  Framer client_framer_;
  Framer server_framer_;
  bool gave_up_ = false;
  bool saw_init_ = false;
  bool saw_version_ = false;
  std::map<std::uint32_t, Pending> pending_;
  std::size_t pending_bytes_ = 0;
  std::map<std::string, OpenFile> handles_;
};

}  // namespace breakfix

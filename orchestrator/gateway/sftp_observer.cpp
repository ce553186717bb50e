#include "gateway/sftp_observer.h"

#include <algorithm>
#include <cstdio>

#include "session/report.h"

namespace breakfix {
namespace {

// Packet types and constants of SFTP version 3 (draft-ietf-secsh-filexfer-02).
enum : std::uint8_t {
  kInit = 1,
  kVersionPacket = 2,
  kOpen = 3,
  kClose = 4,
  kRead = 5,
  kWrite = 6,
  kSetstat = 9,
  kFsetstat = 10,
  kOpendir = 11,
  kRemove = 13,
  kMkdir = 14,
  kRmdir = 15,
  kRename = 18,
  kSymlink = 20,
  kStatus = 101,
  kHandle = 102,
  kData = 103,
  kExtended = 200,
};
constexpr std::uint32_t kOpenWrite = 0x02, kOpenAppend = 0x04, kOpenCreate = 0x08, kOpenTruncate = 0x10;
constexpr std::uint32_t kStatusOk = 0, kStatusEof = 1;
constexpr std::size_t kMaxHandle = 256;  // "MUST NOT be longer than 256 bytes"

std::string status_text(std::uint32_t code) {
  static const char* const names[] = {"ok", "end of file", "no such file", "permission denied", "failure",
                                      "bad message", "no connection", "connection lost", "operation unsupported"};
  return code < std::size(names) ? names[code] : "status " + std::to_string(code);
}

// Reads SFTP's big-endian integers and length-prefixed strings from a kept packet. A read
// past the end makes ok() false and returns zero or empty, so a caller checks once.
class Wire {
 public:
  explicit Wire(std::string_view data) : data_(data) {}
  bool ok() const { return ok_; }

  std::uint32_t u32() { return static_cast<std::uint32_t>(number(4)); }
  std::uint64_t u64() { return number(8); }
  std::string_view str() {
    const std::uint32_t length = u32();
    if (!ok_ || length > data_.size()) return fail();
    const std::string_view text = data_.substr(0, length);
    data_.remove_prefix(length);
    return text;
  }
  // ATTRS as a person reads them: "mode 0644, uid 0, gid 0, size 12, mtime ...".
  std::string attributes() {
    const std::uint32_t flags = u32();
    std::string text;
    auto add = [&text](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
    if (flags & 0x1) add("size " + std::to_string(u64()));
    if (flags & 0x2) {
      const std::uint32_t uid = u32();
      add("uid " + std::to_string(uid) + ", gid " + std::to_string(u32()));
    }
    if (flags & 0x4) {
      char mode[16];
      std::snprintf(mode, sizeof mode, "mode %04o", u32() & 07777);
      add(mode);
    }
    if (flags & 0x8) {
      (void)u32();  // atime
      add("mtime " + iso_time(WallTime(std::chrono::seconds(u32()))));
    }
    return ok_ ? text : std::string();
  }

 private:
  std::uint64_t number(std::size_t bytes) {
    if (!ok_ || data_.size() < bytes) {
      fail();
      return 0;
    }
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < bytes; ++i) value = (value << 8) | static_cast<unsigned char>(data_[i]);
    data_.remove_prefix(bytes);
    return value;
  }
  std::string_view fail() {
    ok_ = false;
    data_ = {};
    return {};
  }

  std::string_view data_;
  bool ok_ = true;
};

// How much of a packet can matter. Never the data of a WRITE or a DATA reply.
std::size_t client_keep(std::uint8_t type, const SftpLimits& limits) {
  if (type == kWrite) return 4 + 4 + kMaxHandle + 8 + 4;  // id, handle, offset, the data's length
  return limits.kept_request;
}
std::size_t server_keep(std::uint8_t type) {
  switch (type) {
    case kHandle:
      return 4 + 4 + kMaxHandle;
    case kStatus:
    case kData:
      return 4 + 4;  // id, and the status code or the data's length
    default:
      return 4;  // the id (or VERSION's version)
  }
}

}  // namespace

bool SftpObserver::Framer::feed(std::string_view bytes, const std::function<std::size_t(std::uint8_t)>& keep,
                                const std::function<void(const Packet&)>& packet) {
  while (!broken_ && !bytes.empty()) {
    if (!in_body_) {
      const std::size_t n = std::min(5 - header_.size(), bytes.size());
      header_.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
      if (header_.size() < 5) break;
      Wire wire(header_);
      const std::uint32_t length = wire.u32();
      if (length == 0 || length > max_packet_) {
        broken_ = true;
        break;
      }
      current_.type = static_cast<std::uint8_t>(header_[4]);
      current_.size = length - 1;
      current_.kept.clear();
      keep_ = std::min(keep(current_.type), current_.size);
      left_ = current_.size;
      header_.clear();
      in_body_ = true;
    }
    const std::size_t n = std::min(left_, bytes.size());
    current_.kept.append(bytes.substr(0, std::min(n, keep_ - current_.kept.size())));
    bytes.remove_prefix(n);
    left_ -= n;
    if (left_ == 0) {
      in_body_ = false;
      packet(current_);
    }
  }
  return !broken_;
}

SftpObserver::SftpObserver(SftpLimits limits)
    : limits_(limits), client_framer_(limits.max_packet), server_framer_(limits.max_packet) {}

SftpObserver::~SftpObserver() = default;

void SftpObserver::from_client(std::string_view bytes) {
  if (gave_up_) return;
  const bool framed = client_framer_.feed(
      bytes, [this](std::uint8_t type) { return client_keep(type, limits_); },
      [this](const Framer::Packet& packet) { client_packet(packet); });
  if (!framed) give_up("the client sent a packet length that SFTP does not allow");
}

void SftpObserver::from_server(std::string_view bytes) {
  if (gave_up_) return;
  const bool framed = server_framer_.feed(
      bytes, [](std::uint8_t type) { return server_keep(type); },
      [this](const Framer::Packet& packet) { server_packet(packet); });
  if (!framed) give_up("the server sent a packet length that SFTP does not allow");
}

void SftpObserver::give_up(const std::string& why) {
  if (gave_up_) return;
  gave_up_ = true;
  FileOperation operation;
  operation.op = "unparsed";
  operation.error = why + "; file operations after this are not recorded";
  completed(std::move(operation));
}

std::string SftpObserver::bounded_path(std::string_view path) const { return cut_text(path, limits_.path_bytes); }

namespace {
std::size_t cost(const auto& pending) { return pending.path.size() + pending.to.size() + pending.attributes.size(); }
}  // namespace

void SftpObserver::remember(std::uint32_t id, Pending pending) {
  if (auto same = pending_.find(id); same != pending_.end()) forget(same);
  while (!pending_.empty() &&
         (pending_.size() >= limits_.pending_requests || pending_bytes_ + cost(pending) > limits_.pending_bytes)) {
    forget(pending_.begin());
  }
  pending_bytes_ += cost(pending);
  pending_[id] = std::move(pending);
}

void SftpObserver::forget(std::map<std::uint32_t, Pending>::iterator request) {
  pending_bytes_ -= cost(request->second);
  pending_.erase(request);
}

void SftpObserver::client_packet(const Framer::Packet& packet) {
  if (gave_up_) return;
  Wire wire(packet.kept);
  if (!saw_init_) {
    if (packet.type != kInit) give_up("the client did not begin with SSH_FXP_INIT");
    saw_init_ = true;
    return;
  }
  const std::uint32_t id = wire.u32();
  Pending pending;
  switch (packet.type) {
    case kOpen: {
      const std::string_view path = wire.str();
      pending = {Request::Open, bounded_path(path), "", wire.u32(), wire.attributes()};
      break;
    }
    case kOpendir:
      pending = {Request::Opendir, bounded_path(wire.str()), "", 0, ""};
      break;
    case kClose:
    case kRead: {
      const std::string_view handle = wire.str();
      if (handle.size() > kMaxHandle) return;  // no such handle was given out
      pending = {packet.type == kClose ? Request::Close : Request::Read, std::string(handle), "", 0, ""};
      break;
    }
    case kWrite: {
      const std::string handle(wire.str());
      if (handle.size() > kMaxHandle) return;
      (void)wire.u64();  // offset
      const std::uint32_t length = wire.u32();
      // The data itself is not kept: its length must agree with the packet's.
      if (!wire.ok() || packet.size != 4 + 4 + handle.size() + 8 + 4 + length) return;
      if (auto file = handles_.find(handle); file != handles_.end()) file->second.bytes_written += length;
      pending = {Request::Write, handle, "", 0, ""};
      break;
    }
    case kSetstat:
    case kFsetstat: {
      std::string path(wire.str());
      if (packet.type == kFsetstat) {
        const auto file = handles_.find(path);
        path = file != handles_.end() ? file->second.path : "(an open file)";
      }
      pending = {Request::Setstat, bounded_path(path), "", 0, wire.attributes()};
      break;
    }
    case kRemove:
    case kRmdir:
      pending = {packet.type == kRemove ? Request::Remove : Request::Rmdir, bounded_path(wire.str()), "", 0, ""};
      break;
    case kMkdir: {
      const std::string_view path = wire.str();
      pending = {Request::Mkdir, bounded_path(path), "", 0, wire.attributes()};
      break;
    }
    case kRename: {
      const std::string_view from = wire.str();
      pending = {Request::Rename, bounded_path(from), bounded_path(wire.str()), 0, ""};
      break;
    }
    case kSymlink: {
      // OpenSSH sends the link's target first and the link second (the draft says the
      // other way round; OpenSSH's order is what its sftp-server does).
      const std::string_view target = wire.str();
      pending = {Request::Symlink, bounded_path(wire.str()), bounded_path(target), 0, ""};
      break;
    }
    case kExtended: {
      const std::string_view name = wire.str();
      if (name == "posix-rename@openssh.com" || name == "hardlink@openssh.com") {
        const std::string_view from = wire.str();
        const std::string_view to = wire.str();
        pending = name == "hardlink@openssh.com" ? Pending{Request::Hardlink, bounded_path(to), bounded_path(from), 0, ""}
                                                 : Pending{Request::Rename, bounded_path(from), bounded_path(to), 0, ""};
      } else if (name == "lsetstat@openssh.com") {
        const std::string_view path = wire.str();
        pending = {Request::Setstat, bounded_path(path), "", 0, wire.attributes()};
      } else {
        return;  // statvfs, fsync, expand-path...: nothing changes hands
      }
      break;
    }
    default:
      return;  // STAT, LSTAT, FSTAT, READDIR, REALPATH, READLINK: they only look
  }
  if (!wire.ok()) return;  // malformed: the server will refuse it too
  remember(id, std::move(pending));
}

void SftpObserver::server_packet(const Framer::Packet& packet) {
  if (gave_up_) return;
  Wire wire(packet.kept);
  if (!saw_version_) {
    const std::uint32_t version = wire.u32();
    if (packet.type != kVersionPacket || !wire.ok()) give_up("the server did not answer with SSH_FXP_VERSION");
    else if (version != 3) give_up("the server speaks SFTP version " + std::to_string(version) + ", not 3");
    saw_version_ = true;
    return;
  }
  const std::uint32_t id = wire.u32();
  const auto found = pending_.find(id);
  if (!wire.ok() || found == pending_.end()) return;
  const Pending pending = found->second;
  forget(found);
  switch (packet.type) {
    case kStatus: {
      const std::uint32_t code = wire.u32();
      if (wire.ok()) answered(pending, code);
      break;
    }
    case kHandle: {
      const std::string handle(wire.str());
      if (!wire.ok() || (pending.request != Request::Open && pending.request != Request::Opendir)) break;
      OpenFile file{pending.path, false, pending.request == Request::Opendir, pending.attributes, 0, 0, ""};
      file.writing = (pending.flags & (kOpenWrite | kOpenAppend | kOpenCreate | kOpenTruncate)) != 0;
      if (file.directory) {
        FileOperation listed;
        listed.op = "list";
        listed.path = file.path;
        listed.ok = true;
        completed(std::move(listed));
      }
      if (auto old = handles_.find(handle); old != handles_.end()) {
        // A handle given out twice: the first file is over as far as anyone can tell.
        if (!old->second.directory) completed(transfer(old->second));
        handles_.erase(old);
      }
      if (handles_.size() < limits_.open_handles && handle.size() <= kMaxHandle) {
        handles_[handle] = std::move(file);
      } else if (!file.directory) {
        FileOperation untracked = transfer(file);  // path and direction without a byte count
        untracked.bytes.reset();
        untracked.ok = true;
        untracked.error = "too many open files to count its bytes";
        completed(std::move(untracked));
      }
      break;
    }
    case kData: {
      const std::uint32_t length = wire.u32();
      if (!wire.ok() || packet.size != 4 + 4 + std::size_t{length} || pending.request != Request::Read) break;
      if (auto file = handles_.find(pending.path); file != handles_.end()) file->second.bytes_read += length;
      break;
    }
    default:
      break;  // NAME, ATTRS, EXTENDED_REPLY: answers to requests that only look
  }
}

void SftpObserver::answered(const Pending& pending, std::optional<std::uint32_t> status) {
  const bool ok = status && *status == kStatusOk;
  const std::string error = !status ? "" : ok ? "" : status_text(*status);
  auto file = handles_.find(pending.path);  // for Close, Read and Write, `path` is the handle
  switch (pending.request) {
    case Request::Read:
    case Request::Write:
      if (status && !ok && *status != kStatusEof && file != handles_.end() && file->second.error.empty()) {
        file->second.error = error;
      }
      return;
    case Request::Close:
      if (file == handles_.end()) return;
      if (!file->second.directory) {
        FileOperation closed = transfer(file->second);
        closed.ok = status ? std::optional<bool>(ok && file->second.error.empty()) : std::nullopt;
        if (closed.error.empty()) closed.error = error;
        completed(std::move(closed));
      }
      handles_.erase(file);
      return;
    default:
      break;
  }
  // Everything else is one operation, done or refused (an OPEN that was refused, too).
  static const char* const names[] = {"",       "",     "",      "",      "setstat", "list",
                                      "remove", "mkdir", "rmdir", "rename", "symlink", "hardlink"};
  FileOperation operation;
  operation.op = names[static_cast<int>(pending.request)];
  if (pending.request == Request::Open) {
    const bool writing = (pending.flags & (kOpenWrite | kOpenAppend | kOpenCreate | kOpenTruncate)) != 0;
    operation.op = writing ? "upload" : "download";
  }
  operation.path = pending.path;
  operation.to = pending.to;
  operation.attributes = pending.attributes;
  if (status) operation.ok = ok;
  operation.error = error;
  completed(std::move(operation));
}

FileOperation SftpObserver::transfer(const OpenFile& file) const {
  FileOperation operation;
  operation.op = file.writing ? "upload" : "download";
  operation.path = file.path;
  operation.bytes = file.writing ? file.bytes_written : file.bytes_read;
  operation.attributes = file.attributes;
  operation.error = file.error;
  return operation;
}

void SftpObserver::end() {
  for (auto& [handle, file] : handles_) {
    if (file.directory) continue;
    FileOperation open = transfer(file);
    if (open.error.empty()) open.error = "still open when the channel ended";
    completed(std::move(open));
  }
  handles_.clear();
  for (const auto& [id, pending] : pending_) {
    if (pending.request != Request::Read && pending.request != Request::Write && pending.request != Request::Close) {
      answered(pending, std::nullopt);
    }
  }
  pending_.clear();
  pending_bytes_ = 0;
}

}  // namespace breakfix

#include "hostview_protocol.h"

#include "sha256.h"

namespace breakfix::hostview {

using nlohmann::json;

std::string hex(std::string_view bytes) {
  return archive::to_hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

Result<std::string> unhex(std::string_view text) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (text.size() % 2 != 0) return make_error(ErrorCode::Invalid, "an odd number of hex digits");
  std::string bytes;
  bytes.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int high = digit(text[i]);
    const int low = digit(text[i + 1]);
    if (high < 0 || low < 0) return make_error(ErrorCode::Invalid, "not a hex digit");
    bytes += static_cast<char>(high * 16 + low);
  }
  return bytes;
}

json record_json(const FileRecord& record) {
  return json{{"path", hex(record.path)},
              {"type", static_cast<int>(record.type)},
              {"mode", record.mode},
              {"uid", record.uid},
              {"gid", record.gid},
              {"size", record.size},
              {"link", hex(record.link_target)},
              {"xattrs", hex(record.xattrs)},
              {"sha256", record.sha256},
              {"head", hex(record.head)}};
}

namespace {

// A field of the helper's answer, of the type asked for; Internal naming it otherwise.
template <typename T>
Result<T> field(const json& object, const char* name) {
  if (!object.is_object() || !object.contains(name)) {
    return make_error(ErrorCode::Internal, std::string("the host helper's answer has no ") + name);
  }
  const json& value = object[name];
  if constexpr (std::is_same_v<T, std::string>) {
    if (value.is_string()) return value.get<std::string>();
  } else {
    if (value.is_number_integer()) return value.get<T>();
  }
  return make_error(ErrorCode::Internal, std::string("the host helper's ") + name + " is not of its type");
}

Result<std::string> hex_field(const json& object, const char* name) {
  auto text = field<std::string>(object, name);
  if (!text) return text.error();
  auto bytes = unhex(*text);
  if (!bytes) return make_error(ErrorCode::Internal, std::string("the host helper's ") + name + ": " + bytes.error().message);
  return bytes;
}

}  // namespace

Result<FileRecord> record_of(const json& object) {
  FileRecord record;
  auto path = hex_field(object, "path");
  auto type = field<int>(object, "type");
  auto mode = field<std::uint32_t>(object, "mode");
  auto uid = field<std::int64_t>(object, "uid");
  auto gid = field<std::int64_t>(object, "gid");
  auto size = field<std::int64_t>(object, "size");
  auto link = hex_field(object, "link");
  auto xattrs = hex_field(object, "xattrs");
  auto sha256 = field<std::string>(object, "sha256");
  auto head = hex_field(object, "head");
  if (!path) return path.error();
  if (!type) return type.error();
  if (!mode) return mode.error();
  if (!uid) return uid.error();
  if (!gid) return gid.error();
  if (!size) return size.error();
  if (!link) return link.error();
  if (!xattrs) return xattrs.error();
  if (!sha256) return sha256.error();
  if (!head) return head.error();
  if (*type < static_cast<int>(FileType::Regular) || *type > static_cast<int>(FileType::Other)) {
    return make_error(ErrorCode::Internal, "the host helper named a file type breakfix does not know");
  }
  record.path = std::move(*path);
  record.type = static_cast<FileType>(*type);
  record.mode = *mode & 07777;
  record.uid = *uid;
  record.gid = *gid;
  record.size = *size;
  record.link_target = std::move(*link);
  record.xattrs = std::move(*xattrs);
  record.sha256 = std::move(*sha256);
  record.head = std::move(*head);
  return record;
}

json change_json(const FsChange& change) { return json{{"path", hex(change.path)}, {"kind", static_cast<int>(change.kind)}}; }

Result<FsChange> change_of(const json& object) {
  auto path = hex_field(object, "path");
  if (!path) return path.error();
  auto kind = field<int>(object, "kind");
  if (!kind) return kind.error();
  if (*kind < static_cast<int>(FsChangeKind::Modified) || *kind > static_cast<int>(FsChangeKind::Deleted)) {
    return make_error(ErrorCode::Internal, "the host helper named a change breakfix does not know");
  }
  return FsChange{std::move(*path), static_cast<FsChangeKind>(*kind)};
}

json error_json(const Error& error) {
  return json{{"error", {{"code", static_cast<int>(error.code)}, {"message", error.message}}}};
}

Error error_of(const json& object, const std::string& what) {
  const json error = object.is_object() ? object.value("error", json()) : json();
  auto code = field<int>(error, "code");
  auto message = field<std::string>(error, "message");
  if (!code || !message || *code < 0 || *code > static_cast<int>(ErrorCode::Internal)) {
    return make_error(ErrorCode::Internal, what + ": the host helper gave an answer breakfix cannot read");
  }
  return make_error(static_cast<ErrorCode>(*code), what + ": " + *message);
}

Result<json> parse_line(std::string_view line, const std::string& what) {
  json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) {
    return make_error(ErrorCode::Internal, what + ": the host helper printed what is not its answer: " +
                                               std::string(line.substr(0, 200)));
  }
  return object;
}

}  // namespace breakfix::hostview

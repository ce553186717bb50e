// The daemon's configuration file (docs/config.md): the one place that knows its format.
// Reads YAML through scenario/yaml_reader.h, like the scenario loader, so that every
// problem is a FILE:LINE:COL diagnostic naming the field, all of a file's at once.

#include "daemon/daemon_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <map>
#include <sstream>
#include <system_error>
#include <tuple>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include "breakfix/duration.h"
#include "daemon/credentials.h"
#include "scenario/yaml_reader.h"

namespace breakfix {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using yaml::DiagnosticLog;
using yaml::Mapping;
using yaml::Value;

constexpr std::size_t kMaxConfigFileBytes = 1024 * 1024;
constexpr std::size_t kMaxTokenFileBytes = 4096;
constexpr std::size_t kMinTokenLength = 24;
constexpr std::size_t kMaxInterviewerName = 64;
constexpr int kMaxSessionsLimit = 1000;
constexpr int kMaxProvisionWorkers = 64;

// --- the YAML stream: one document, and never yaml-cpp's endless LoadAll ---------------



// --- files ---------------------------------------------------------------------------

struct SmallFile {
  std::string text;
  mode_t mode = 0;
  int error = 0;           // errno of the failure, 0 when read
  bool too_large = false;  // more than the limit: `text` holds the first limit + 1 bytes
};

std::string error_text(int error) { return std::generic_category().message(error); }

// Reads a regular file of at most `limit` bytes. O_NONBLOCK: a FIFO named by mistake
// must not block the daemon's start; it is refused as not a regular file.
SmallFile read_small_file(const fs::path& path, std::size_t limit) {
  SmallFile file;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    file.error = errno;
    return file;
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    file.error = errno;
  } else if (S_ISDIR(info.st_mode)) {
    file.error = EISDIR;
  } else if (!S_ISREG(info.st_mode)) {
    file.error = EINVAL;
  } else {
    file.mode = info.st_mode;
    char buffer[64 * 1024];
    while (file.text.size() <= limit) {
      const ssize_t got = ::read(fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        file.error = errno;
        break;
      }
      if (got == 0) break;
      file.text.append(buffer, static_cast<std::size_t>(got));
    }
    if (file.text.size() > limit) {
      file.text.resize(limit + 1);
      file.too_large = true;
    }
  }
  ::close(fd);
  return file;
}

std::string read_failure(const SmallFile& file) {
  return file.error == EINVAL ? "not a regular file" : error_text(file.error);
}

// --- checks of single values -----------------------------------------------------------

// "host:port", the port 1-65535; an IPv6 address in brackets ("[::1]:8470"). Returns
// what is wrong, or nothing.
std::optional<std::string> host_port_problem(std::string_view text) {
  const std::string example = " (e.g. 127.0.0.1:8470, [::1]:8470 or 0.0.0.0:2222)";
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return "'" + std::string(text) + "' is not host:port" + example;
  const std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.empty()) {
    return "'" + std::string(text) + "' names no host; write 0.0.0.0:" + std::string(port) + " for every interface";
  }
  if (host.front() == '[') {
    const std::string_view address = host.substr(1, host.size() >= 2 ? host.size() - 2 : 0);
    const bool valid = host.size() >= 4 && host.back() == ']' && address.find(':') != std::string_view::npos &&
                       std::all_of(address.begin(), address.end(), [](char c) {
                         return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
                       });
    if (!valid) return "'" + std::string(host) + "' is not an IPv6 address in brackets such as [::1]";
  } else if (host.find(':') != std::string_view::npos) {
    return "write an IPv6 address in brackets: [" + std::string(host) + "]:" + std::string(port);
  } else if (!std::all_of(host.begin(), host.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
             })) {
    return "'" + std::string(host) + "' is not a host name or address";
  }
  int number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || port.front() == '-' ||
      port.front() == '+') {
    if (ec == std::errc::result_out_of_range) return "port must be between 1 and 65535 (got " + std::string(port) + ")";
    return "'" + std::string(port) + "' is not a port number" + example;
  }
  if (number < 1 || number > 65535) return "port must be between 1 and 65535 (got " + std::string(port) + ")";
  return std::nullopt;
}

// An interviewer's key line: accepted exactly when the gateway would let it log in
// (validate_public_key, the one rule for keys). On success `identity` is "TYPE BASE64",
// the line without its comment.
std::optional<std::string> ssh_key_problem(std::string_view line, std::string& identity) {
  if (line.find("PRIVATE KEY") != std::string_view::npos) {
    return std::string("is a private key; give the public key (the .pub file)");
  }
  if (line.find_first_of("\r\n") != std::string_view::npos) return std::string("must be a single line");
  auto key = validate_public_key(std::string(line));
  if (!key) return key.error().message;
  identity = *key;
  return std::nullopt;
}

bool is_valid_interviewer_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxInterviewerName && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

// Bearer tokens travel in an HTTP header: visible ASCII only.
bool is_visible_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// 0660 -> "0660".
std::string mode_text(std::uint32_t mode) {
  std::string text(4, '0');
  for (std::size_t i = 4; i-- > 0; mode >>= 3) text[i] = static_cast<char>('0' + (mode & 7));
  return text;
}

// --- the file's structure --------------------------------------------------------------

// Builds a DaemonConfig from a document root, logging every problem and going on past
// each one, so that an operator sees all the errors of a file at once.
class ConfigParser {
 public:
  ConfigParser(YAML::Node root_node, fs::path base_dir)
      : root_node_(std::move(root_node)), base_dir_(std::move(base_dir)) {}

  void parse(const Value& root_value, DaemonConfig& config) {
    auto root = root_value.as_record(
        {"listen", "data_dir", "scenario_dirs", "runtime", "sessions", "gateway", "log", "interviewers"});
    if (!root) return;
    read_listen(*root, config);
    if (auto value = root->get("data_dir")) {
      if (auto path = read_path(*value)) config.data_dir = *path;
    }
    read_scenario_dirs(*root, config);
    read_runtime(*root, config);
    read_sessions(*root, config);
    read_gateway(*root, config);
    read_log(*root, config);
    read_interviewers(*root, config);
    check_api(config);
  }

 private:
  void read_listen(const Mapping& root, DaemonConfig& config) {
    auto value = root.get("listen");
    if (!value) return;
    auto listen = value->as_record({"api_socket", "api_socket_mode", "api_socket_group", "api_tcp",
                                    "api_max_connections", "api_request_timeout", "ssh", "ssh_public_host",
                                    "ssh_public_port"});
    if (!listen) return;
    if (auto number = listen->get("api_max_connections")) {
      if (auto n = integer_between(*number, 1, 10000)) config.api_max_connections = *n;
    }
    if (auto timeout = listen->get("api_request_timeout")) {
      if (auto duration = positive_duration(*timeout)) config.api_request_timeout = *duration;
    }
    if (auto socket = listen->get("api_socket")) {
      api_socket_value_ = socket;
      if (auto text = string_or_empty(*socket, "api_socket")) {
        if (text->empty()) config.api_socket.clear();
        else if (auto path = checked_path(*socket, *text)) config.api_socket = *path;
      }
    }
    if (auto mode = listen->get("api_socket_mode")) {
      if (auto text = mode->as_string()) {
        const bool octal = (text->size() == 3 || text->size() == 4) &&
                           std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '7'; });
        if (!octal) {
          mode->error("'" + *text + "' is not a file mode (3 or 4 octal digits, e.g. \"0660\")");
        } else {
          config.api_socket_mode = static_cast<std::uint32_t>(std::stoul(*text, nullptr, 8));
          if (config.api_socket_mode & 0002) {
            mode->warning(mode_text(config.api_socket_mode) +
                          " lets every local user drive sessions; prefer 0660 and a group");
          }
        }
      }
    }
    if (auto group = listen->get("api_socket_group")) {
      if (auto text = string_or_empty(*group, "api_socket_group")) config.api_socket_group = *text;
    }
    if (auto tcp = listen->get("api_tcp")) {
      if (auto text = string_or_empty(*tcp, "api_tcp")) {
        api_tcp_given_ = !text->empty();
        if (text->empty()) {
          config.api_tcp.clear();
        } else if (auto problem = host_port_problem(*text)) {
          tcp->error(*problem);
        } else {
          config.api_tcp = *text;
          api_tcp_value_ = tcp;
        }
      }
    }
    if (auto ssh = listen->get("ssh")) {
      if (auto text = ssh->as_string()) {
        if (auto problem = host_port_problem(*text)) ssh->error(*problem);
        else config.ssh_listen = *text;
      }
    }
    if (auto host = listen->get("ssh_public_host")) {
      if (auto text = string_or_empty(*host, "ssh_public_host")) {
        const bool plausible = std::all_of(text->begin(), text->end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':';
        });
        if (plausible) config.ssh_public_host = *text;
        else host->error("'" + *text + "' is not a host name or address");
      }
    }
    if (auto port = listen->get("ssh_public_port")) {
      if (auto number = port->as_integer()) {
        if (*number < 0 || *number > 65535) {
          port->error("must be between 0 and 65535 (got " + std::to_string(*number) + ")");
        } else {
          config.ssh_public_port = static_cast<int>(*number);
        }
      }
    }
  }

  void read_scenario_dirs(const Mapping& root, DaemonConfig& config) {
    auto value = root.get("scenario_dirs");
    if (!value) return;
    auto items = value->as_nonempty_list("directory");
    if (!items) return;
    std::vector<fs::path> dirs;
    for (const Value& item : *items) {
      auto path = read_path(item);
      if (!path) continue;
      if (std::find(dirs.begin(), dirs.end(), *path) != dirs.end()) {
        item.error("'" + path->string() + "' is listed twice");
        continue;
      }
      dirs.push_back(*path);
    }
    if (dirs.size() == items->size()) config.scenario_dirs = std::move(dirs);
  }

  void read_runtime(const Mapping& root, DaemonConfig& config) {
    auto value = root.get("runtime");
    if (!value) return;
    auto runtime = value->as_record({"backend", "docker_socket", "lxd_socket", "lxd_pool", "timeout"});
    if (!runtime) return;
    if (auto backend = runtime->get("backend")) {
      if (auto text = backend->as_string()) {
        if (auto parsed = parse_backend(*text)) {
          config.backend = *parsed;
        } else {
          backend->error("'" + *text + "' is not a backend: docker or lxd");
        }
      }
    }
    if (auto socket = runtime->get("docker_socket")) {
      if (auto text = socket->as_string()) {
        std::string path = *text;
        if (path.rfind("unix://", 0) == 0) path.erase(0, 7);
        if (text->find("://") != std::string::npos && text->rfind("unix://", 0) != 0) {
          socket->error("'" + *text +
                        "': breakfix reaches the engine over its unix socket only (e.g. /var/run/docker.sock)");
        } else if (!fs::path(path).is_absolute()) {
          socket->error("must be an absolute path (got '" + *text + "')");
        } else {
          config.docker_socket = path;
        }
      }
    }
    if (auto socket = runtime->get("lxd_socket")) {
      if (auto text = socket->as_string()) {
        if (!fs::path(*text).is_absolute()) {
          socket->error("must be an absolute path (got '" + *text + "')");
        } else {
          config.lxd_socket = *text;
        }
      }
    }
    if (auto pool = runtime->get("lxd_pool")) {
      if (auto text = pool->as_string()) {
        if (text->empty() || text->find('/') != std::string::npos) {
          pool->error("must be the name of an LXD storage pool (got '" + *text + "')");
        } else {
          config.lxd_pool = *text;
        }
      }
    }
    if (auto timeout = runtime->get("timeout")) {
      if (auto duration = positive_duration(*timeout)) config.runtime_timeout = *duration;
    }
  }

  void read_sessions(const Mapping& root, DaemonConfig& config) {
    auto value = root.get("sessions");
    if (!value) return;
    auto sessions = value->as_record({"default_duration", "max_duration", "max_sessions", "retention",
                                      "progress_interval", "allow_outside_network", "provision_workers",
                                      "max_disk_mib", "disk_check_interval", "warm"});
    if (!sessions) return;
    auto default_value = sessions->get("default_duration");
    auto max_value = sessions->get("max_duration");
    const std::optional<seconds> default_duration = default_value ? positive_duration(*default_value) : std::nullopt;
    const std::optional<seconds> max_duration = max_value ? positive_duration(*max_value) : std::nullopt;
    if (max_duration) config.max_duration = *max_duration;
    const bool max_ok = !max_value || max_duration;
    if (default_duration) {
      if (max_ok && *default_duration > config.max_duration) {
        default_value->error(format_duration(*default_duration) + " is above sessions.max_duration (" +
                             format_duration(config.max_duration) + ")");
      } else {
        config.default_duration = default_duration;
      }
    }
    if (auto max_sessions = sessions->get("max_sessions")) {
      if (auto number = integer_between(*max_sessions, 1, kMaxSessionsLimit)) config.max_sessions = *number;
    }
    if (auto retention = sessions->get("retention")) {
      if (auto duration = retention->as_duration()) config.retention = *duration;
    }
    if (auto interval = sessions->get("progress_interval")) {
      if (auto duration = interval->as_duration()) config.progress_interval = *duration;
    }
    if (auto outside = sessions->get("allow_outside_network")) {
      if (auto flag = outside->as_bool()) config.allow_outside_network = *flag;
    }
    if (auto limit = sessions->get("max_disk_mib")) {
      if (auto number = integer_between(*limit, 0, 1024 * 1024)) config.max_disk_mib = *number;
    }
    if (auto interval = sessions->get("disk_check_interval")) {
      if (auto duration = positive_duration(*interval)) config.disk_check_interval = *duration;
    }
    if (auto workers = sessions->get("provision_workers")) {
      if (auto number = integer_between(*workers, 1, kMaxProvisionWorkers)) config.provision_workers = *number;
    }
    // warm: {SCENARIO: N}. Whether each scenario exists is the catalog's to say, at start
    // and at each reload (the daemon logs a pool it cannot fill).
    if (auto warm = sessions->get("warm")) {
      if (auto pools = warm->as_map()) {
        int total = 0;
        for (const Mapping::Entry& entry : pools->entries()) {
          auto number = integer_between(entry.value, 0, kMaxSessionsLimit);
          if (!number) continue;
          total += static_cast<int>(*number);
          config.warm[entry.key] = static_cast<int>(*number);
        }
        if (total > config.max_sessions) {
          warm->error("keeps " + std::to_string(total) + " labs warm, more than sessions.max_sessions (" +
                      std::to_string(config.max_sessions) + "): no room would be left for a start");
        }
      }
    }
  }

  void read_gateway(const Mapping& root, DaemonConfig& config) {
    auto value = root.get("gateway");
    if (!value) return;
    auto gateway = value->as_record({"max_connections", "max_connections_per_session", "max_unauthenticated_per_address",
                                     "key_exchange_timeout", "login_grace", "free_failures", "max_failures",
                                     "failure_window", "failure_delay", "max_password_checks", "max_recording_mib",
                                     "max_recording_files"});
    if (!gateway) return;
    if (auto number = gateway->get("max_connections")) {
      if (auto n = integer_between(*number, 1, 10000)) config.ssh_max_connections = *n;
    }
    if (auto number = gateway->get("max_connections_per_session")) {
      if (auto n = integer_between(*number, 1, 1000)) config.ssh_max_connections_per_session = *n;
    }
    if (auto number = gateway->get("max_unauthenticated_per_address")) {
      if (auto n = integer_between(*number, 1, 10000)) config.ssh_max_unauthenticated_per_address = *n;
    }
    if (auto number = gateway->get("max_password_checks")) {
      if (auto n = integer_between(*number, 1, 64)) config.ssh_max_password_checks = *n;
    }
    if (auto number = gateway->get("max_recording_mib")) {
      if (auto n = integer_between(*number, 1, 1024 * 1024)) config.ssh_max_recording_mib = *n;
    }
    if (auto number = gateway->get("max_recording_files")) {
      if (auto n = integer_between(*number, 1, 1000000)) config.ssh_max_recording_files = *n;
    }
    if (auto timeout = gateway->get("key_exchange_timeout")) {
      if (auto duration = positive_duration(*timeout)) config.ssh_key_exchange_timeout = *duration;
    }
    if (auto number = gateway->get("free_failures")) {
      if (auto n = integer_between(*number, 0, 1000)) config.ssh_free_failures = *n;
    }
    if (auto number = gateway->get("max_failures")) {
      if (auto n = integer_between(*number, 1, 100000)) config.ssh_max_failures = *n;
    }
    if (auto grace = gateway->get("login_grace")) {
      if (auto duration = positive_duration(*grace)) config.ssh_login_grace = *duration;
    }
    if (auto window = gateway->get("failure_window")) {
      if (auto duration = positive_duration(*window)) config.ssh_failure_window = *duration;
    }
    if (auto delay = gateway->get("failure_delay")) {
      if (auto duration = delay->as_duration()) config.ssh_failure_delay = *duration;
    }
  }

  void read_log(const Mapping& root, DaemonConfig& config) {
    auto value = root.get("log");
    if (!value) return;
    auto log = value->as_record({"format", "level"});
    if (!log) return;
    if (auto format = log->get("format")) {
      if (auto name = format->as_enum<const char*>({{"text", "text"}, {"json", "json"}})) config.log_format = *name;
    }
    if (auto level = log->get("level")) {
      if (auto name = level->as_enum<const char*>(
              {{"trace", "trace"}, {"debug", "debug"}, {"info", "info"}, {"warn", "warn"}, {"error", "error"}})) {
        config.log_level = *name;
      }
    }
  }

  void read_interviewers(const Mapping& root, DaemonConfig& config) {
    auto value = root.get("interviewers");
    if (!value) return;
    auto items = value->as_list();
    if (!items) return;
    std::map<std::string, int> names;           // name -> line
    std::map<std::string, std::string> tokens;  // token -> interviewer
    std::map<std::string, std::string> keys;    // "TYPE BASE64" -> interviewer
    for (const Value& item : *items) {
      auto map = item.as_record({"name", "token", "token_file", "ssh_keys"});
      if (!map) continue;
      Interviewer interviewer;
      if (auto name_value = map->required("name")) {
        if (auto name = name_value->as_string()) {
          const int line = name_value->position().line;
          if (!is_valid_interviewer_name(*name)) {
            name_value->error("'" + *name + "' is not a valid name (up to 64 of a-z, 0-9, '_', '.' and '-')");
          } else if (auto first = names.find(*name); first != names.end()) {
            name_value->error("duplicate interviewer '" + *name + "' (first at line " +
                              std::to_string(first->second) + ")");
          } else {
            names.emplace(*name, line);
            interviewer.name = *name;
          }
        }
      }
      // Named in messages about clashes with later interviewers.
      const std::string who = interviewer.name.empty() ? item.path() : "'" + interviewer.name + "'";
      read_token(*map, interviewer, tokens, who);
      if (auto keys_value = map->get("ssh_keys")) {
        if (auto lines = keys_value->as_list()) {
          for (const Value& line_value : *lines) {
            auto line = line_value.as_string();
            if (!line) continue;
            std::string identity;
            if (auto problem = ssh_key_problem(*line, identity)) {
              line_value.error(*problem);
            } else if (auto [at, inserted] = keys.emplace(identity, who); !inserted) {
              line_value.error(at->second == who ? "the same key is listed twice"
                                                 : "the same key as interviewer " + at->second);
            } else {
              interviewer.ssh_keys.push_back(*line);
            }
          }
        }
      }
      config.interviewers.push_back(std::move(interviewer));
    }
  }

  void read_token(const Mapping& map, Interviewer& interviewer, std::map<std::string, std::string>& tokens,
                  const std::string& who) {
    auto token_value = map.get("token");
    auto file_value = map.get("token_file");
    if (token_value || file_value) any_token_ = true;
    if (token_value && file_value) {
      map.key_error("token_file", "give either 'token' or 'token_file', not both");
      return;
    }
    std::optional<std::string> token;
    std::string what = "the token";
    if (token_value) {
      token = token_value->as_string();
    } else if (file_value) {
      auto path = read_path(*file_value);
      if (!path) return;
      what = "the token in " + path->string();
      const SmallFile file = read_small_file(*path, kMaxTokenFileBytes);
      if (file.error != 0) {
        file_value->error("cannot read " + path->string() + ": " + read_failure(file));
        return;
      }
      if (file.too_large) {
        file_value->error(path->string() + " is larger than " + std::to_string(kMaxTokenFileBytes) +
                          " bytes; a token file holds one token");
        return;
      }
      if (file.mode & S_IRWXO) {
        file_value->warning(path->string() + " is open to every local user (mode " + mode_text(file.mode & 07777) +
                            "); chmod o-rwx it");
      }
      token = file.text;
      while (!token->empty() && std::isspace(static_cast<unsigned char>(token->back()))) token->pop_back();
      if (token->empty()) {
        file_value->error(path->string() + " is empty");
        return;
      }
    }
    if (!token) return;
    const Value& where = token_value ? *token_value : *file_value;
    if (!is_visible_ascii(*token)) {
      where.error(what + " must be printable ASCII without spaces");
    } else if (token->size() < kMinTokenLength) {
      where.error(what + " is " + std::to_string(token->size()) + " characters long; it must be at least " +
                  std::to_string(kMinTokenLength) + " (e.g. from 'openssl rand -hex 24')");
    } else if (auto [at, inserted] = tokens.emplace(*token, who); !inserted) {
      where.error(what + " is also the token of interviewer " + at->second + "; each needs their own");
    } else {
      interviewer.token = *token;
    }
  }

  void check_api(const DaemonConfig& config) {
    if (api_tcp_value_ && !any_token_) {
      api_tcp_value_->error("the TCP API needs bearer tokens: give an interviewer a token");
    }
    if (api_socket_value_ && config.api_socket.empty() && !api_tcp_given_) {
      api_socket_value_->error("the API would be off entirely: keep the socket or set listen.api_tcp");
    }
  }

  // --- values shared by several keys ---

  // yaml_reader's as_string refuses "" and null; these keys take them to mean "off" or
  // "unset". yaml_reader hides the node, so the empty quoted scalar is looked up here.
  std::optional<std::string> string_or_empty(const Value& value, std::string_view listen_key) const {
    if (value.is_null()) return std::string();
    const YAML::Node& root = root_node_;
    const YAML::Node listen = root["listen"];
    if (listen.IsMap()) {
      const YAML::Node node = listen[std::string(listen_key)];
      if (node.IsDefined() && node.IsScalar() && node.Scalar().empty()) return std::string();
    }
    return value.as_string();
  }

  std::optional<fs::path> read_path(const Value& value) const {
    auto text = value.as_string();
    if (!text) return std::nullopt;
    return checked_path(value, *text);
  }

  // Relative paths are relative to the configuration file's directory, not to wherever
  // the daemon happens to be started from.
  std::optional<fs::path> checked_path(const Value& value, const std::string& text) const {
    if (text.find('\0') != std::string::npos || text.find('\n') != std::string::npos) {
      value.error("is not a valid path");
      return std::nullopt;
    }
    if (text[0] == '~') {
      value.error("'~' is not expanded here; write the full path");
      return std::nullopt;
    }
    const fs::path path(text);
    return (path.is_absolute() ? path : base_dir_ / path).lexically_normal();
  }

  static std::optional<seconds> positive_duration(const Value& value) {
    auto duration = value.as_duration();
    if (duration && duration->count() <= 0) {
      value.error("must be longer than 0s");
      return std::nullopt;
    }
    return duration;
  }

  static std::optional<int> integer_between(const Value& value, int lowest, int highest) {
    auto number = value.as_integer();
    if (!number) return std::nullopt;
    if (*number < lowest || *number > highest) {
      value.error("must be between " + std::to_string(lowest) + " and " + std::to_string(highest) + " (got " +
                  std::to_string(*number) + ")");
      return std::nullopt;
    }
    return static_cast<int>(*number);
  }

  YAML::Node root_node_;
  fs::path base_dir_;
  std::optional<Value> api_socket_value_;
  std::optional<Value> api_tcp_value_;  // set to a valid address
  bool api_tcp_given_ = false;          // set to anything but "", valid or not
  bool any_token_ = false;              // an interviewer has token or token_file, valid or not
};

fs::path directory_of(const fs::path& file) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(file, ec);
  return (ec ? file : absolute).parent_path();
}

}  // namespace

DaemonConfigResult parse_daemon_config(const std::string& text, const fs::path& file) {
  DiagnosticLog log(file.string());
  DaemonConfigResult result;
  result.file_found = true;
  if (text.size() > kMaxConfigFileBytes) {
    log.add(Severity::Error, YAML::Mark(),
            "file is larger than " + std::to_string(kMaxConfigFileBytes / 1024) + " KiB");
    result.diagnostics = log.take();
    return result;
  }
  yaml::read_one_document(text, "a configuration file", log, [&](const Value& root) {
    ConfigParser parser(root.node(), directory_of(file));
    parser.parse(root, result.config);
  }, nullptr);  // nothing but comments: every key keeps its default
  result.diagnostics = log.take();
  yaml::sort_in_file_order(result.diagnostics);
  return result;
}

DaemonConfigResult load_daemon_config(const fs::path& file, bool missing_ok) {
  const SmallFile read = read_small_file(file, kMaxConfigFileBytes);
  if (read.error == ENOENT || read.error == ENOTDIR) {
    DaemonConfigResult result;
    if (!missing_ok) {
      result.diagnostics.push_back({{file.string(), 1, 1}, Severity::Error, "cannot read: " + error_text(read.error)});
    }
    return result;
  }
  if (read.error != 0) {
    DaemonConfigResult result;
    result.file_found = true;
    result.diagnostics.push_back({{file.string(), 1, 1}, Severity::Error, "cannot read: " + read_failure(read)});
    return result;
  }
  return parse_daemon_config(read.text, file);  // reports a file over the limit
}

}  // namespace breakfix

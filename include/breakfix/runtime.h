#pragma once

// The runtime: where a session's hosts live. The session engine, the grader and the
// SSH gateway talk only to this interface; provisioning/ has the Docker Engine API
// backend (make_docker_runtime), and the engine's unit tests use a fake.
//
// Threads: every method may be called from any thread at the same time; each call
// stands alone (the Docker backend opens a connection per call). Calls block until
// done; long ones report progress through a callback on the calling thread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "breakfix/error.h"

namespace breakfix {

// Every object breakfix creates carries these labels, so that it can be found again
// after a crash (re-adoption, `breakfix gc`) and never confused with anything else.
inline constexpr const char* kLabelManaged = "breakfix.managed";  // value "true"
inline constexpr const char* kLabelSession = "breakfix.session";  // the session id
inline constexpr const char* kLabelHost = "breakfix.host";        // the host name

using Labels = std::map<std::string, std::string>;
// One line of progress from a long operation (an image build step, a pull).
using ProgressFn = std::function<void(std::string_view line)>;

enum class NetworkKind {
  Internal,  // a bridge of its own with no route out: the session's hosts and nothing else
  Outside,   // a bridge of its own with a route out through the engine's NAT
};

struct NetworkSpec {
  std::string name;  // unique on the engine
  NetworkKind kind = NetworkKind::Internal;
  Labels labels;
};

struct TmpfsMount {
  std::string path;           // absolute path in the container
  std::int64_t size_bytes = 0;
  std::int64_t inodes = 0;    // 0: the kernel's default
  std::uint32_t mode = 01777;
};

// A named volume mounted into a container. A volume that does not exist yet is created
// at the container's creation and filled with what the image holds at `target`.
struct VolumeMount {
  std::string volume;
  std::string target;  // absolute path in the container
  bool read_only = true;
  Labels labels;       // given to the volume if this mount creates it
};

struct ContainerSpec {
  std::string name;      // unique on the engine, e.g. breakfix-<session>-<host>
  std::string image;
  std::string hostname;
  // PID 1's argv. Empty: a lab host's init (a shell that sleeps and reaps orphans).
  // The LXD backend always boots the image's own init (systemd) and ignores it.
  std::vector<std::string> command;
  // The host boots systemd (`init: systemd`): only a backend of system containers (LXD)
  // can; Docker refuses such a spec with a message that says so.
  bool systemd = false;
  // Empty: no network at all (only loopback). Else the network's name; `aliases` are
  // the names other containers on it resolve.
  std::string network;
  std::vector<std::string> aliases;
  // Upstream servers for names the engine's resolver does not know. On an internal
  // network this is the container's own loopback, so that no name ever leaves.
  std::vector<std::string> dns;
  double cpus = 1.0;
  std::int64_t memory_bytes = 512LL * 1024 * 1024;
  std::int64_t pids = 512;
  // RLIMIT_NOFILE (soft and hard) of the host's processes; 0: the engine's default
  // (which is not bounded the same way by every engine: Podman's is 1048576).
  std::int64_t open_files = 0;
  std::vector<TmpfsMount> tmpfs;
  std::vector<VolumeMount> volumes;
  std::vector<std::string> capabilities;  // added to the backend's own lab set ("SYS_PTRACE")
  Labels labels;
};

enum class ContainerState { Created, Running, Paused, Restarting, Exited, Dead, Unknown };
const char* to_string(ContainerState state);

struct ContainerInfo {
  std::string id;
  std::string name;
  std::string image;
  ContainerState state = ContainerState::Unknown;
  Labels labels;
  std::map<std::string, std::string> addresses;  // network name -> IPv4 address
  // Set when the backend cannot reach the machine the container runs on (an LXD cluster
  // member that went away): why, for the session it belongs to. The state is then Dead.
  std::string lost;
};

struct NetworkInfo {
  std::string id;
  std::string name;
  Labels labels;
};

struct TerminalSize {
  int columns = 80;
  int rows = 24;
};

struct ExecSpec {
  std::string container;             // id or name
  std::vector<std::string> command;  // argv, run without a shell
  std::vector<std::string> env;      // NAME=value, added to the container's
  std::string user = "root";
  std::string workdir;               // empty: the container's
  bool tty = false;                  // with a TTY, stdout and stderr arrive as one stream
  TerminalSize size;                 // with a TTY: its initial size
};

enum class OutputStream { Stdout, Stderr };

// A running exec: stdin in, output out, exit code at the end. Not thread-safe: one
// thread drives it (the gateway's per-connection loop, or run_exec below).
class ExecStream {
 public:
  virtual ~ExecStream() = default;

  // A file descriptor that becomes readable when read_output() has something to give
  // (output or end of stream), so that a caller can poll it beside its own.
  virtual int poll_fd() const = 0;
  // Reads what output is available without blocking: calls `sink` for each chunk and
  // returns false once the output has ended. A broken connection is an error.
  virtual Result<bool> read_output(const std::function<void(OutputStream, std::string_view)>& sink) = 0;
  // Sends what of `data` the connection takes now without blocking; returns how many
  // bytes (0 when it is full: poll poll_fd() for POLLOUT).
  virtual Result<std::size_t> write_some_stdin(std::string_view data) = 0;
  // Sends all of `data`, blocking while the process does not read.
  Status write_stdin(std::string_view data);
  // Sends end-of-file to the process's stdin (the connection stays open for output).
  virtual Status close_stdin() = 0;
  virtual Status resize(TerminalSize size) = 0;
  // After read_output() returned false: the process's exit code.
  virtual Result<int> exit_code() = 0;
  // Kills the process and every process it started, detached (setsid, nohup) or not,
  // with the grader's own tools (toolbox.h), never the lab's. Returns within a few
  // seconds whatever the lab does (the Docker backend gives its killer 5 s). Used on
  // timeouts and when a candidate's connection drops.
  virtual Status kill() = 0;
};

// What the engine says changed in a container's file system against its image (its
// writable layer): GET /containers/{id}/changes. A changed path's directories are listed
// as Modified too.
enum class FsChangeKind { Modified = 0, Added = 1, Deleted = 2 };  // the engine's own numbers
const char* to_string(FsChangeKind kind);

struct FsChange {
  std::string path;  // absolute
  FsChangeKind kind = FsChangeKind::Modified;
};

enum class FileType { Regular, Directory, Symlink, HardLink, Other };
const char* to_string(FileType type);

// One entry of a container's file system as the engine's archive of it shows it.
struct FileRecord {
  std::string path;  // absolute, as in the container
  FileType type = FileType::Other;
  std::uint32_t mode = 0;  // permission bits with setuid, setgid and sticky (07777)
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::int64_t size = 0;    // regular files
  std::string link_target;  // symlinks: as written; hard links: the absolute path linked to
  std::string xattrs;       // extended attributes (file capabilities live there), "name=hex\n" sorted
  std::string sha256;       // regular files read to the end: their content's digest (hex); else ""
  std::string head;         // regular files asked for with Keep: their first TreeReadOptions::keep_bytes
};

// What read_tree does with an entry of the tree.
enum class ReadWant {
  Skip,    // nothing (its content is read past)
  Header,  // a record of what the header says, without reading the content
  Hash,    // a record with the content's digest
  Keep,    // also the first keep_bytes of the content
};
// Asked about each entry with what its header says (path, type, mode, owner, size, link).
using WantFn = std::function<ReadWant(const FileRecord& header)>;
// Gets each wanted entry's record; returns false when nothing more is wanted, which ends
// the read there (read_tree then returns false, as when cut), before any more is read.
using VisitFn = std::function<bool(FileRecord)>;

struct TreeReadOptions {
  std::uint64_t max_bytes = 64ULL << 20;  // stop reading the archive after this many bytes
  std::size_t keep_bytes = 0;
};

struct ImageInfo {
  std::string id;
  std::vector<std::string> tags;
  Labels labels;
};

struct ExecResult {
  int exit_code = -1;
  bool timed_out = false;  // killed at the deadline; exit_code is then what the kill left
  // The output did not end after the kill (a process escaped it and holds the output
  // open): run_exec stopped waiting and closed the stream; exit_code is -1.
  bool abandoned = false;
  std::chrono::milliseconds duration{0};
};

// What bounds an exec, whatever happens inside the container: run_exec returns within
// timeout + the kill's own bound (seconds) + drain_grace, or within about a second of
// `cancel` being set.
struct ExecBounds {
  std::chrono::milliseconds timeout{0};  // the process tree is killed then; 0: no timeout
  // After the kill, how long the output may take to end before the exec is abandoned.
  std::chrono::milliseconds drain_grace{std::chrono::seconds(5)};
  // Asked about once a second; true (the daemon stopping, the candidate's time over):
  // the exec is killed and run_exec returns Timeout "cancelled" without waiting for it.
  std::function<bool()> cancelled;
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Whether the engine answers; Unavailable names the endpoint and how to start it.
  virtual Status ping() = 0;

  // The daemon is stopping: image builds and imports under way end now with an error,
  // and new ones fail at once. Other calls are short, and execs have their own cancel.
  virtual void cancel_long_calls() {}

  // The image's id ("sha256:..."), or nullopt when the engine does not have it.
  virtual Result<std::optional<std::string>> image_id(const std::string& reference) = 0;
  // Builds `context_dir` (holding a Dockerfile) and tags the image `tag`. Progress is
  // the build's output, line by line. Failed carries the last lines of the build log.
  virtual Status build_image(const std::filesystem::path& context_dir, const std::string& tag,
                             const ProgressFn& progress) = 0;
  // Imports a root file system tarball as image `tag` (`changes`: Dockerfile lines such
  // as "ENV LANG=C.UTF-8" applied to the image's config).
  virtual Status import_image(const std::filesystem::path& rootfs_tar, const std::string& tag,
                              const std::vector<std::string>& changes, const ProgressFn& progress) = 0;
  virtual Status remove_image(const std::string& reference) = 0;

  virtual Result<std::string> create_network(const NetworkSpec& spec) = 0;  // returns the id
  virtual Status remove_network(const std::string& id_or_name) = 0;       // NotFound if absent
  virtual Result<std::vector<NetworkInfo>> list_networks(const Labels& match) = 0;

  // Creates (does not start) a container, isolated as documented in docs/runtime.md.
  virtual Result<std::string> create_container(const ContainerSpec& spec) = 0;  // returns the id
  virtual Status start_container(const std::string& id) = 0;
  virtual Status pause_container(const std::string& id) = 0;
  virtual Status unpause_container(const std::string& id) = 0;
  // Kills and removes the container with its anonymous volumes. NotFound if absent.
  virtual Status remove_container(const std::string& id) = 0;
  virtual Result<ContainerInfo> inspect_container(const std::string& id) = 0;
  // What the container has written to its own writable layer, in bytes: the disk a
  // candidate fills. The engine has to walk the layer for it, so it is not cheap.
  virtual Result<std::uint64_t> writable_layer_bytes(const std::string& id) = 0;
  // Containers (any state) whose labels include every pair in `match`.
  virtual Result<std::vector<ContainerInfo>> list_containers(const Labels& match) = 0;
  // Containers that may be breakfix's but that the backend cannot inspect now, their
  // machine being out of reach (an LXD cluster member that went away): their names, each
  // with why. list_containers leaves them out, their labels being unknown; `gc` reports
  // them. None on a single machine.
  virtual Result<std::vector<std::string>> unreachable_containers() { return std::vector<std::string>(); }

  // Whether a named volume exists; and its removal (NotFound if absent, Conflict while
  // a container uses it).
  virtual Result<bool> has_volume(const std::string& name) = 0;
  virtual Status remove_volume(const std::string& name) = 0;

  virtual Result<std::unique_ptr<ExecStream>> start_exec(const ExecSpec& spec) = 0;

  // Tamper evidence (docs/runtime.md): the engine's own view of a container's file
  // system, never anything that runs inside it, so that a candidate who is root in the
  // container cannot lie to it.
  //
  // The container's changes against its image, handed to `visit` one by one as the
  // engine's answer streams in: the list is as long as the candidate made it, and this
  // call holds none of it. NotFound if the container is absent.
  virtual Status container_changes(const std::string& id, const std::function<void(const FsChange&)>& visit) = 0;
  // Saves the container's file system as an image tagged `tag` and labelled `labels`
  // (the container keeps running: not paused); returns the image id.
  virtual Result<std::string> commit_container(const std::string& id, const std::string& tag, const Labels& labels) = 0;
  // Images whose labels include every pair in `match`.
  virtual Result<std::vector<ImageInfo>> list_images(const Labels& match) = 0;
  // Reads `path` of the container (a file, or a directory and everything below it)
  // through the engine's archive of it. `want` is asked about each entry (by its header,
  // the path absolute); `visit` gets a record of each wanted one once its content is read.
  // Reading stops after options.max_bytes of archive or when `visit` says so; returns
  // whether the archive was read to its end (false: entries after the stop were not
  // seen). NotFound if `path` is absent.
  // The engine starts a helper process per call (about 0.3 s on Docker 20.10): ask for
  // a directory once rather than for its files one by one.
  virtual Result<bool> read_tree(const std::string& id, const std::string& path, const TreeReadOptions& options,
                                 const WantFn& want, const VisitFn& visit) = 0;
};

// The environment variable each backend gives every process an exec starts, with a
// value of the exec's own, so that a timeout can find and kill all of them, detached or
// not, from inside the container.
inline constexpr const char* kExecMarkerVariable = "BREAKFIX_EXEC";

// The shell script (the toolbox's busybox sh, the marker as $1) that kills every process
// carrying the marker, in a few rounds so that processes forked meanwhile are caught too.
const char* exec_kill_script();

// ExecStream::kill for both backends: runs exec_kill_script() in `container` and waits,
// at most `bound`, for it to end (a lab that starves the killer cannot hold the caller).
Status kill_marked_processes(Runtime& runtime, const std::string& container, const std::string& marker,
                             std::chrono::seconds bound);

// Runs an exec to its end: `input` is written to stdin and then closed, output goes to
// `sink` as it arrives (memory stays bounded whatever the output's size), and at
// `timeout` (zero: none) the process tree is killed and timed_out set.
Result<ExecResult> run_exec(Runtime& runtime, const ExecSpec& spec, std::string_view input,
                            const std::function<void(OutputStream, std::string_view)>& sink,
                            const ExecBounds& bounds);
inline Result<ExecResult> run_exec(Runtime& runtime, const ExecSpec& spec, std::string_view input,
                                   const std::function<void(OutputStream, std::string_view)>& sink,
                                   std::chrono::milliseconds timeout) {
  ExecBounds bounds;
  bounds.timeout = timeout;
  return run_exec(runtime, spec, input, sink, bounds);
}

}  // namespace breakfix

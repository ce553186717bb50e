// breakfix-hostview, the helper that reads labs on an LXD cluster's members
// (hostview_main.cpp), against the daemon's own reader (host_tree.h): run as a process on
// a directory standing in for a lab's root file system, it must answer what the daemon
// would have read itself, whatever bytes the lab put in names and files. Also the wire
// format on its own, and LXD's operation URLs in a cluster.

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "host_tree.h"
#include "hostview_protocol.h"
#include "lxd_client.h"

using namespace breakfix;
using namespace breakfix::lxd;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Runs breakfix-hostview with `args` (and `input` on its stdin): its lines, parsed.
std::vector<json> run_hostview(const std::string& args, const std::string& input = "") {
  const fs::path in = fs::temp_directory_path() / ("breakfix-hostview-in-" + std::to_string(::getpid()));
  std::ofstream(in, std::ios::binary) << input;
  const std::string command = std::string(BREAKFIX_HOSTVIEW) + " " + args + " < " + in.string();
  FILE* out = ::popen(command.c_str(), "r");
  REQUIRE(out != nullptr);
  std::string text;
  char buffer[65536];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, out)) > 0;) text.append(buffer, got);
  ::pclose(out);
  fs::remove(in);
  std::vector<json> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    auto line = hostview::parse_line(std::string_view(text).substr(start, end - start), "hostview");
    REQUIRE_MESSAGE(line.ok(), line.error().message);
    lines.push_back(*line);
  }
  return lines;
}

std::string quoted(const std::string& text) { return "'" + text + "'"; }

struct Lab {
  fs::path root = fs::temp_directory_path() / ("breakfix-hostview-lab-" + std::to_string(::getpid()));
  Lab() {
    fs::remove_all(root);
    fs::create_directories(root / "etc");
    fs::create_directories(root / "srv");
    std::ofstream(root / "etc/hostname") << "lab\n";
    // A name no JSON string can hold as it is, and a file that starts with a NUL.
    std::ofstream(root / "srv/caf\xe9", std::ios::binary) << std::string("\0binary\xff", 8);
    fs::create_symlink("/", root / "srv/escape");
    fs::create_hard_link(root / "etc/hostname", root / "srv/hostname-link");
  }
  ~Lab() { fs::remove_all(root); }
};

const char* kIdentity =
    R"([{"Isuid":true,"Isgid":false,"Hostid":0,"Nsid":0,"Maprange":65536},{"Isuid":false,"Isgid":true,"Hostid":0,"Nsid":0,"Maprange":65536}])";

}  // namespace

TEST_CASE("The helper's records carry any bytes, and a damaged answer is an error, not a record") {
  FileRecord record;
  record.path = std::string("/srv/caf\xe9\0x", 11);
  record.type = FileType::HardLink;
  record.mode = 04755;
  record.uid = 1000;
  record.gid = 65534;
  record.size = 8;
  record.link_target = "/etc/\n";
  record.xattrs = "security.capability=0100\n";
  record.sha256 = std::string(64, 'a');
  record.head = std::string("\0\xff", 2);
  auto line = hostview::parse_line(hostview::record_json(record).dump(), "read");
  REQUIRE(line.ok());
  auto back = hostview::record_of(*line);
  REQUIRE(back.ok());
  CHECK(back->path == record.path);
  CHECK(back->type == record.type);
  CHECK(back->mode == record.mode);
  CHECK(back->uid == record.uid);
  CHECK(back->gid == record.gid);
  CHECK(back->size == record.size);
  CHECK(back->link_target == record.link_target);
  CHECK(back->xattrs == record.xattrs);
  CHECK(back->sha256 == record.sha256);
  CHECK(back->head == record.head);

  json damaged = hostview::record_json(record);
  damaged["path"] = "2f7";  // odd
  CHECK(hostview::record_of(damaged).error().code == ErrorCode::Internal);
  damaged = hostview::record_json(record);
  damaged["type"] = 9;
  CHECK(hostview::record_of(damaged).error().code == ErrorCode::Internal);
  damaged.erase("uid");
  CHECK(hostview::record_of(damaged).error().code == ErrorCode::Internal);
  CHECK(hostview::parse_line("not json", "read").error().code == ErrorCode::Internal);

  const Error told = hostview::error_of(hostview::error_json(make_error(ErrorCode::NotFound, "/srv not found")), "read /srv");
  CHECK(told.code == ErrorCode::NotFound);
  CHECK(told.message == "read /srv: /srv not found");
  CHECK(hostview::error_of(json{{"record", 1}}, "read").code == ErrorCode::Internal);

  auto change = hostview::change_of(hostview::change_json({"/etc/\xff", FsChangeKind::Deleted}));
  REQUIRE(change.ok());
  CHECK(change->path == "/etc/\xff");
  CHECK(change->kind == FsChangeKind::Deleted);
}

TEST_CASE("breakfix-hostview reads a lab's tree, changes and disk as the daemon's own reader does") {
  Lab lab;
  // The daemon's own reading.
  std::vector<FileRecord> here;
  auto complete = read_host_tree(lab.root, "/", IdShift{{0, 65536}, {0, 65536}}, {1 << 20, 16},
                                 [](const FileRecord&) { return ReadWant::Keep; },
                                 [&](FileRecord record) {
                                   here.push_back(std::move(record));
                                   return true;
                                 });
  REQUIRE(complete.ok());
  // The helper's.
  auto lines = run_hostview("tree " + quoted(lab.root.string()) + " / 1048576 16 " + quoted(kIdentity));
  REQUIRE(!lines.empty());
  CHECK(lines.back() == json{{"end", {{"complete", *complete}}}});
  std::vector<FileRecord> there;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    auto record = hostview::record_of(lines[i]["record"]);
    REQUIRE_MESSAGE(record.ok(), record.error().message);
    there.push_back(*record);
  }
  REQUIRE(there.size() == here.size());
  for (std::size_t i = 0; i < here.size(); ++i) {
    CHECK(there[i].path == here[i].path);
    CHECK(there[i].type == here[i].type);
    CHECK(there[i].link_target == here[i].link_target);
    CHECK(there[i].sha256 == here[i].sha256);
    CHECK(there[i].head == here[i].head);
    CHECK(there[i].size == here[i].size);
  }
  bool named = false;
  for (const FileRecord& record : there) named = named || record.path == "/srv/caf\xe9";
  CHECK(named);

  // A missing path is the daemon's NotFound, as an answer, not a crash.
  lines = run_hostview("tree " + quoted(lab.root.string()) + " /nowhere 1048576 0 " + quoted(kIdentity));
  REQUIRE(lines.size() == 1);
  CHECK(hostview::error_of(lines[0], "read").code == ErrorCode::NotFound);

  // Changes against an image that held only /etc and /etc/hostname, since the epoch.
  std::vector<FsChange> changes_here;
  REQUIRE(host_changes(lab.root, {"/etc", "/etc/hostname", "/gone"}, 0,
                       [&](const FsChange& change) { changes_here.push_back(change); })
              .ok());
  lines = run_hostview("changes " + quoted(lab.root.string()) + " 0", hostview::hex("/etc/hostname") + "\n" +
                                                                       hostview::hex("/etc") + "\n" + hostview::hex("/gone") + "\n");
  REQUIRE(lines.size() == changes_here.size() + 1);
  CHECK(lines.back().contains("end"));
  for (std::size_t i = 0; i < changes_here.size(); ++i) {
    auto change = hostview::change_of(lines[i]["change"]);
    REQUIRE(change.ok());
    CHECK(change->path == changes_here[i].path);
    CHECK(change->kind == changes_here[i].kind);
  }

  auto bytes_here = host_written_bytes(lab.root, 0);
  REQUIRE(bytes_here.ok());
  lines = run_hostview("written " + quoted(lab.root.string()) + " 0");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["end"]["bytes"].get<std::uint64_t>() == *bytes_here);

  // Wrong use is an error line, naming the usage.
  lines = run_hostview("tree only-one-argument");
  REQUIRE(lines.size() == 1);
  CHECK(hostview::error_of(lines[0], "hostview").code == ErrorCode::Invalid);
}

TEST_CASE("breakfix-hostview holds a mount table open and answers each question about it") {
  // Its own table: nothing mounts meanwhile, so each answer is "unchanged".
  auto lines = run_hostview("mounts /proc/self/mountinfo", "?\n?\n");
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["mounts"].get<std::string>().find(" / ") != std::string::npos);
  CHECK(lines[1] == json{{"changed", false}});
  CHECK(lines[2] == json{{"changed", false}});
  lines = run_hostview("mounts /proc/999999999/mountinfo");
  REQUIRE(lines.size() == 1);
  CHECK(hostview::error_of(lines[0], "mounts").code == ErrorCode::Failed);
}

TEST_CASE("An operation's URL keeps the query LXD gave it when a path is added below it") {
  // A cluster names its operations with the project; "/wait" after that "?" was read as
  // part of the query, and the wait came back at once, unfinished.
  CHECK(operation_path("/1.0/operations/abc?project=default", "/wait", "timeout=30") ==
        "/1.0/operations/abc/wait?timeout=30&project=default");
  CHECK(operation_path("/1.0/operations/abc", "/websocket", "secret=s") == "/1.0/operations/abc/websocket?secret=s");
  CHECK(operation_path("/1.0/operations/abc?project=p", "/websocket", "") == "/1.0/operations/abc/websocket?project=p");
}

// What the LXD backend asks LXD for: the instance a lab host becomes (isolation and
// limits live there), names mapped onto LXD's rules, labels, accounts and the image
// files it makes and reads.

#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "lxd_build.h"
#include "lxd_image.h"
#include "lxd_network.h"
#include "lxd_requests.h"

using namespace breakfix;
using namespace breakfix::lxd;
using nlohmann::json;

namespace {

ContainerSpec lab_host_spec() {
  ContainerSpec spec;
  spec.name = "breakfix-s1-web";
  spec.image = "breakfix/base:bookworm";
  spec.hostname = "web";
  spec.cpus = 0.5;
  spec.memory_bytes = 256LL << 20;
  spec.pids = 128;
  spec.open_files = 4096;
  spec.tmpfs.push_back({"/var/log", 64LL << 20, 1000, 0755});
  spec.volumes.push_back({"breakfix-toolbox-1", "/.breakfix", true, {}});
  spec.labels = {{"breakfix.session", "s1"}, {"breakfix.host", "web"}};
  return spec;
}

// A scratch directory removed at the end.
struct LxdScratch {
  std::filesystem::path path;
  LxdScratch() {
    std::string pattern = (std::filesystem::temp_directory_path() / "breakfix-lxd-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()));
    path = pattern;
  }
  ~LxdScratch() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// Writes a tar of `entries` (path, content; a path ending in '/' is a directory).
void write_tar(const std::filesystem::path& file, const std::vector<std::pair<std::string, std::string>>& entries) {
  archive* out = archive_write_new();
  archive_write_set_format_pax_restricted(out);
  REQUIRE(archive_write_open_filename(out, file.c_str()) == ARCHIVE_OK);
  for (const auto& [path, content] : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, path.c_str());
    const bool directory = !path.empty() && path.back() == '/';
    archive_entry_set_filetype(entry, directory ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(entry, directory ? 0755 : 0755);
    archive_entry_set_size(entry, directory ? 0 : static_cast<la_int64_t>(content.size()));
    REQUIRE(archive_write_header(out, entry) == ARCHIVE_OK);
    if (!directory) archive_write_data(out, content.data(), content.size());
    archive_entry_free(entry);
  }
  archive_write_close(out);
  archive_write_free(out);
}

std::vector<std::string> tar_paths(const std::filesystem::path& file) {
  archive* in = archive_read_new();
  archive_read_support_format_tar(in);
  REQUIRE(archive_read_open_filename(in, file.c_str(), 4096) == ARCHIVE_OK);
  std::vector<std::string> paths;
  archive_entry* entry;
  while (archive_read_next_header(in, &entry) == ARCHIVE_OK) paths.push_back(archive_entry_pathname(entry));
  archive_read_free(in);
  return paths;
}

}  // namespace

TEST_CASE("A lab host becomes an unprivileged instance with its own uid range, its limits and no profile") {
  const json body = instance_create_body(lab_host_spec(), "f00d", "breakfix", {"/var/lib/breakfix/lxd-volumes/tb"});
  const json& config = body["config"];
  CHECK(body["name"] == "breakfix-s1-web");
  CHECK(body["type"] == "container");
  CHECK(body["source"]["fingerprint"] == "f00d");
  // No profile: an admin's default profile cannot add a NIC.
  CHECK(body["profiles"] == json::array());
  CHECK(config["security.privileged"] == "false");
  CHECK(config["security.nesting"] == "false");
  CHECK(config["security.idmap.isolated"] == "true");
  CHECK(config["limits.memory"] == "256MiB");
  CHECK(config["limits.memory.swap"] == "false");
  CHECK(config["limits.processes"] == "128");
  CHECK(config["limits.cpu.allowance"] == "50ms/100ms");
  CHECK(config["limits.kernel.nofile"] == "4096");
  CHECK(config["user.breakfix.session"] == "s1");
  CHECK(config["user.breakfix-lxd.name"] == "breakfix-s1-web");
  const std::string raw = config["raw.lxc"];
  CHECK(raw.find("lxc.uts.name = web\n") != std::string::npos);
  CHECK(raw.find("lxc.mount.entry = tmpfs var/log tmpfs rw,nosuid,nodev,size=67108864,nr_inodes=1000,mode=755") !=
        std::string::npos);
  // Devices: the root disk and the toolbox, read-only; nothing else (no network).
  const json& devices = body["devices"];
  CHECK(devices.size() == 2);
  CHECK(devices["root"]["pool"] == "breakfix");
  CHECK(devices["volume0"]["source"] == "/var/lib/breakfix/lxd-volumes/tb");
  CHECK(devices["volume0"]["path"] == "/.breakfix");
  CHECK(devices["volume0"]["readonly"] == "true");
}

TEST_CASE("Names are mapped onto LXD's rules without two ever meeting, and a valid name is its own") {
  CHECK(instance_name("breakfix-s1-web") == "breakfix-s1-web");
  const std::string ready = instance_name("breakfix-s1-web.ready");
  CHECK(ready.rfind("breakfix-s1-web-ready-", 0) == 0);
  CHECK(instance_name(ready) == ready);  // ids map to themselves
  CHECK(instance_name("breakfix-s1-web_ready") != ready);
  const std::string long_name = instance_name(std::string(80, 'a'));
  CHECK(long_name.size() <= 63);
  CHECK(instance_name(std::string(81, 'a')) != long_name);
  CHECK(std::isalpha(static_cast<unsigned char>(instance_name("1abc")[0])));
}

TEST_CASE("Labels are the user keys, breakfix's own keys are not labels, and states map") {
  const Labels labels = labels_of(json{{"user.breakfix.session", "s1"}, {"user.breakfix-lxd.name", "x"},
                                      {"limits.memory", "1GiB"}, {"user.n", 3}});
  CHECK(labels == Labels{{"breakfix.session", "s1"}});
  CHECK(state_of("Running", true) == ContainerState::Running);
  CHECK(state_of("Frozen", true) == ContainerState::Paused);
  CHECK(state_of("Stopped", false) == ContainerState::Created);
  CHECK(state_of("Stopped", true) == ContainerState::Exited);
  CHECK(state_of("Error", true) == ContainerState::Dead);
}

TEST_CASE("A user is found in passwd by name or number, and an unknown one is not") {
  const std::string passwd = "root:x:0:0:root:/root:/bin/bash\nada:x:1000:1001:Ada:/home/ada:/bin/bash\nbroken:x\n";
  auto ada = find_account(passwd, "ada");
  REQUIRE(ada);
  CHECK(ada->uid == 1000);
  CHECK(ada->gid == 1001);
  CHECK(ada->home == "/home/ada");
  CHECK(find_account(passwd, "1000")->home == "/home/ada");
  CHECK_FALSE(find_account(passwd, "grace"));
  CHECK_FALSE(find_account(passwd, "broken"));
}

TEST_CASE("An image tarball moves the root file system under rootfs/ beside metadata.yaml") {
  LxdScratch scratch;
  write_tar(scratch.path / "rootfs.tar", {{"./", ""}, {"./etc/", ""}, {"./etc/hostname", "box\n"}});
  REQUIRE(make_unified_image(scratch.path / "rootfs.tar", scratch.path / "image.tar",
                             {{"description", "breakfix/base:bookworm"}}).ok());
  const auto paths = tar_paths(scratch.path / "image.tar");
  REQUIRE(paths.size() == 4);
  CHECK(paths[0] == "metadata.yaml");
  CHECK(paths[1] == "rootfs/");
  CHECK(paths[3] == "rootfs/etc/hostname");
  CHECK_FALSE(std::filesystem::exists(scratch.path / "image.tar.partial"));
}

TEST_CASE("A volume is filled from a stored image's subtree and nothing is written outside it") {
  LxdScratch scratch;
  write_tar(scratch.path / "fp1", {{"metadata.yaml", "architecture: x86_64\n"},
                                   {"rootfs/.breakfix/bin/busybox", "#!static\n"},
                                   {"rootfs/etc/passwd", "root:x:0:0::/root:/bin/sh\n"}});
  REQUIRE(extract_image_subtree(scratch.path, "fp1", "/.breakfix", scratch.path / "volume").ok());
  std::ifstream busybox(scratch.path / "volume" / "bin" / "busybox");
  std::string content((std::istreambuf_iterator<char>(busybox)), {});
  CHECK(content == "#!static\n");
  CHECK_FALSE(std::filesystem::exists(scratch.path / "volume" / "etc"));
  // A hostile image: a name that climbs out of the subtree is refused, and nothing lands.
  write_tar(scratch.path / "fp2", {{"rootfs/.breakfix/../../../../tmp/breakfix-escaped", "x"}});
  Status escaped = extract_image_subtree(scratch.path, "fp2", "/.breakfix", scratch.path / "volume2");
  CHECK_FALSE(std::filesystem::exists("/tmp/breakfix-escaped"));
  CHECK_FALSE(std::filesystem::exists(scratch.path / "volume2"));
  CHECK_FALSE(escaped.ok());
  // An image with nothing there is NotFound, not an empty volume.
  Status empty = extract_image_subtree(scratch.path, "fp1", "/opt", scratch.path / "volume3");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == ErrorCode::NotFound);
}

// The toolbox guard reads the lab's init's mount table on the host. A lab as LXD starts
// it (trimmed), then what a root in it can do to the grader's tools.
TEST_CASE("The toolbox counts only while its own read-only mount is on top") {
  const std::string booted =
      "47 80 254:0 /var/lib/lxd/storage-pools/breakfix/containers/l/rootfs / rw,relatime shared:5 - ext4 /dev/vda rw\n"
      "280 47 0:97 / /dev rw,relatime shared:9 - tmpfs none rw,size=492k\n"
      "157 47 254:0 /var/lib/breakfix/lxd-volumes/tb /.breakfix ro,relatime shared:43 - ext4 /dev/vda rw\n"
      "139 47 0:102 / /run rw,nosuid,nodev shared:31 - tmpfs tmpfs rw\n"
      "351 139 0:79 / /run/credentials/x.service ro,nosuid shared:44 - ramfs ramfs rw,mode=700\n";
  CHECK(mount_id_at(booted, "/.breakfix") == "157");
  CHECK(toolbox_cover(booted, "/.breakfix", "157").empty());
  // mount --bind /root/fake /.breakfix
  const std::string covered = booted + "400 157 254:0 /var/lib/lxd/x/rootfs/root/fake /.breakfix rw - ext4 /dev/vda rw\n";
  CHECK(toolbox_cover(covered, "/.breakfix", "157").find("mount 400 at /.breakfix") != std::string::npos);
  CHECK(mount_id_at(covered, "/.breakfix").empty());  // two mounts there: none is the toolbox for sure
  // mount --bind /root/fake /.breakfix/bin/bash: one file of it
  CHECK_FALSE(toolbox_cover(booted + "401 157 254:0 /x /.breakfix/bin/bash rw - ext4 /dev/vda rw\n", "/.breakfix", "157").empty());
  // a new root over everything (mount --bind /root/fakeroot /, or a pivot_root)
  CHECK_FALSE(toolbox_cover(booted + "402 47 254:0 /x / rw - ext4 /dev/vda rw\n", "/.breakfix", "157").empty());
  // the toolbox unmounted and a look-alike mounted read-only in its place
  std::string swapped = booted;
  swapped.replace(swapped.find("157 47"), 6, "403 47");
  CHECK(toolbox_cover(swapped, "/.breakfix", "157").find("not the toolbox's 157") != std::string::npos);
  // unmounted, so the lab's own /.breakfix directory shows
  std::string gone = booted;
  gone.erase(gone.find("157 47"), gone.find("139 47") - gone.find("157 47"));
  CHECK(toolbox_cover(gone, "/.breakfix", "157").find("nothing is mounted") != std::string::npos);
  // remounted writable
  std::string writable = booted;
  writable.replace(writable.find("/.breakfix ro,"), 14, "/.breakfix rw,");
  CHECK(toolbox_cover(writable, "/.breakfix", "157").find("writable") != std::string::npos);
  // What systemd mounts later elsewhere covers nothing.
  CHECK(toolbox_cover(booted + "500 139 0:80 / /run/user/0 rw - tmpfs tmpfs rw\n", "/.breakfix", "157").empty());
  CHECK(toolbox_cover(booted + "501 47 0:81 / /.breakfix2 rw - tmpfs tmpfs rw\n", "/.breakfix", "157").empty());
}

TEST_CASE("Each lab gets 65536 ids of its own within root's subordinate ids") {
  const auto allowed = root_subordinate_ids("lxd:100000:10000001\nroot:100000:10000001\n", "root:100000:10000001\n");
  REQUIRE(allowed);
  CHECK(allowed->start == 100000);
  CHECK_FALSE(root_subordinate_ids("lxd:100000:65536\n", "root:100000:65536\n"));  // no root line in subuid
  // Slot 0 stays LXD's; a taken range is never given again, whatever the pick.
  for (std::uint64_t pick = 0; pick < 300; ++pick) {
    const auto base = pick_id_base(*allowed, {165536, 231072}, pick);
    REQUIRE(base);
    CHECK(*base >= 165536);
    CHECK((*base - 100000) % 65536 == 0);
    CHECK(*base != 165536);
    CHECK(*base != 231072);
    CHECK(*base + 65536 <= 100000 + 10000001);
  }
  // A range taken at another alignment blocks both slots it overlaps.
  const IdRangeOnHost three{100000, 4 * 65536};  // slots 1..3 usable
  CHECK(pick_id_base(three, {165536 + 100}, 7) == std::optional<std::int64_t>(100000 + 3 * 65536));
  CHECK_FALSE(pick_id_base(three, {165536, 231072, 296608}, 0));
}

TEST_CASE("A session network: a bridge name that says its kind, a free /24, and addresses in it") {
  const std::string internal = network_name("breakfix-s1", NetworkKind::Internal);
  CHECK(internal.size() <= 15);  // an interface name
  CHECK(internal.rfind("bfi", 0) == 0);
  CHECK(network_name("breakfix-s1", NetworkKind::Outside).rfind("bfo", 0) == 0);
  CHECK(internal != network_name("breakfix-s2", NetworkKind::Internal));
  CHECK(is_session_bridge(internal));
  CHECK_FALSE(is_session_bridge("breakfix-s1"));
  CHECK_FALSE(is_session_bridge("bfxzzzzzzzzzzzz"));

  CHECK(pick_subnet({}, 0) == "10.200.0");
  CHECK(pick_subnet({"10.200.0"}, 0) == "10.200.1");
  CHECK(pick_subnet({}, 2047) == "10.207.255");
  std::set<std::string> all;
  for (int i = 0; i < 2048; ++i) all.insert("10." + std::to_string(200 + i / 256) + "." + std::to_string(i % 256));
  CHECK_FALSE(pick_subnet(all, 5).has_value());

  NetworkSpec spec;
  spec.name = "breakfix-s1";
  spec.labels = {{"breakfix.session", "s1"}};
  const json body = network_create_body(spec, "10.200.7");
  CHECK(body["name"] == internal);
  CHECK(body["config"]["ipv4.address"] == "none");  // the host is not on an internal network
  CHECK(body["config"]["ipv6.address"] == "none");
  CHECK(body["config"]["ipv4.dhcp"] == "false");
  CHECK(body["config"]["user.breakfix.session"] == "s1");
  spec.kind = NetworkKind::Outside;
  CHECK(network_create_body(spec, "10.200.7")["config"]["ipv4.address"] == "10.200.7.1/24");
  CHECK(network_create_body(spec, "10.200.7")["config"]["ipv4.nat"] == "true");

  NetworkHosts hosts;
  CHECK(next_address("10.200.7", hosts) == "10.200.7.2");
  hosts["a"] = {"10.200.7.2", {"app"}};
  hosts["b"] = {"10.200.7.4", {"db", "database"}};
  CHECK(next_address("10.200.7", hosts) == "10.200.7.3");
  CHECK(parse_hosts(dump_hosts(hosts)).at("b").names == std::vector<std::string>{"db", "database"});
  CHECK(parse_hosts("not json").empty());
  CHECK(parse_hosts(R"({"a": 3, "b": {"address": "10.200.7.9"}})").size() == 1);
  const std::string file = hosts_file("app", hosts);
  CHECK(file.find("10.200.7.4\tdb\tdatabase\n") != std::string::npos);
  CHECK(file.find("127.0.1.1") == std::string::npos);  // app has its own address
  CHECK(hosts_file("lonely", {}).find("127.0.1.1\tlonely\n") != std::string::npos);
  CHECK(resolv_conf({"127.0.0.1"}, "10.200.7.1") == "nameserver 127.0.0.1\n");
  CHECK(resolv_conf({}, "10.200.7.1") == "nameserver 10.200.7.1\n");
  const auto files = address_unit_files("10.200.7.3", "10.200.7.1");
  CHECK(files.at("/etc/systemd/system/lab-network.service").find("address replace 10.200.7.3/24 dev eth0") !=
        std::string::npos);

  const json instance = instance_create_body([] {
    ContainerSpec container;
    container.name = "breakfix-s1-app";
    container.network = "breakfix-s1";
    return container;
  }(), "f", "pool", {}, internal, "10.200.7.3");
  CHECK(instance["devices"]["eth0"]["network"] == internal);
  CHECK(instance["config"][kKeyAddress] == "10.200.7.3");
}

TEST_CASE("The firewall drops what a lab sends to the host or routes, and keeps a session's own traffic") {
  const std::string v4 = firewall_rules(false);
  // The order is the rule: within the bridge first, then the drops.
  const auto at = [&](const std::string& rule) { return v4.find(rule); };
  CHECK(at("-A BREAKFIX-INPUT -i bfi+ -j DROP") != std::string::npos);
  // DNS only to the gateway the lab's own bridge has, not to every address of the host.
  CHECK(at("-A BREAKFIX-INPUT -i bfo+ -p udp --dport 53 -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT") <
        at("-A BREAKFIX-INPUT -i bfo+ -j DROP"));
  CHECK(at("-i bfi+ -m physdev --physdev-is-bridged -j ACCEPT") < at("-A BREAKFIX-FORWARD -i bfi+ -j DROP"));
  CHECK(at("-A BREAKFIX-FORWARD -o bfi+ -j DROP") != std::string::npos);
  // No answer is let through from one outside lab into another's flows.
  CHECK(at("-A BREAKFIX-FORWARD -i bfo+ -o bfo+ -j DROP") < at("--ctstate RELATED,ESTABLISHED -j ACCEPT"));
  CHECK(at("-A BREAKFIX-FORWARD -i bfo+ -o docker0 -j DROP") < at("-A BREAKFIX-FORWARD -i bfo+ -j ACCEPT"));
  CHECK(at("COMMIT") == v4.size() - 7);
  const std::string v6 = firewall_rules(true);
  CHECK(v6.find("--physdev-is-bridged -j ACCEPT\n-A BREAKFIX-FORWARD -i bfi+ -j DROP") != std::string::npos);
  CHECK(v6.find("-i bfo+ -j ACCEPT") == std::string::npos);  // no IPv6 out
  NetworkSpec spec;
  spec.name = "s";
  spec.kind = NetworkKind::Outside;
  CHECK(network_create_body(spec, "10.200.1")["config"]["ipv4.firewall"] == "false");  // LXD's would come first
}

TEST_CASE("A build: for LXD is FROM LXD's base: only FROM lines naming the base change") {
  int replaced = -1;
  const std::string dockerfile =
      "# FROM breakfix/base:bookworm in a comment stays\n"
      "FROM breakfix/base:bookworm\n"
      "from --platform=linux/amd64 breakfix/base:bookworm AS build\n"
      "FROM debian:bookworm\n"
      "RUN echo FROM breakfix/base:bookworm\n";
  const std::string rebased = rebase_dockerfile(dockerfile, "breakfix/base:bookworm", "breakfix/base-lxd:abc", &replaced);
  CHECK(replaced == 2);
  CHECK(rebased ==
        "# FROM breakfix/base:bookworm in a comment stays\n"
        "FROM breakfix/base-lxd:abc\n"
        "from --platform=linux/amd64 breakfix/base-lxd:abc AS build\n"
        "FROM debian:bookworm\n"
        "RUN echo FROM breakfix/base:bookworm\n");
  rebase_dockerfile("FROM breakfix/base:bookworm-slim\n", "breakfix/base:bookworm", "x", &replaced);
  CHECK(replaced == 0);
}

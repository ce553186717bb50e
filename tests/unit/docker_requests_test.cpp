// What breakfix asks the engine for: isolation is in these request bodies, so the
// tests pin them down field by field.

#include <doctest/doctest.h>

#include <algorithm>

#include "breakfix/percent_encoding.h"
#include "docker_requests.h"

using namespace breakfix;
using namespace breakfix::docker;
using nlohmann::json;

namespace {

ContainerSpec lab_host() {
  ContainerSpec spec;
  spec.name = "breakfix-s1-web";
  spec.image = "breakfix/base:bookworm";
  spec.hostname = "web";
  spec.cpus = 0.5;
  spec.memory_bytes = 256LL << 20;
  spec.pids = 128;
  spec.labels = {{kLabelManaged, "true"}, {kLabelSession, "s1"}, {kLabelHost, "web"}};
  return spec;
}

}  // namespace

TEST_CASE("A lab host is created unprivileged, with trimmed capabilities, limits and labels") {
  const json body = container_create_body(lab_host());
  const json& host = body["HostConfig"];
  CHECK(body["Image"] == "breakfix/base:bookworm");
  CHECK(body["Hostname"] == "web");
  CHECK(body["Labels"][kLabelSession] == "s1");
  CHECK(body["Labels"][kLabelHost] == "web");
  CHECK(host["Privileged"] == false);
  CHECK(host["CapDrop"] == json::array({"ALL"}));
  const auto caps = host["CapAdd"].get<std::vector<std::string>>();
  for (const char* dangerous : {"SYS_PTRACE", "SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_MODULE", "MKNOD", "SYS_RAWIO", "DAC_READ_SEARCH"}) {
    CAPTURE(dangerous);
    CHECK(std::find(caps.begin(), caps.end(), dangerous) == caps.end());
  }
  CHECK(host["SecurityOpt"].empty());  // the default seccomp profile stays on
  CHECK(host["NanoCpus"] == 500'000'000);
  CHECK(host["Memory"] == 256LL << 20);
  CHECK(host["MemorySwap"] == 256LL << 20);
  CHECK(host["PidsLimit"] == 128);
  CHECK_FALSE(host.contains("Ulimits"));  // engine default unless set
  ContainerSpec limited = lab_host();
  limited.open_files = 4096;
  CHECK(container_create_body(limited)["HostConfig"]["Ulimits"] ==
        json::parse(R"([{"Name":"nofile","Soft":4096,"Hard":4096}])"));
  CHECK(host["Init"] == false);
  CHECK(body["Entrypoint"] == json::array({"/bin/sh", "-c", kInitScript}));
  CHECK(body["Cmd"] == json::array());
  CHECK_FALSE(host.contains("Mounts"));
  CHECK_FALSE(host.contains("Binds"));
  CHECK_FALSE(host.contains("PortBindings"));
}

TEST_CASE("A host without a network gets none, with one it joins it under its alias") {
  ContainerSpec spec = lab_host();
  CHECK(container_create_body(spec)["HostConfig"]["NetworkMode"] == "none");
  CHECK_FALSE(container_create_body(spec).contains("NetworkingConfig"));
  spec.network = "breakfix-s1";
  spec.aliases = {"web"};
  spec.dns = {"127.0.0.1"};
  const json body = container_create_body(spec);
  CHECK(body["HostConfig"]["Dns"] == json::array({"127.0.0.1"}));
  CHECK(body["HostConfig"]["NetworkMode"] == "breakfix-s1");
  CHECK(body["NetworkingConfig"]["EndpointsConfig"]["breakfix-s1"]["Aliases"] == json::array({"web"}));
}

TEST_CASE("Tmpfs mounts carry size, inode limit and mode") {
  ContainerSpec spec = lab_host();
  spec.tmpfs = {{"/var/spool/app", 8 << 20, 1000, 0755}, {"/data", 1 << 20, 0, 01777}};
  const json tmpfs = container_create_body(spec)["HostConfig"]["Tmpfs"];
  CHECK(tmpfs["/var/spool/app"] == "size=8388608,mode=755,nr_inodes=1000");
  CHECK(tmpfs["/data"] == "size=1048576,mode=1777");
}

TEST_CASE("A session network is a bridge of its own, internal unless asked otherwise") {
  json body = network_create_body({"breakfix-s1", NetworkKind::Internal, {{kLabelSession, "s1"}}});
  CHECK(body["Driver"] == "bridge");
  CHECK(body["Internal"] == true);
  CHECK(body["Options"]["com.docker.network.bridge.inhibit_ipv4"] == "true");  // the host has no address on it
  CHECK(body["Labels"][kLabelSession] == "s1");
  json outside = network_create_body({"breakfix-s2", NetworkKind::Outside, {}});
  CHECK(outside["Internal"] == false);
  CHECK_FALSE(outside["Options"].contains("com.docker.network.bridge.inhibit_ipv4"));
}

TEST_CASE("An exec carries the marker its timeout kill looks for") {
  ExecSpec spec;
  spec.container = "c1";
  spec.command = {"bash", "-e"};
  spec.env = {"PORT=9000"};
  spec.user = "dev";
  spec.workdir = "/srv";
  spec.tty = true;
  const json body = exec_create_body(spec, "abc123");
  CHECK(body["Cmd"] == json::array({"bash", "-e"}));
  CHECK(body["Env"] == json::array({"PORT=9000", "BREAKFIX_EXEC=abc123"}));
  CHECK(body["User"] == "dev");
  CHECK(body["WorkingDir"] == "/srv");
  CHECK(body["Tty"] == true);
  CHECK(body["AttachStdin"] == true);
  CHECK(body["Privileged"] == false);
  CHECK(std::string(breakfix::exec_kill_script()).find("BREAKFIX_EXEC=$1") != std::string::npos);
}

TEST_CASE("Label filters are percent-encoded JSON") {
  CHECK(label_filter_query({{"breakfix.session", "s1"}}) ==
        "filters=%7B%22label%22%3A%5B%22breakfix.session%3Ds1%22%5D%7D");
  CHECK(percent_encode("a b/c:d") == "a%20b%2Fc%3Ad");
  CHECK(percent_decode("a%20b%2Fc%3Ad+e%zz") == "a b/c:d e%zz");
}

TEST_CASE("Container answers are parsed from list and inspect forms") {
  const json summary = json::parse(R"({"Id":"abc","Names":["/breakfix-s1-web"],"Image":"img","State":"running",
    "Labels":{"breakfix.session":"s1"},"NetworkSettings":{"Networks":{"breakfix-s1":{"IPAddress":"172.30.0.2"}}}})");
  ContainerInfo info = parse_container_summary(summary);
  CHECK(info.id == "abc");
  CHECK(info.name == "breakfix-s1-web");
  CHECK(info.state == ContainerState::Running);
  CHECK(info.labels.at("breakfix.session") == "s1");
  CHECK(info.addresses.at("breakfix-s1") == "172.30.0.2");

  const json inspect = json::parse(R"({"Id":"abc","Name":"/n","Config":{"Image":"img","Labels":null},
    "State":{"Status":"paused"},"NetworkSettings":{"Networks":{"none":{"IPAddress":""}}}})");
  info = parse_container_inspect(inspect);
  CHECK(info.state == ContainerState::Paused);
  CHECK(info.name == "n");
  CHECK(info.labels.empty());
  CHECK(info.addresses.empty());
}

TEST_CASE("A host gets the capabilities its scenario grants on top of the lab set, once") {
  ContainerSpec spec = lab_host();
  spec.capabilities = {"SYS_PTRACE", "CHOWN"};
  const auto caps = container_create_body(spec)["HostConfig"]["CapAdd"].get<std::vector<std::string>>();
  CHECK(std::count(caps.begin(), caps.end(), "SYS_PTRACE") == 1);
  CHECK(std::count(caps.begin(), caps.end(), "CHOWN") == 1);
}

TEST_CASE("a host's init and the toolbox volume: its own argv, a read-only named volume") {
  ContainerSpec spec;
  spec.name = "breakfix-s1-web";
  spec.image = "breakfix/base:bookworm";
  spec.command = {"/.breakfix/bin/busybox", "sh", "-c", kInitScript};
  spec.volumes.push_back({"breakfix-toolbox-0123456789ab", "/.breakfix", true, {{"breakfix.managed", "true"}}});
  const json body = container_create_body(spec);
  CHECK(body["Entrypoint"] == json::array({"/.breakfix/bin/busybox", "sh", "-c", kInitScript}));
  const json& mount = body["HostConfig"]["Mounts"][0];
  CHECK(mount["Type"] == "volume");
  CHECK(mount["Source"] == "breakfix-toolbox-0123456789ab");
  CHECK(mount["Target"] == "/.breakfix");
  CHECK(mount["ReadOnly"] == true);
  CHECK(mount["VolumeOptions"]["Labels"]["breakfix.managed"] == "true");
}

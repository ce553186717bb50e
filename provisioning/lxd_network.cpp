#include "lxd_network.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <boost/process.hpp>
#include <cctype>
#include <sstream>

#include "tar_archive.h"

namespace breakfix::lxd {
namespace {

using nlohmann::json;
namespace bp = boost::process;

constexpr int kSubnetCount = 2048;  // 10.200.0.0/13 in /24s

std::string subnet_at(int index) {
  return "10." + std::to_string(200 + index / 256) + "." + std::to_string(index % 256);
}

// The last octet of `address` when it lies in `subnet`, else -1.
int host_part(const std::string& subnet, const std::string& address) {
  if (address.rfind(subnet + ".", 0) != 0) return -1;
  const std::string last = address.substr(subnet.size() + 1);
  if (last.empty() || last.size() > 3 || !std::all_of(last.begin(), last.end(), ::isdigit)) return -1;
  return std::stoi(last);
}

}  // namespace

Ran run_here(const std::vector<std::string>& argv, const std::string& input) {
  Ran ran;
  const auto program = bp::search_path(argv.front());
  if (program.empty()) {
    ran.output = argv.front() + " is not installed (apt-get install iptables)";
    return ran;
  }
  bp::opstream in;
  bp::ipstream out;
  std::error_code ec;
  bp::child child(program, std::vector<std::string>(argv.begin() + 1, argv.end()), bp::std_in < in,
                  (bp::std_out & bp::std_err) > out, ec);
  if (ec) {
    ran.output = "cannot start " + argv.front() + ": " + ec.message();
    return ran;
  }
  in << input;
  in.flush();
  in.pipe().close();
  for (std::string line; std::getline(out, line);) ran.output += line + "\n";
  child.wait();
  ran.code = child.exit_code();
  return ran;
}

namespace {

// Makes `chain`'s first rule the jump to `target`, and its only jump there: another rule
// set (Docker's, an admin's) that inserted itself first since would otherwise decide
// before breakfix's. Inserted before the old one is deleted: never a moment without it.
Status jump_first(const CommandRunner& run, const std::string& tool, const std::string& chain,
                  const std::string& target) {
  Ran listed = run({tool, "--wait", "-S", chain}, "");
  if (listed.code != 0) return make_error(ErrorCode::Failed, "cannot list " + tool + " " + chain + ": " + listed.output);
  const std::string jump = "-A " + chain + " -j " + target;
  std::vector<int> at;  // rule numbers (1-based) of the jumps
  int number = 0;
  std::istringstream lines(listed.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("-A ", 0) != 0) continue;
    ++number;
    if (line == jump) at.push_back(number);
  }
  if (at.size() == 1 && at.front() == 1) return {};
  Ran inserted = run({tool, "--wait", "-I", chain, "1", "-j", target}, "");
  if (inserted.code != 0) {
    return make_error(ErrorCode::Failed, "cannot put breakfix's firewall first in " + tool + " " + chain + ": " +
                                             inserted.output);
  }
  for (auto it = at.rbegin(); it != at.rend(); ++it) {
    (void)run({tool, "--wait", "-D", chain, std::to_string(*it + 1)}, "");  // one down since the insert
  }
  return {};
}

}  // namespace

std::string network_name(const std::string& name, NetworkKind kind) {
  return std::string(kind == NetworkKind::Internal ? "bfi" : "bfo") + archive::sha256_hex(name).substr(0, 11);
}

bool is_session_bridge(const std::string& name) {
  return name.size() == 14 && (name.rfind("bfi", 0) == 0 || name.rfind("bfo", 0) == 0) &&
         std::all_of(name.begin() + 3, name.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::optional<std::string> pick_subnet(const std::set<std::string>& used, std::uint64_t pick) {
  std::vector<int> free;
  for (int i = 0; i < kSubnetCount; ++i) {
    if (!used.count(subnet_at(i))) free.push_back(i);
  }
  if (free.empty()) return std::nullopt;
  return subnet_at(free[pick % free.size()]);
}

std::set<std::string> host_subnets() {
  std::set<std::string> subnets;
  ifaddrs* addresses = nullptr;
  if (::getifaddrs(&addresses) != 0) return subnets;
  for (ifaddrs* entry = addresses; entry; entry = entry->ifa_next) {
    if (!entry->ifa_addr || entry->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(entry->ifa_addr)->sin_addr, text, sizeof text);
    const std::string address = text;
    subnets.insert(address.substr(0, address.rfind('.')));
  }
  ::freeifaddrs(addresses);
  return subnets;
}

json network_create_body(const NetworkSpec& spec, const std::string& subnet) {
  const bool outside = spec.kind == NetworkKind::Outside;
  json config = {
      // Internal: no address on the host, so the host is not on the session's network
      // (as Docker's inhibit_ipv4). Outside: the gateway, with LXD's NAT out.
      {"ipv4.address", outside ? subnet + ".1/24" : "none"},
      {"ipv4.nat", outside ? "true" : "false"},
      // Addresses are static (address_unit_files): no DHCP server on the host to reach.
      {"ipv4.dhcp", "false"},
      // No IPv6: LXD then disables it on the bridge, so not even a link-local address
      // of the host is on the session's network.
      {"ipv6.address", "none"},
      // No rules of LXD's own: with the xtables driver it puts ACCEPTs for the bridge
      // first in FORWARD, above breakfix's, which then decide nothing.
      {"ipv4.firewall", "false"},
      {"ipv6.firewall", "false"},
      {kKeyNetwork, spec.name},
      {kKeySubnet, subnet},
      {kKeyHosts, "{}"},
  };
  for (const auto& [key, value] : spec.labels) config[kLabelPrefix + key] = value;
  return {{"name", network_name(spec.name, spec.kind)},
          {"type", "bridge"},
          {"description", "breakfix session network " + spec.name},
          {"config", config}};
}

NetworkHosts parse_hosts(const std::string& json_text) {
  NetworkHosts hosts;
  const json parsed = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return hosts;
  for (const auto& [instance, entry] : parsed.items()) {
    if (!entry.is_object() || !entry.contains("address") || !entry["address"].is_string()) continue;
    NetworkHost host;
    host.address = entry["address"].get<std::string>();
    if (entry.contains("names") && entry["names"].is_array()) {
      for (const json& name : entry["names"]) {
        if (name.is_string()) host.names.push_back(name.get<std::string>());
      }
    }
    hosts[instance] = std::move(host);
  }
  return hosts;
}

std::string dump_hosts(const NetworkHosts& hosts) {
  json out = json::object();
  for (const auto& [instance, host] : hosts) out[instance] = {{"address", host.address}, {"names", host.names}};
  return out.dump();
}

std::optional<std::string> next_address(const std::string& subnet, const NetworkHosts& hosts) {
  std::set<int> taken;
  for (const auto& [instance, host] : hosts) taken.insert(host_part(subnet, host.address));
  for (int last = 2; last <= 254; ++last) {
    if (!taken.count(last)) return subnet + "." + std::to_string(last);
  }
  return std::nullopt;
}

std::string hosts_file(const std::string& hostname, const NetworkHosts& hosts) {
  std::string out = "127.0.0.1\tlocalhost\n";
  bool named = false;
  for (const auto& [instance, host] : hosts) {
    if (host.names.empty()) continue;
    out += host.address;
    for (const std::string& name : host.names) {
      out += "\t" + name;
      named = named || name == hostname;
    }
    out += "\n";
  }
  // Its own name resolves even with no network, as Debian's installer writes it.
  if (!named) out += "127.0.1.1\t" + hostname + "\n";
  out += "::1\tlocalhost ip6-localhost ip6-loopback\n";
  return out;
}

std::string resolv_conf(const std::vector<std::string>& dns, const std::string& gateway) {
  std::string out;
  for (const std::string& server : dns.empty() ? std::vector<std::string>{gateway} : dns) {
    out += "nameserver " + server + "\n";
  }
  return out;
}

std::map<std::string, std::string> address_unit_files(const std::string& address, const std::string& gateway) {
  // A oneshot unit rather than systemd-networkd, which waits for udev (not in the base
  // image) before it configures a link. Wanted by multi-user.target through a drop-in,
  // as LXD's file API cannot make the usual symlink.
  const std::string unit =
      "# The host's address on its lab network, written by breakfix before the first boot.\n"
      "[Unit]\n"
      "Description=Lab network address\n"
      "DefaultDependencies=no\n"
      "Before=network.target\n"
      "Wants=network.target\n"
      "\n"
      "[Service]\n"
      "Type=oneshot\n"
      "RemainAfterExit=yes\n"
      "ExecStart=/sbin/ip link set eth0 up\n"
      "ExecStart=/sbin/ip address replace " + address + "/24 dev eth0\n"
      "ExecStart=/sbin/ip route replace default via " + gateway + " dev eth0\n";
  return {{"/etc/systemd/system/lab-network.service", unit},
          {"/etc/systemd/system/multi-user.target.d/lab-network.conf", "[Unit]\nWants=lab-network.service\n"}};
}

std::string firewall_rules(bool ipv6) {
  std::ostringstream out;
  out << "*filter\n"
      // A chain declared here is emptied first (also with --noflush): loading again
      // replaces the rules, in one commit.
      << ":" << kInputChain << " - [0:0]\n"
      << ":" << kForwardChain << " - [0:0]\n";
  const std::string in = std::string("-A ") + kInputChain + " ";
  const std::string forward = std::string("-A ") + kForwardChain + " ";
  // The host itself: a lab reaches none of its addresses, whatever route or address it
  // gives itself. But an outside lab's names, from LXD's resolver on its own gateway.
  if (!ipv6) {
    for (const char* protocol : {"udp", "tcp"}) {
      out << in << "-i bfo+ -p " << protocol
          << " --dport 53 -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT\n";
    }
  }
  for (const char* bridges : {"bfi+", "bfo+"}) out << in << "-i " << bridges << " -j DROP\n";
  // Within a session's bridge: its hosts talk to each other (with br_netfilter, bridged
  // frames pass FORWARD, whose policy Docker sets to DROP).
  for (const char* bridges : {"bfi+", "bfo+"}) {
    out << forward << "-i " << bridges << " -m physdev --physdev-is-bridged -j ACCEPT\n";
  }
  // Routed: nothing out of an internal lab or into one; nothing from one outside lab to
  // another, answers included (so none is forged into another's flows).
  out << forward << "-i bfi+ -j DROP\n" << forward << "-o bfi+ -j DROP\n";
  out << forward << "-i bfo+ -o bfo+ -j DROP\n";
  // Into an outside lab: only answers to what it started.
  if (!ipv6) out << forward << "-o bfo+ -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
  out << forward << "-o bfo+ -j DROP\n";
  // Out of an outside lab: the world, but not the host's other bridges (Docker's, LXD's,
  // libvirt's), as Docker isolates its own networks from each other.
  if (!ipv6) {
    for (const char* bridge : {"docker0", "br-+", "lxdbr+", "virbr+"}) {
      out << forward << "-i bfo+ -o " << bridge << " -j DROP\n";
    }
    out << forward << "-i bfo+ -j ACCEPT\n";
  }
  out << forward << "-i bfo+ -j DROP\n";
  out << "COMMIT\n";
  return out.str();
}

Status ensure_firewall(const CommandRunner& run) {
  for (const bool ipv6 : {false, true}) {
    const std::string tool = ipv6 ? "ip6tables" : "iptables";
    Ran loaded = run({tool + "-restore", "--noflush", "--wait"}, firewall_rules(ipv6));
    if (loaded.code != 0) {
      return make_error(ErrorCode::Failed, "cannot load breakfix's firewall for LXD session networks (" + tool +
                                               "-restore, which needs root): " + loaded.output);
    }
    for (const auto& [chain, target] : {std::pair{"INPUT", kInputChain}, std::pair{"FORWARD", kForwardChain}}) {
      if (Status first = jump_first(run, tool, chain, target); !first) return first;
    }
  }
  return {};
}

}  // namespace breakfix::lxd

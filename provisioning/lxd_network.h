#pragma once

// A session's network on LXD (docs/runtime.md, "LXD session networks"), with the same
// guarantees as on Docker: the session's hosts reach each other and nothing else, and
// an internal network has no route out. Root in a system container may change its own
// addresses and routes (it has CAP_NET_ADMIN in its namespace), so nothing here relies
// on the lab's own configuration: the host's firewall decides.
//
// - Each network is an LXD bridge without DHCP or DNS. An internal one has no address on
//   the host; an outside one has the gateway's, with LXD's NAT.
// - Each host gets a static address, set by a unit the backend writes before the first
//   boot (the base image has no udev, so systemd-networkd would wait for it forever), and
//   an /etc/hosts that names every host of the session.
// - The firewall: two chains of breakfix's own, jumped to first from INPUT and FORWARD,
//   match every session bridge by its name's prefix ("bfi" internal, "bfo" outside), so
//   one fixed rule set covers every network, also one left behind by a crash.
//
// Pure functions but ensure_firewall, so that unit tests pin down what is asked for.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "breakfix/error.h"
#include "breakfix/runtime.h"
#include "lxd_requests.h"

namespace breakfix::lxd {

// Config keys of a network (and of an instance on one).
inline constexpr const char* kKeySubnet = "user.breakfix-lxd.subnet";    // "10.200.7": the /24's first three octets
inline constexpr const char* kKeyHosts = "user.breakfix-lxd.hosts";      // JSON: instance -> {address, names}
inline constexpr const char* kKeyAddress = "user.breakfix-lxd.address";  // an instance's own address

// A bridge's name (an interface name: at most 15 characters) from the NetworkSpec's name:
// "bfi" or "bfo" by kind, then a digest of the name.
std::string network_name(const std::string& name, NetworkKind kind);
// Whether `name` is a session bridge's ("bfi"/"bfo" and 11 hex digits).
bool is_session_bridge(const std::string& name);

// A /24 for a new network, as its first three octets ("10.200.7"), from 10.200.0.0/13:
// none of `used` (other session networks', and the host's own addresses' /24s), the free
// one `pick` lands on. Nullopt when all 2048 are taken.
std::optional<std::string> pick_subnet(const std::set<std::string>& used, std::uint64_t pick);
// The /24s (first three octets) of the host's own IPv4 addresses.
std::set<std::string> host_subnets();

// POST /1.0/networks for `spec` on `subnet`.
nlohmann::json network_create_body(const NetworkSpec& spec, const std::string& subnet);

// A host on a session network, as the network's config keeps it.
struct NetworkHost {
  std::string address;
  std::vector<std::string> names;
};
using NetworkHosts = std::map<std::string, NetworkHost>;  // by instance name
NetworkHosts parse_hosts(const std::string& json_text);   // {} for anything malformed
std::string dump_hosts(const NetworkHosts& hosts);
// The next free address in `subnet` (.2 and up; .1 is the gateway), nullopt when full.
std::optional<std::string> next_address(const std::string& subnet, const NetworkHosts& hosts);

// /etc/hosts for `hostname`, naming every host of its session.
std::string hosts_file(const std::string& hostname, const NetworkHosts& hosts);
// /etc/resolv.conf: `dns` if given, else the gateway (an outside network's LXD resolver).
std::string resolv_conf(const std::vector<std::string>& dns, const std::string& gateway);

// The files that give a host its address at every boot, path -> content.
std::map<std::string, std::string> address_unit_files(const std::string& address, const std::string& gateway);

// iptables-restore input (for `ipv6`, ip6tables-restore's) that (re)defines breakfix's
// two chains; ensure_firewall loads it and puts the jumps first.
std::string firewall_rules(bool ipv6);
inline constexpr const char* kInputChain = "BREAKFIX-INPUT";
inline constexpr const char* kForwardChain = "BREAKFIX-FORWARD";

// A command's exit status (-1: it did not run) and its output, stdout and stderr.
struct Ran {
  int code = -1;
  std::string output;
};
// Runs a command (argv[0] found on the PATH) with `input` on its stdin.
using CommandRunner = std::function<Ran(const std::vector<std::string>& argv, const std::string& input)>;
// On this machine.
Ran run_here(const std::vector<std::string>& argv, const std::string& input);

// Loads the rules and makes INPUT and FORWARD jump to them first, for IPv4 and IPv6,
// with `run`'s iptables: this machine's, or a cluster member's (lxd_hosts.h). Idempotent
// and atomic per table (iptables-restore --noflush). Failed, naming the command and its
// output, when it cannot: no session network is made without it.
Status ensure_firewall(const CommandRunner& run = run_here);

}  // namespace breakfix::lxd

#pragma once
// Hosts on one machine, for deployments and tests across hosts without the machines: each host
// is a network namespace with its own address, joined to a hub host; the hub routes between
// them.  A host's link is a veth pair, which may be shaped (tc tbf: its rate) and made lossy
// (iptables' statistic match on the hub: random drops of what it forwards from that host); or,
// given a round trip, the emulated WAN's TUN forwarder (wan.h, forwarder.h): each packet
// crosses after half the round trip each way, at the rate, with the loss (from the host), so
// TCP between that host and any other meets a real long pipe.  Root only (ip netns, tc,
// iptables, /dev/net/tun); `unavailable()` says why not.
//
//   host_network net({.name = "demo", .hub = "core",
//                     .hosts = {{"prfaas", {.gbps = 2, .loss = 0.001}}, {"local", {}}}});
//   net.address("prfaas")      // 10.SUBNET.1.2: where that host's nodes listen
//   net.address("core")        // 10.SUBNET.0.1
//   // processes: ip netns exec NAME-prfaas prfaas up --host prfaas ...   (net.ns("prfaas"))
//
// The destructor deletes the namespaces (and with them the veths, qdiscs and rules); leftovers
// of a killed run under the same name are removed first.  docs/multi-host.md shows a session.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/netem/forwarder.h"

namespace prfaas::netem {

struct link_shape {
  double gbps = 0;    // the host's egress towards the hub (0: the veth's own speed)
  double loss = 0;    // share of the packets from this host the hub drops, 0..0.5
  double rtt_ms = 0;  // > 0: an emulated WAN link with this round trip instead of a veth
};

struct host_network_options {
  std::string name = "prfaas-hosts";  // namespaces NAME-HOST
  int subnet = 79;                    // hub 10.SUBNET.0.1; host i (from 1): 10.SUBNET.i.2
  std::string hub = "core";
  std::vector<std::pair<std::string, link_shape>> hosts;  // joined to the hub, at most 200
};

class host_network {
 public:
  explicit host_network(host_network_options options);  // throws failure naming the step that failed
  ~host_network();
  host_network(const host_network&) = delete;
  host_network& operator=(const host_network&) = delete;

  std::string ns(const std::string& host) const;       // its namespace (ip netns)
  std::string address(const std::string& host) const;  // throws failure(invalid_argument) for a stranger
  std::vector<std::string> hosts() const;              // the hub first

  // Empty when this process can make one; else why not.
  static std::string unavailable();

 private:
  void teardown();
  void join_by_veth(size_t i);  // host i (from 0) to the hub
  void join_by_wan(size_t i);
  host_network_options options_;
  std::vector<std::pair<std::string, std::string>> addresses_;  // host -> address
  std::vector<std::unique_ptr<forwarder>> forwarders_;          // the emulated WAN links
  std::vector<int> tun_fds_;
};

}  // namespace prfaas::netem

#include "runtime/netem/hosts.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <tuple>

#include "runtime/common/errc.h"
#include "runtime/netem/wan.h"

namespace prfaas::netem {
namespace {

void sh_host(const std::string& cmd) { run_setup(cmd, "host network"); }

bool have(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

}  // namespace

std::string host_network::unavailable() {
  if (::geteuid() != 0) return "needs root (network namespaces, tc, iptables)";
  if (std::system("ip netns list >/dev/null 2>&1") != 0) return "no 'ip netns' (iproute2)";
  if (!have("tc")) return "no tc (iproute2)";
  if (!have("iptables")) return "no iptables";
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) return "no /dev/net/tun";
  return {};
}

host_network::host_network(host_network_options options) : options_(std::move(options)) {
  PRFAAS_REQUIRE(!options_.hosts.empty() && options_.hosts.size() <= 200, "a host network joins 1..200 hosts to its hub");
  PRFAAS_REQUIRE(options_.subnet >= 1 && options_.subnet <= 254, "the subnet is 10.SUBNET.0.0/16, SUBNET in 1..254");
  const std::string net = "10." + std::to_string(options_.subnet) + ".";
  addresses_.push_back({options_.hub, net + "0.1"});
  for (size_t i = 0; i < options_.hosts.size(); ++i)
    addresses_.push_back({options_.hosts[i].first, net + std::to_string(i + 1) + ".2"});
  try {
    for (const auto& [host, address] : addresses_) {
      std::system(("ip netns del " + ns(host) + " >/dev/null 2>&1").c_str());  // a leftover of a killed run
      sh_host("ip netns add " + ns(host));
      sh_host("ip -n " + ns(host) + " link set lo up");
    }
    const std::string hub = ns(options_.hub);
    sh_host("ip -n " + hub + " addr add " + addresses_.front().second + "/32 dev lo");
    sh_host("ip netns exec " + hub + " sysctl -qw net.ipv4.ip_forward=1");
    for (size_t i = 0; i < options_.hosts.size(); ++i) {
      const auto& shape = options_.hosts[i].second;
      PRFAAS_REQUIRE(shape.loss >= 0 && shape.loss <= 0.5, "a link's loss is 0..0.5");
      if (shape.rtt_ms > 0) join_by_wan(i);
      else join_by_veth(i);
    }
  } catch (...) {
    teardown();
    throw;
  }
}

void host_network::join_by_veth(size_t i) {
  const auto& [host, shape] = options_.hosts[i];
  const std::string hub = ns(options_.hub);
  const std::string side = "h" + std::to_string(i + 1), hub_side = "hub" + std::to_string(i + 1);
  const std::string prefix = "10." + std::to_string(options_.subnet) + "." + std::to_string(i + 1) + ".";
  sh_host("ip link add " + side + " netns " + ns(host) + " type veth peer name " + hub_side + " netns " + hub);
  sh_host("ip -n " + ns(host) + " addr add " + prefix + "2/24 dev " + side);
  sh_host("ip -n " + hub + " addr add " + prefix + "1/24 dev " + hub_side);
  sh_host("ip -n " + ns(host) + " link set " + side + " up");
  sh_host("ip -n " + hub + " link set " + hub_side + " up");
  sh_host("ip -n " + ns(host) + " route add default via " + prefix + "1");
  if (shape.gbps > 0) {
    // A token bucket on the host's egress: its rate, a burst of a few milliseconds of it.
    const double bytes_per_s = shape.gbps * 1e9 / 8;
    const long burst = std::max(64L << 10, static_cast<long>(bytes_per_s * 0.002));
    std::ostringstream rate;
    rate << shape.gbps * 1000 << "mbit";
    sh_host("ip netns exec " + ns(host) + " tc qdisc add dev " + side + " root tbf rate " + rate.str() + " burst " +
       std::to_string(burst) + " latency 50ms");
  }
  if (shape.loss > 0) {
    char p[32];
    std::snprintf(p, sizeof p, "%.6f", shape.loss);
    sh_host("ip netns exec " + hub + " iptables -A FORWARD -i " + hub_side + " -m statistic --mode random --probability " + p +
       " -j DROP");
  }
}

void host_network::join_by_wan(size_t i) {
  const auto& [host, shape] = options_.hosts[i];
  const std::string hub = ns(options_.hub);
  const std::string side = "t" + std::to_string(i + 1), hub_side = "thub" + std::to_string(i + 1);
  const std::string prefix = "10." + std::to_string(options_.subnet) + "." + std::to_string(i + 1) + ".";
  const int fd_host = open_tun_in(ns(host), side);
  tun_fds_.push_back(fd_host);
  const int fd_hub = open_tun_in(hub, hub_side);
  tun_fds_.push_back(fd_hub);
  for (const auto& [n, dev, mine, peer] : {std::tuple{ns(host), side, prefix + "2", prefix + "1"},
                                           std::tuple{hub, hub_side, prefix + "1", prefix + "2"}}) {
    sh_host("ip -n " + n + " addr add " + mine + " peer " + peer + "/32 dev " + dev);
    // A long device queue: the model's queue is the one that drops, not the kernel's.
    sh_host("ip -n " + n + " link set " + dev + " mtu 9000 txqueuelen 10000 up");
  }
  sh_host("ip -n " + ns(host) + " route add default dev " + side);
  link_params out{.one_way_ms = shape.rtt_ms / 2, .gbps = shape.gbps, .loss = shape.loss};
  link_params back{.one_way_ms = shape.rtt_ms / 2, .gbps = shape.gbps};
  forwarders_.push_back(std::make_unique<forwarder>(fd_host, fd_hub, out, back, 1 + i, 9000 + 64));
}

host_network::~host_network() { teardown(); }

void host_network::teardown() {
  forwarders_.clear();  // stops their threads before the devices go
  for (int fd : tun_fds_) ::close(fd);
  tun_fds_.clear();
  for (const auto& [host, address] : addresses_) std::system(("ip netns del " + ns(host) + " >/dev/null 2>&1").c_str());
}

std::string host_network::ns(const std::string& host) const { return options_.name + "-" + host; }

std::string host_network::address(const std::string& host) const {
  for (const auto& [h, a] : addresses_)
    if (h == host) return a;
  throw failure(errc::invalid_argument, "no host '" + host + "' in host network " + options_.name);
}

std::vector<std::string> host_network::hosts() const {
  std::vector<std::string> out;
  for (const auto& [h, a] : addresses_) out.push_back(h);
  return out;
}

}  // namespace prfaas::netem

#pragma once
// `prfaas netem up`: an emulated WAN (runtime/netem/wan.h) between two network namespaces,
// kept until SIGINT or SIGTERM, for a user's own experiments:
//
//   sudo ./prfaas netem up --rtt-ms 40 --gbps 2 --loss 0.001 &
//   sudo ip netns exec prfaas-wan-b iperf3 -s &
//   sudo ip netns exec prfaas-wan-a iperf3 -c 10.77.0.2

#include <string>

namespace prfaas::apps {

struct netem_options {
  std::string name = "prfaas-wan";
  int subnet = 77;
  double rtt_ms = 20;
  double gbps = 1;
  double loss = 0;       // each direction
  double reorder = 0;
  int mtu = 9000;
  int queue_kib = 0;     // 0: 50 ms at the rate
};

int netem_up(const netem_options& options);

}  // namespace prfaas::apps

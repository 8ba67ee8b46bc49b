#pragma once
// `prfaas bench wan`: the KV transport across an emulated WAN (runtime/netem, root only), beside
// iperf3 (Debian's) over the same link with as many parallel streams as the transport has
// connections, in the same run.  Both are measured the same way: bytes the receiving side got,
// over `seconds` after the first second (slow start left out, iperf3 -O 1).  Prints achieved
// rates against the shaped one and TCP_INFO's retransmits; --json one object per cell:
// {"rtt_ms", "shaped_gbps", "loss", "transport_gbps", "iperf3_gbps", ...}.  --table runs RTT 0, 20,
// 40 ms by loss 0, 0.1, 1 %.

#include <string>

namespace prfaas::apps {

struct bench_wan_options {
  double rtt_ms = 20;
  double gbps = 2;
  double loss = 0.001;
  int seconds = 4;        // measured, after one second of warm-up
  int mtu = 9000;
  int reps = 1;           // runs of each tool per cell, alternated; medians reported
  bool table = false;
  bool json = false;
};

int bench_wan(const bench_wan_options& options);

}  // namespace prfaas::apps

#include "apps/netem_command.h"

#include <csignal>
#include <cstdio>
#include <memory>
#include <unistd.h>

#include "apps/cli_support.h"
#include "runtime/common/errc.h"
#include "runtime/netem/wan.h"

namespace prfaas::apps {

int netem_up(const netem_options& o) {
  sigset_t signals;
  block_signals(signals);
  netem::link_params p;
  p.one_way_ms = o.rtt_ms / 2;
  p.gbps = o.gbps;
  p.loss = o.loss;
  p.reorder = o.reorder;
  p.queue_bytes = static_cast<size_t>(o.queue_kib) << 10;
  std::unique_ptr<netem::emulated_wan> wan;
  try {
    wan = std::make_unique<netem::emulated_wan>(netem::wan_options{o.name, o.subnet, p, p, o.mtu, 1});
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
  const auto& e = wan->ends();
  std::printf("emulated WAN up: %s (%s) <-> %s (%s), RTT %.1f ms, %.3f Gbps, loss %.4f, reorder %.4f, MTU %d, queue %zu KiB\n",
              e.ns_a.c_str(), e.addr_a.c_str(), e.ns_b.c_str(), e.addr_b.c_str(), o.rtt_ms, o.gbps, o.loss, o.reorder,
              o.mtu, netem::link_model(p, 0).queue_limit() / 1024);
  std::printf("  run a command on one end:  ip netns exec %s COMMAND   (reaches %s)\n", e.ns_a.c_str(), e.addr_b.c_str());
  std::printf("  stop: Ctrl-C or kill -TERM %d (the namespaces go with it)\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  for (int d = 0; d < 2; ++d) {
    const auto c = wan->links().counters(d);
    std::printf("%s: %llu packets, %llu bytes forwarded; %llu lost, %llu queue drops, %llu reordered\n",
                d == 0 ? "a -> b" : "b -> a", static_cast<unsigned long long>(c.packets),
                static_cast<unsigned long long>(c.bytes), static_cast<unsigned long long>(c.lost),
                static_cast<unsigned long long>(c.queue_drops), static_cast<unsigned long long>(c.reordered));
  }
  return 0;
}

}  // namespace prfaas::apps

#include "apps/bench_wan.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "apps/cli_support.h"
#include "runtime/common/errc.h"
#include "runtime/config/deployment_config.h"
#include "runtime/netem/wan.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/kv_sender.h"

namespace prfaas::apps {
namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
using namespace prfaas::transport;

const char* const kSecret = "bench wan secret";

// Runs `cmd` through the shell; its standard output.
std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

// One layer of `count` payloads of `bytes` that cycle over 64 MiB of buffers, as iperf3 sends
// one buffer again and again: the benchmark measures the link, not the memory behind it.
class cycling_transfer final : public transfer_view {
 public:
  cycling_transfer(std::byte* base, size_t distinct, int count, size_t bytes)
      : base_(base), distinct_(distinct), count_(count), bytes_(bytes) {}
  int layers() const override { return 1; }
  int payload_count(int) const override { return count_; }
  payload_kind kind(int) const override { return payload_kind::block; }
  std::span<std::byte> payload(int, int index) override {
    return {base_ + (static_cast<size_t>(index) % distinct_) * bytes_, bytes_};
  }
  uint32_t token_count() const override { return static_cast<uint32_t>(count_); }

 private:
  std::byte* base_;
  size_t distinct_;
  int count_;
  size_t bytes_;
};

struct measured {
  double gbps = 0;
  uint64_t retransmits = 0;
  std::string error;
};

// The KV transport with the default deployment's link settings: one request far larger than
// the measured window, its payloads striped over the connections; the receiver's landed bytes
// sampled at 1 s and at 1 + seconds.
measured transport_run(const netem::emulated_wan& wan, const bench_wan_options& o) {
  const config::deployment_config defaults;
  const auto& e = wan.ends();
  const size_t block = 256 << 10;
  const double window_bytes = o.gbps > 0 ? o.gbps * 1e9 / 8 * (o.seconds + 2) : 4e9;
  const int blocks = static_cast<int>(std::min(window_bytes, 2e10) / block);
  const size_t distinct = (size_t{64} << 20) / block;
  std::vector<uint64_t> src(distinct * block / 8, 1), dst(src.size());
  cycling_transfer source(reinterpret_cast<std::byte*>(src.data()), distinct, blocks, block),
      target(reinterpret_cast<std::byte*>(dst.data()), distinct, blocks, block);
  std::unique_ptr<kv_receiver> rx;
  netem::run_in_namespace(e.ns_b, [&] {
    rx = std::make_unique<kv_receiver>(endpoint{e.addr_b, 0}, [](const kv_receiver::event&) {},
                                       receiver_options{kSecret});
  });
  link_options lo;
  lo.name = "bench-wan";
  lo.secret = kSecret;
  lo.connections = defaults.transport.connections;
  lo.max_inflight_bytes = static_cast<size_t>(defaults.transport.max_inflight_mib) << 20;
  lo.receive_timeout = std::chrono::seconds(30);
  std::unique_ptr<kv_sender> tx;
  netem::run_in_namespace(e.ns_a, [&] { tx = std::make_unique<kv_sender>(endpoint{e.addr_b, rx->port()}, lo); });
  rx->expect(1, target);
  measured m;
  std::thread poster([&] {
    try {
      tx->send_layer(1, source, 0);  // waits for window room: the link's own backpressure
    } catch (const failure& f) {
      m.error = f.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const uint64_t start = rx->stats().payload_bytes;
  const auto t0 = clock_type::now();
  std::this_thread::sleep_for(std::chrono::seconds(o.seconds));
  const uint64_t end = rx->stats().payload_bytes;
  m.gbps = (end - start) * 8 / std::chrono::duration<double>(clock_type::now() - t0).count() / 1e9;
  for (const auto& t : tx->stats().tcp) m.retransmits += t.total_retransmits;
  tx->forget(1);
  poster.join();
  tx.reset();
  rx->cancel(1);
  rx.reset();
  return m;
}

// iperf3 from namespace a to a server in b, -P the transport's connections, -O 1 (one second
// of warm-up left out), the receiver's rate.
measured iperf3_run(const netem::emulated_wan& wan, const bench_wan_options& o) {
  const config::deployment_config defaults;
  const auto& e = wan.ends();
  measured m;
  const pid_t server = ::fork();
  if (server == 0) {
    if (FILE* quiet = std::freopen("/dev/null", "w", stdout)) (void)quiet;  // its report is the client's
    ::execlp("ip", "ip", "netns", "exec", e.ns_b.c_str(), "iperf3", "-s", "-1", "-B", e.addr_b.c_str(), "-p", "5299",
             static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::string out =
      capture("ip netns exec " + e.ns_a + " iperf3 -J -c " + e.addr_b + " -p 5299 -O 1 -t " + std::to_string(o.seconds) +
              " -P " + std::to_string(defaults.transport.connections) + " 2>&1");
  ::waitpid(server, nullptr, 0);
  const json j = json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("end")) {
    m.error = "iperf3 gave no result: " + out.substr(0, 200);
    return m;
  }
  m.gbps = j["end"]["sum_received"].value("bits_per_second", 0.0) / 1e9;
  m.retransmits = j["end"]["sum_sent"].value("retransmits", 0);
  return m;
}

json cell(double rtt_ms, double loss, const bench_wan_options& o, int subnet) {
  netem::link_params p;
  p.one_way_ms = rtt_ms / 2;
  p.gbps = o.gbps;
  p.loss = loss;
  netem::emulated_wan wan({"prfaas-bench-wan", subnet, p, p, o.mtu, 1});
  // The two tools take turns on the same link, so a drift of the machine touches both alike; each
  // figure is the median of its runs.
  std::vector<measured> ts, is;
  for (int r = 0; r < o.reps; ++r) {
    std::fprintf(stderr, "bench wan: RTT %.0f ms, %.3f Gbps, loss %.3f %%: transport (run %d of %d) ...\n", rtt_ms, o.gbps,
                 loss * 100, r + 1, o.reps);
    ts.push_back(transport_run(wan, o));
    std::fprintf(stderr, "bench wan: RTT %.0f ms, %.3f Gbps, loss %.3f %%: iperf3 (run %d of %d) ...\n", rtt_ms, o.gbps,
                 loss * 100, r + 1, o.reps);
    is.push_back(iperf3_run(wan, o));
  }
  auto median = [](std::vector<measured> runs) {
    std::sort(runs.begin(), runs.end(), [](const measured& a, const measured& b) { return a.gbps < b.gbps; });
    return runs[runs.size() / 2];
  };
  const auto t = median(ts), i = median(is);
  json t_runs = json::array(), i_runs = json::array();
  for (const auto& m : ts) t_runs.push_back(m.gbps);
  for (const auto& m : is) i_runs.push_back(m.gbps);
  json out = {{"rtt_ms", rtt_ms},
              {"shaped_gbps", o.gbps},
              {"loss", loss},
              {"transport_gbps", t.gbps},
              {"iperf3_gbps", i.gbps},
              {"transport_ratio", o.gbps > 0 ? t.gbps / o.gbps : 0},
              {"iperf3_ratio", o.gbps > 0 ? i.gbps / o.gbps : 0},
              {"transport_vs_iperf3", i.gbps > 0 ? t.gbps / i.gbps : 0},
              {"transport_retransmits", t.retransmits},
              {"iperf3_retransmits", i.retransmits},
              {"connections", config::deployment_config{}.transport.connections},
              {"transport_runs_gbps", t_runs},
              {"iperf3_runs_gbps", i_runs}};
  if (!t.error.empty()) out["transport_error"] = t.error;
  if (!i.error.empty()) out["iperf3_error"] = i.error;
  return out;
}

}  // namespace

int bench_wan(const bench_wan_options& o) {
  if (const auto why = netem::emulated_wan::unavailable(); !why.empty()) throw cli_error{"bench wan: the emulated WAN " + why};
  if (std::system("command -v iperf3 >/dev/null 2>&1") != 0) throw cli_error{"bench wan: iperf3 is not installed"};
  std::vector<json> cells;
  try {
    if (o.table) {
      for (double rtt : {0.0, 20.0, 40.0})
        for (double loss : {0.0, 0.001, 0.01}) cells.push_back(cell(rtt, loss, o, 78));
    } else {
      cells.push_back(cell(o.rtt_ms, o.loss, o, 78));
    }
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
  if (o.json) {
    std::cout << (cells.size() == 1 ? cells[0].dump() : json(cells).dump()) << std::endl;
    return 0;
  }
  if (o.reps > 1) std::printf("medians of %d runs each, the tools taking turns\n", o.reps);
  std::printf("KV transport (%d connections, default config) and iperf3 -P %d across the emulated WAN, %d s after 1 s of warm-up\n",
              config::deployment_config{}.transport.connections, config::deployment_config{}.transport.connections, o.seconds);
  std::printf("%7s %7s %7s | %10s %6s %8s | %10s %6s %8s | %9s\n", "RTT ms", "loss %", "shaped", "transport", "ratio", "retrans",
              "iperf3", "ratio", "retrans", "tx/iperf3");
  for (const auto& c : cells)
    std::printf("%7.0f %7.2f %7.3f | %10.3f %6.3f %8llu | %10.3f %6.3f %8llu | %9.3f\n", c["rtt_ms"].get<double>(),
                c["loss"].get<double>() * 100, c["shaped_gbps"].get<double>(), c["transport_gbps"].get<double>(),
                c["transport_ratio"].get<double>(), c["transport_retransmits"].get<unsigned long long>(),
                c["iperf3_gbps"].get<double>(), c["iperf3_ratio"].get<double>(),
                c["iperf3_retransmits"].get<unsigned long long>(), c["transport_vs_iperf3"].get<double>());
  return 0;
}

}  // namespace prfaas::apps

#include "apps/bench_router.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "actors/client.hpp"
#include "actors/client_door.hpp"
#include "apps/cli_support.h"
#include "apps/cpu_cap.h"
#include "apps/launcher.h"
#include "runtime/metrics/exposition.h"
#include "runtime/sched/core.h"

namespace prfaas::apps {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

// The deployment: the config's profiles and node counts on the emulated engine at its fastest,
// no gateway (the actor plane is measured), room for every client's request at once: in the
// router's table and on each decode node (node.max_sequences; its default of 8 held the clients
// in the router's queue, and the run's rate at 16 / the time a sequence holds its slot).  The
// prefix cache's budget fits the smallest block pool a KV scale can make (4096 blocks of 8 KiB).
// One KV connection a link: the nodes share this host's loopback, where striping buys nothing,
// and a link grown to 16 connections (transport.max_connections, sized from loopback's round
// trip inflated by the busy CPU) kept 64 sender threads on the local prefill node waking each
// other for most of a core, the CPU the router's rate needs here.
std::string config_text(const config::deployment_config& c, int concurrency) {
  const auto abs = [](const std::string& p) { return fs::absolute(p).lexically_normal().string(); };
  return fmt::format(
      "[engine]\nkind = \"emulated\"\nprofile = \"{}\"\nprofile_prfaas = \"{}\"\ntime_scale = 10000\n"
      "kv_scale = {}\nmax_context = {}\nseed = 1\n"
      "[router]\nthreshold_tokens = {}\nmax_in_flight = {}\nqueue_max = {}\nreserve_with_prefill = {}\n"
      "[node]\nkv_blocks = 4096\nmax_sequences = {}\nnews_gap_ms = {}\n[cache]\nbudget_mib = {}\n"
      "[gateway]\nenabled = false\n[transport]\nconnections = 1\nmax_connections = 1\n"
      "[deployment]\nprfaas_prefill = {}\nlocal_prefill = {}\ndecode = {}\n",
      abs(c.engine.profile), abs(c.engine.profile_prfaas), c.engine.kv_scale, c.engine.max_context,
      c.router.threshold_tokens, 4 * concurrency + 64, 4 * concurrency + 64, c.router.reserve_with_prefill,
      concurrency, c.node.news_gap_ms, std::min(c.cache.budget_mib, 16), c.deployment.prfaas_prefill,
      c.deployment.local_prefill, c.deployment.decode);
}

// The control-plane core alone, driven through `n` requests' events on a small node table as
// the simulator drives it: its cost per request, in microseconds.
double core_us_per_request(int n) {
  sched::core core({.threshold_tokens = 8192, .max_in_flight = 1 << 20});
  sched::commands out;
  double now = 0;
  core.handle(sched::node_up{{"prfaas-prefill-0", sched::node_kind::prefill, true, 0}}, now, out);
  core.handle(sched::node_up{{"prfaas-prefill-1", sched::node_kind::prefill, true, 0}}, now, out);
  core.handle(sched::node_up{{"local-prefill-0", sched::node_kind::prefill, false, 0}}, now, out);
  core.handle(sched::node_up{{"decode-0", sched::node_kind::decode, false, 64}}, now, out);
  core.handle(sched::node_up{{"decode-1", sched::node_kind::decode, false, 64}}, now, out);
  const auto t0 = clock_type::now();
  for (int i = 1; i <= n; ++i) {
    const auto id = static_cast<sched::request_id>(i);
    now += 1e-4;
    out.clear();
    core.handle(sched::request_arrived{id, 200, 4, now + 60}, now, out);
    core.handle(sched::reserved{id}, now, out);
    core.handle(sched::prefill_done{id, 0, 200}, now, out);
    core.handle(sched::first_token{id, 1000}, now, out);
    core.handle(sched::decode_done{id}, now, out);
    if (core.counters().completed != i) throw cli_error{"the core did not complete request " + std::to_string(i)};
  }
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count() / n;
}

// The router's actor messages so far, in and out (its /metrics: prfaas_actor_plane_messages_total).
std::pair<double, double> router_messages(caf::actor_system& sys, const caf::actor& router) {
  auto page = actors::router_metrics(sys, router, std::chrono::seconds(5));
  if (!page) throw cli_error{"the router's metrics: " + actors::describe(page.error())};
  auto samples = metrics::read_samples(*page);
  const std::string in = "prfaas_actor_plane_messages_total{direction=\"in\"}",
                    out = "prfaas_actor_plane_messages_total{direction=\"out\"}";
  if (!samples.count(in) || !samples.count(out)) throw cli_error{"the router's metrics count no actor messages"};
  return {samples[in], samples[out]};
}

int router_pid(const launcher& l) {
  for (const auto& n : l.nodes())
    if (n.role == "router") return n.pid;
  throw cli_error{"the deployment has no router process"};
}

}  // namespace

int bench_router(const bench_router_options& o) {
  sigset_t signals;
  block_signals(signals);
  config::deployment_config base;
  try {
    base = config::load_config(o.config);
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
  if (!base.engine.emulated()) throw cli_error{o.config + ": bench router needs an emulated engine's profiles"};
  if (o.news_gap_ms >= 0) base.node.news_gap_ms = o.news_gap_ms;
  if (o.kv_scale > 0) base.engine.kv_scale = o.kv_scale;
  const std::string state_dir = fs::temp_directory_path() / ("prfaas-bench-router-" + std::to_string(::getpid()));
  fs::create_directories(state_dir);
  const std::string config_path = state_dir + "/bench-router.toml";
  std::ofstream(config_path) << config_text(base, o.concurrency);
  const auto config = config::load_config(config_path);
  json out;
  {
    launcher l(executable_dir() + "/prfaas-node", state_dir + "/state", config_path, config);
    client_system client(config, l.prepare());
    const endpoint router_at = start_and_wait(l, client.sys, config);
    auto router = connect(client.sys, router_at);
    // Where the clients send: the process's door (a round's requests together), or the router.
    const caf::actor to = o.direct ? router : actors::open_door(client.sys, router);
    const int pid = router_pid(l);
    std::atomic<int> next{0}, done{0}, failed{0};
    std::vector<double> latency_ms;  // of each completed request, client-side
    std::mutex latency_mutex;
    auto run = [&](int count) {
      next = 0;
      std::vector<std::thread> clients;
      for (int w = 0; w < o.concurrency; ++w)
        clients.emplace_back([&, count] {
          for (int i; (i = next++) < count;) {
            try {
              const auto start = clock_type::now();
              remote_generate(client.sys, to, demo_prompt(i % 97, o.prompt_bytes), o.max_tokens, 30000);
              const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
              ++done;
              std::lock_guard lock(latency_mutex);
              latency_ms.push_back(ms);
            } catch (const std::exception&) {
              ++failed;
            }
          }
        });
      for (auto& t : clients) t.join();
    };
    std::fprintf(stderr, "bench router: %d requests, %d clients at once, %d-byte prompts, %d tokens (warm-up first)\n",
                 o.requests, o.concurrency, o.prompt_bytes, o.max_tokens);
    run(std::min(o.requests, 4 * o.concurrency));  // connections, caches and the router's tables warm
    done = 0;
    failed = 0;
    latency_ms.clear();
    std::optional<cpu_cap> cap;
    if (o.cap > 0) {
      cap.emplace(pid, o.cap);
      if (!cap->holds(pid)) throw cli_error{"the router did not enter its capped cgroup"};
    }
    const auto messages_before = router_messages(client.sys, router);
    const auto before = sample_process(pid);
    const auto t0 = clock_type::now();
    run(o.requests);
    const double wall = std::chrono::duration<double>(clock_type::now() - t0).count();
    const auto after = sample_process(pid);
    const auto messages_after = router_messages(client.sys, router);
    l.stop();
    cap.reset();
    const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double cpu_s = static_cast<double>(after.ticks - before.ticks) / hz;
    const int completed = done.load();
    if (completed == 0) throw cli_error{"no request completed (see " + state_dir + "/state/logs)"};
    const double cpu_us = cpu_s * 1e6 / completed;
    const double core_us = core_us_per_request(200000);
    std::sort(latency_ms.begin(), latency_ms.end());
    const auto quantile = [&](double q) {
      return latency_ms.empty() ? 0.0 : latency_ms[std::min(latency_ms.size() - 1, static_cast<size_t>(q * latency_ms.size()))];
    };
    out = {{"requests", o.requests},
           {"completed", completed},
           {"failed", failed.load()},
           {"concurrency", o.concurrency},
           {"wall_s", wall},
           {"rate_rps", completed / wall},
           {"router_cpu_s", cpu_s},
           {"router_cpu_us_per_request", cpu_us},
           {"router_cpu_share", cpu_s / wall},
           {"decisions_per_s_per_core", 1e6 / cpu_us},
           {"router_syscalls_per_request", static_cast<double>(after.syscalls - before.syscalls) / completed},
           // Of its CPU, the kernel's share (its system calls; on loopback also the receiving
           // side's TCP work, done in the sender's system call; scheduling), and how often its
           // threads slept and woke or were preempted.
           {"router_kernel_share", after.ticks > before.ticks ? static_cast<double>(after.system_ticks - before.system_ticks) /
                                                                      static_cast<double>(after.ticks - before.ticks)
                                                                : 0.0},
           {"router_context_switches_per_request", static_cast<double>(after.switches - before.switches) / completed},
           // Every message of a request passes the router today; the metrics request itself is one each way.
           {"router_messages_in_per_request", (messages_after.first - messages_before.first - 1) / completed},
           {"router_messages_out_per_request", (messages_after.second - messages_before.second - 1) / completed},
           {"latency_ms_p50", quantile(0.5)},
           {"latency_ms_p99", quantile(0.99)},
           {"reserve_with_prefill", base.router.reserve_with_prefill},
           {"client_door", !o.direct},
           {"news_gap_ms", base.node.news_gap_ms},
           {"kv_scale", base.engine.kv_scale},
           {"router_cpu_cap", o.cap},
           // Capped and using nearly all of it: the router was the bottleneck.
           {"router_saturated", o.cap > 0 && cpu_s / wall >= 0.9 * o.cap},
           {"core_us_per_request", core_us},
           {"router_over_core", cpu_us / core_us}};
  }
  fs::remove_all(state_dir);
  if (o.json) {
    std::cout << out.dump(2) << std::endl;
    return out["failed"].get<int>() ? 1 : 0;
  }
  std::printf("%d of %d requests completed in %.2f s (%.0f req/s), %d clients at once\n", out["completed"].get<int>(),
              o.requests, out["wall_s"].get<double>(), out["rate_rps"].get<double>(), o.concurrency);
  std::printf("router CPU        %.1f us per request (%.1f %% of a core over the run): %.0f decisions/s per core\n",
              out["router_cpu_us_per_request"].get<double>(), 100 * out["router_cpu_share"].get<double>(),
              out["decisions_per_s_per_core"].get<double>());
  if (o.cap > 0)
    std::printf("router capped     at %.0f %% of a core: %s\n", 100 * o.cap,
                out["router_saturated"].get<bool>() ? "saturated (the figures above are at saturation)"
                                                    : "not saturated (it used less than 90 % of its cap)");
  std::printf("request latency   p50 %.2f ms, p99 %.2f ms (client-side; reservation %s the prefill job)\n",
              out["latency_ms_p50"].get<double>(), out["latency_ms_p99"].get<double>(),
              out["reserve_with_prefill"].get<bool>() ? "sent with" : "answered before");
  std::printf("router syscalls   %.1f reads and writes per request; %.0f %% of its CPU in the kernel; %.1f context "
              "switches per request\n",
              out["router_syscalls_per_request"].get<double>(), 100 * out["router_kernel_share"].get<double>(),
              out["router_context_switches_per_request"].get<double>());
  std::printf("router messages   %.1f in, %.1f out per request (actor messages on its connections; clients %s; "
              "nodes' news gap %g ms)\n",
              out["router_messages_in_per_request"].get<double>(), out["router_messages_out_per_request"].get<double>(),
              o.direct ? "each on its own" : "through their process's door", base.node.news_gap_ms);
  std::printf("control-plane core alone  %.2f us per request: the router costs %.0fx that\n",
              out["core_us_per_request"].get<double>(), out["router_over_core"].get<double>());
  return out["failed"].get<int>() ? 1 : 0;
}

}  // namespace prfaas::apps

#include "runtime/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <queue>
#include <unordered_map>

#include "runtime/common/errc.h"
#include "runtime/policy/route.h"
#include "runtime/sched/control_plane.h"
#include "runtime/sched/request_checker.h"
#include "runtime/sim/prefix_cache.h"
#include "runtime/sim/quantile_sketch.h"

namespace prfaas::sim {
namespace {

enum class ev : uint8_t { arrival, prefill_done, kv_ready, decode_done, control, rebalance, sample };

struct event {
  double t;
  uint64_t seq;  // FIFO among equal times: deterministic order
  ev kind;
  int a;
  bool operator>(const event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct prefill_instance {
  bool prfaas = false;
  double staged_bytes = 0;       // KV of its finished prefills still crossing the link
  bool waiting_room = false;     // its next batch waits for staging room (the core knows)
  double waiting_since = 0;
  bool retired = false;          // converted away
  std::deque<int> queue;
  std::vector<int> batch;
  bool busy = false;
  double busy_s = 0;
};

struct decode_instance {
  bool retired = false;          // converted away
  int active = 0;
  std::deque<int> waiting;
  double slot_s = 0;             // occupied slot-seconds
  sched::node_id node = sched::kNoNode;
};

// A request from its arrival's scheduling to its end: only these are held, so memory follows the
// requests in flight, not the run's length.
struct in_flight {
  request req;
  request_record rec;
  int prefill = -1, decode = -1;
  int uncached = 0;
  double staged_bytes = 0;       // its KV in its PrfaaS instance's staging until it crossed
  double decode_start = 0;
  sched::cache_hits hits;        // what the directory answers for it (the clusters' caches)
};

// What the report needs of the requests that ended, folded in as they end.
struct totals {
  double first_arrival = INFINITY, last_finish = 0;
  double routed = 0, offloaded = 0, cached = 0, prompt = 0, ttft_sum = 0, tpot_sum = 0;
  quantile_sketch ttft;
};

class engine {
 public:
  engine(const scenario& s, request_source& w, const sim_options& o)
      : s_(s), w_(w), o_(o),
        local_cache_(s.prefix_cache_blocks, {s.snapshot_every_blocks, s.snapshot_cost_blocks}),
        prfaas_cache_(s.prefix_cache_blocks, {s.snapshot_every_blocks, s.snapshot_cost_blocks}),
        cp_(plane_options(s, w, o)) {
    PRFAAS_REQUIRE(o.n_p >= 0 && o.n_p < s.n_pd && (o.n_p >= 1 || s.n_prfaas >= 1),
                   "the deployment needs a prefill instance and a local decode instance");
    // The clusters' pooled caches answer in place of a cache directory.
    step(sched::node_up{{"directory", sched::node_kind::cache_directory, false, 0}});
    for (int i = 0; i < s.n_prfaas; ++i) add_prefill(true);
    for (int i = 0; i < o.n_p; ++i) add_prefill(false);
    for (int i = o.n_p; i < s.n_pd; ++i) add_decode();
    if (o.keep_records) report_.records.resize(static_cast<size_t>(w.count()));
    threshold_ = o.threshold;
  }

  sim_report run() {
    pull();
    push(s_.control_period_s, ev::control, 0);
    push(s_.rebalance_period_s, ev::rebalance, 0);
    push(s_.sample_period_s, ev::sample, 0);
    last_arrival_ = w_.last_arrival_s();
    const long progress_step = std::max<long>(1, w_.count() / 100);
    while (!events_.empty() && finished_ < w_.count()) {
      const event e = events_.top();
      events_.pop();
      now_ = e.t;
      switch (e.kind) {
        case ev::arrival: arrive(e.a); break;
        case ev::prefill_done: prefill_done(e.a); break;
        case ev::kv_ready: kv_ready(e.a); break;
        case ev::decode_done: decode_done(e.a); break;
        case ev::control: control(); break;
        case ev::rebalance: rebalance(); break;
        case ev::sample: sample(); break;
      }
      if (o_.progress && e.kind == ev::arrival && (e.a + 1) % progress_step == 0)
        o_.progress(static_cast<double>(e.a + 1) / static_cast<double>(w_.count()));
    }
    return finish();
  }

 private:
  void push(double t, ev kind, int a) { events_.push({t, seq_++, kind, a}); }

  // The router's control plane as the simulated deployment configures it: the slow loops the
  // scenario turns on, conversions that never time out (simulated nodes always come back).
  static sched::control_plane_options plane_options(const scenario& s, request_source& w, const sim_options& o) {
    sched::control_plane_options p;
    p.core = {.threshold_tokens = static_cast<int>(o.threshold), .use_directory = true,
              .max_in_flight = static_cast<int>(std::min<long>(w.count() + 1, 1 << 30)), .max_nodes = 1 << 20};
    if (s.controller) {
      p.prfaas_profile = std::make_shared<const profile::instance_profile>(s.prfaas);
      p.pd_profile = std::make_shared<const profile::instance_profile>(s.pd);
      p.output_tokens = s.output_tokens;
    }
    p.rebalancer = s.rebalancer;
    p.conversion_s = INFINITY;
    p.log_keep = 1;  // the simulator reads no timelines
    return p;
  }
  const sched::core& core() const { return cp_.state(); }

  // The next request from the source, held from here and arriving at its time.
  void pull() {
    request r;
    if (!w_.next(r)) return;
    const int i = pulled_++;
    const double at = r.arrival_s;
    live_[i].req = std::move(r);
    push(at, ev::arrival, i);
  }
  in_flight& of(int i) {
    auto it = live_.find(i);
    PRFAAS_ASSERT(it != live_.end());
    return it->second;
  }
  // The request ended (completed or refused): its figures go into the totals and it is let go.
  void retire(int i) {
    auto it = live_.find(i);
    PRFAAS_ASSERT(it != live_.end());
    const request_record& rec = it->second.rec;
    if (!rec.rejected) {
      t_.routed += 1;
      t_.offloaded += rec.offloaded;
      t_.cached += rec.cached_tokens;
      t_.prompt += rec.input_tokens;
      t_.last_finish = std::max(t_.last_finish, rec.finish_s);
      t_.ttft_sum += rec.ttft_s;
      t_.ttft.add(rec.ttft_s);
      t_.tpot_sum += s_.pd.t_decode_s;
    }
    if (o_.keep_records) report_.records[static_cast<size_t>(i)] = rec;
    live_.erase(it);
  }

  // Every control-plane decision goes through the core; its commands become the simulated
  // world's actions (queues, timers), and the checker watches every step.
  void step(const sched::event& e) {
    // Commands may lead to further events (an answer the simulated world gives at once), so
    // each step has its own command list.
    sched::commands out;
    cp_.handle(e, now_, out);
    if (o_.checker) o_.checker->after(e, out, core());
    for (const auto& c : out) std::visit([&](const auto& x) { act(x); }, c);
  }
  static uint64_t id_of(int i) { return static_cast<uint64_t>(i) + 1; }
  static int index_of(uint64_t id) { return static_cast<int>(id - 1); }

  void act(const sched::lookup_cache& c) { step(sched::cache_answer{c.id, of(index_of(c.id)).hits}); }
  void act(const sched::reserve& c) { step(sched::reserved{c.id}); }  // decode slots queue, never refuse
  void act(const sched::prefill& c) {
    const int i = index_of(c.id);
    auto& f = of(i);
    auto& rec = f.rec;
    f.prefill = instance_[c.node];
    f.decode = instance_[c.decode];
    rec.offloaded = prefill_[f.prefill].prfaas;
    // The prefill reuses what its own cluster caches (a PrfaaS hit counts there even when
    // scarce bandwidth kept it out of the routing decision), and computes the rest.
    rec.cached_tokens = rec.offloaded ? f.hits.prfaas : f.hits.local;
    f.uncached = f.req.input_tokens - rec.cached_tokens;
    rec.uncached_tokens = f.uncached;
    if (in_window()) ++(rec.offloaded ? report_.flow_prfaas : report_.flow_pd_prefill).entered;
    prefill_[f.prefill].queue.push_back(i);
    start_prefill(f.prefill);
  }
  void act(const sched::abort_request&) { PRFAAS_ASSERT(false && "the simulated world injects no faults"); }
  // Caches are pooled per cluster here, so a hit is already where its cluster prefills.
  void act(const sched::pull_cache& c) { step(sched::cache_pulled{c.id, c.tokens}); }
  // A drained instance changes role: it leaves, and an instance of the other role takes its name.
  void act(const sched::convert_node& c) {
    const std::string name = core().node(c.node).desc.name;
    const int inst = instance_[c.node];
    if (c.to == sched::node_kind::prefill) {
      decode_[inst].retired = true;
      step(sched::node_down{c.node, "converted to prefill"});
      add_prefill(false, name);
    } else {
      prefill_[inst].retired = true;
      step(sched::node_down{c.node, "converted to decode"});
      add_decode(name);
    }
  }
  void act(const sched::conversion_ended&) {}  // counted by the control plane
  void act(const sched::reply& c) {
    if (c.ok) return;
    // Only routing refuses here: no prefill node, or no decode node with room.
    of(index_of(c.id)).rec.rejected = true;
    ++report_.rejected;
    ++finished_;
    retire(index_of(c.id));
  }

  std::string next_name(const char* kind) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s-%08d", kind, names_++);  // name order = creation order
    return buf;
  }
  void add_prefill(bool prfaas, std::string name = {}) {
    prefill_.push_back({});
    prefill_.back().prfaas = prfaas;
    if (name.empty()) name = next_name("prefill");
    prefill_node_.push_back(register_node({name, sched::node_kind::prefill, prfaas, 0}, static_cast<int>(prefill_.size()) - 1));
  }
  void add_decode(std::string name = {}) {
    decode_.push_back({});
    if (name.empty()) name = next_name("decode");
    // A decode instance accepts far more than BS_max so routing rarely refuses (the rest wait
    // for a slot here); the bound stays.  It decodes BS_max at once.
    decode_.back().node = register_node({name, sched::node_kind::decode, false, s_.pd.bs_max * 64, s_.pd.bs_max},
                                        static_cast<int>(decode_.size()) - 1);
  }
  sched::node_id register_node(sched::node_desc d, int instance) {
    const std::string name = d.name;
    step(sched::node_up{std::move(d)});
    const auto id = *core().node_by_name(name);
    if (static_cast<int>(instance_.size()) <= id) instance_.resize(id + 1, -1);
    instance_[id] = instance;
    return id;
  }
  int count_prefill_local() const { return core().levels().accepting_prefill; }
  int count_decode() const { return core().levels().accepting_decode; }
  bool in_window() const { return now_ <= last_arrival_; }

  void arrive(int i) {
    pull();
    auto& f = of(i);
    const request& r = f.req;
    auto& rec = f.rec;
    t_.first_arrival = std::min(t_.first_arrival, r.arrival_s);
    rec.arrival_s = r.arrival_s;
    rec.input_tokens = r.input_tokens;
    rec.output_tokens = r.output_tokens;
    rec.threshold = threshold_;
    const int cap = std::max(0, r.input_tokens - 1);  // the last token is always computed
    auto& hits = f.hits;
    hits.local = std::min(cap, local_cache_.match(r.blocks) * s_.block_tokens);
    hits.prfaas = std::min(cap, prfaas_cache_.match(r.blocks) * s_.block_tokens);
    step(sched::request_arrived{id_of(i), r.input_tokens, r.output_tokens, 0});
  }

  void start_prefill(int p) {
    auto& inst = prefill_[p];
    if (inst.busy || inst.queue.empty()) return;
    // The batch: the oldest requests whose uncached tokens fit the budget (one at least).
    double tokens = 0, bytes = 0;
    size_t n = 0;
    for (; n < inst.queue.size(); ++n) {
      const int uncached = of(inst.queue[n]).uncached;
      if (n > 0 && tokens + uncached > s_.prefill_token_budget) break;
      tokens += uncached;
      if (inst.prfaas) bytes += s_.prfaas.s_kv_bytes(uncached);
    }
    // Its KV must fit the staging area beside what is still crossing (an empty area takes any).
    const double room = s_.staging_gib * double(1 << 30);
    if (inst.prfaas && room > 0 && inst.staged_bytes > 0 && inst.staged_bytes + bytes > room) {
      if (!inst.waiting_room) {
        inst.waiting_room = true;
        inst.waiting_since = now_;
        ++report_.staging_waits;
        step(sched::node_staging{prefill_node_[p], true});  // no new requests meanwhile
      }
      return;  // a transfer's end looks again
    }
    double duration = 0;
    inst.batch.clear();
    for (size_t k = 0; k < n; ++k) {
      const int i = inst.queue.front();
      duration += (inst.prfaas ? s_.prfaas : s_.pd).t_prefill(of(i).uncached);
      inst.batch.push_back(i);
      inst.queue.pop_front();
    }
    inst.busy = true;
    inst.busy_s += duration;
    const double end = now_ + duration;
    for (int i : inst.batch) {
      double ready = end;
      if (inst.prfaas) {
        auto& f = of(i);
        f.staged_bytes = s_.prfaas.s_kv_bytes(f.uncached);
        inst.staged_bytes += f.staged_bytes;
        ready = std::max(end, transmit(now_, f.staged_bytes));
      }
      push(ready, ev::kv_ready, i);
    }
    report_.staging_peak_bytes = std::max(report_.staging_peak_bytes, inst.staged_bytes);
    push(end, ev::prefill_done, p);
    // Last, once this instance's state is whole: the core may route to it again at once.
    if (inst.waiting_room) {
      inst.waiting_room = false;
      report_.staging_wait_s += now_ - inst.waiting_since;
      step(sched::node_staging{prefill_node_[p], false});
    }
  }

  // The link serves transfers in order at the scheduled bandwidth; returns when `bytes` sent.
  double transmit(double start, double bytes) {
    double t = std::max(start, link_free_);
    double left = bytes;
    while (left > 0) {
      const double gbps = s_.link_gbps_at(t);
      double next_change = INFINITY;
      for (const auto& [from, g] : s_.link_schedule)
        if (from > t) { next_change = from; break; }
      const double rate = std::max(gbps, 1e-6) * 1e9 / 8;
      const double can = (next_change - t) * rate;
      const double send = std::min(left, can);
      account_egress(t, t + send / rate, send);
      t += send / rate;
      left -= send;
    }
    link_free_ = t;
    link_bytes_ += bytes;
    return t;
  }

  void account_egress(double from, double to, double bytes) {
    const double w = s_.sample_period_s;
    const size_t last = static_cast<size_t>(to / w);
    if (egress_.size() <= last) egress_.resize(last + 1, 0);
    if (to <= from) { egress_[last] += bytes; return; }
    for (size_t b = static_cast<size_t>(from / w); b <= last; ++b) {
      const double lo = std::max(from, b * w), hi = std::min(to, (b + 1) * w);
      if (hi > lo) egress_[b] += bytes * (hi - lo) / (to - from);
    }
  }

  void prefill_done(int p) {
    auto& inst = prefill_[p];
    inst.busy = false;
    for (int i : inst.batch) {
      const auto& f = of(i);
      step(sched::prefill_done{id_of(i), 0, f.uncached});
      (inst.prfaas ? prfaas_cache_ : local_cache_).insert(f.req.blocks, reusable_blocks(f.req, s_.block_tokens));
      if (!inst.prfaas && in_window()) ++report_.flow_pd_prefill.left;
    }
    inst.batch.clear();
    start_prefill(p);  // nothing, when its last request's end converted it
  }

  void kv_ready(int i) {
    if (of(i).rec.offloaded && in_window()) ++report_.flow_prfaas.left;
    // Its KV crossed: its staging room is free, and a batch waiting for it may go.
    if (auto& f = of(i); f.staged_bytes > 0) {
      auto& inst = prefill_[f.prefill];
      inst.staged_bytes = std::max(0.0, inst.staged_bytes - f.staged_bytes);
      f.staged_bytes = 0;
      if (inst.waiting_room) start_prefill(f.prefill);
    }
    if (in_window()) ++report_.flow_decode.entered;
    auto& d = decode_[of(i).decode];
    if (d.active < s_.pd.bs_max) start_decode(i);
    else d.waiting.push_back(i);
  }

  void start_decode(int i) {
    auto& f = of(i);
    auto& d = decode_[f.decode];
    ++d.active;
    f.decode_start = now_;
    step(sched::first_token{id_of(i), 0});
    f.rec.ttft_s = now_ + s_.pd.t_decode_s - f.req.arrival_s;
    push(now_ + f.req.output_tokens * s_.pd.t_decode_s, ev::decode_done, i);
  }

  void decode_done(int i) {
    auto& f = of(i);
    const int di = f.decode;
    auto& d = decode_[di];
    --d.active;
    step(sched::decode_done{id_of(i)});
    d.slot_s += now_ - f.decode_start;
    f.rec.finish_s = now_;
    ++report_.completed;
    ++finished_;
    retire(i);
    if (in_window()) ++report_.flow_decode.left;
    if (!d.waiting.empty()) {
      const int next = d.waiting.front();
      d.waiting.pop_front();
      start_decode(next);
    }
  }

  // The control plane's two loops, on what the simulated world measured: the link's egress
  // over the period; the stages it integrates itself.
  void control() {
    push(now_ + s_.control_period_s, ev::control, 0);
    const double period = s_.control_period_s;
    const double egress_gbps = (link_bytes_ - link_bytes_at_control_) * 8 / 1e9 / period;
    link_bytes_at_control_ = link_bytes_;
    sched::commands out;
    if (cp_.control({egress_gbps, s_.link_gbps_at(now_)}, now_, out)) threshold_ = cp_.threshold();
    for (const auto& c : out) std::visit([&](const auto& x) { act(x); }, c);
  }

  void rebalance() {
    push(now_ + s_.rebalance_period_s, ev::rebalance, 0);
    sched::commands out;
    cp_.rebalance(now_, out);
    for (const auto& c : out) std::visit([&](const auto& x) { act(x); }, c);
  }

  void sample() {
    push(now_ + s_.sample_period_s, ev::sample, 0);
    const size_t b = static_cast<size_t>((now_ - s_.sample_period_s) / s_.sample_period_s);
    const double bytes = b < egress_.size() ? egress_[b] : 0;
    report_.samples.push_back({now_, bytes * 8 / 1e9 / s_.sample_period_s, s_.link_gbps_at(now_), threshold_});
  }

  sim_report finish() {
    sim_report& r = report_;
    r.requests = w_.count();
    const double first = t_.first_arrival, last = t_.last_finish;
    r.duration_s = last > first ? last - first : 0;
    r.throughput_rps = r.duration_s > 0 ? r.completed / r.duration_s : 0;
    if (t_.routed > 0) {
      r.ttft_mean_s = t_.ttft_sum / t_.routed;
      r.ttft_p50_s = t_.ttft.quantile(0.50);
      r.ttft_p90_s = t_.ttft.quantile(0.90);
      r.ttft_p99_s = t_.ttft.quantile(0.99);
      r.tpot_s = t_.tpot_sum / t_.routed;
    }
    r.offload_fraction = t_.routed ? t_.offloaded / t_.routed : 0;
    r.cache_hit_rate = t_.prompt > 0 ? t_.cached / t_.prompt : 0;
    double link_capacity_bytes = 0;  // integrated over the run, in sample steps
    for (double t = first; t < last; t += s_.sample_period_s)
      link_capacity_bytes += s_.link_gbps_at(t) * 1e9 / 8 * std::min(s_.sample_period_s, last - t);
    r.egress_utilisation = link_capacity_bytes > 0 ? link_bytes_ / link_capacity_bytes : 0;
    double pf = 0, pl = 0, ds = 0;
    for (const auto& p : prefill_) (p.prfaas ? pf : pl) += p.busy_s;
    for (const auto& d : decode_) ds += d.slot_s;
    const int n_p = count_prefill_local(), n_d = count_decode();
    if (r.duration_s > 0) {
      r.util_prfaas = s_.n_prfaas ? pf / (s_.n_prfaas * r.duration_s) : 0;
      r.util_pd_prefill = n_p ? pl / (n_p * r.duration_s) : 0;
      r.util_decode = n_d ? ds / (n_d * s_.pd.bs_max * r.duration_s) : 0;
    }
    r.final_threshold = threshold_;
    r.final_n_p = n_p;
    r.final_n_d = n_d;
    r.threshold_moves = cp_.threshold_moves();
    r.conversions = cp_.conversions();
    if (o_.checker) o_.checker->at_end(core());
    return std::move(r);
  }

  const scenario& s_;
  request_source& w_;
  const sim_options& o_;
  prefix_cache local_cache_, prfaas_cache_;
  sched::control_plane cp_;
  std::vector<prefill_instance> prefill_;
  std::vector<decode_instance> decode_;
  std::vector<sched::node_id> prefill_node_;  // prefill instance -> core node
  std::vector<int> instance_;                 // core node -> prefill or decode instance
  int names_ = 0;
  std::unordered_map<int, in_flight> live_;   // pulled and not yet ended
  int pulled_ = 0;
  totals t_;
  std::priority_queue<event, std::vector<event>, std::greater<>> events_;
  uint64_t seq_ = 0;
  double now_ = 0, last_arrival_ = 0, threshold_ = 0;
  double link_free_ = 0, link_bytes_ = 0, link_bytes_at_control_ = 0;
  long finished_ = 0;
  std::vector<double> egress_;
  sim_report report_;
};

}  // namespace

sim_report simulate(const scenario& s, request_source& workload, const sim_options& options) {
  engine e(s, workload, options);
  return e.run();
}

sim_report simulate(const scenario& s, const std::vector<request>& workload, const sim_options& options) {
  vector_source source(workload);
  return simulate(s, source, options);
}

}  // namespace prfaas::sim

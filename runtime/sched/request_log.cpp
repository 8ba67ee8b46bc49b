#include "runtime/sched/request_log.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace prfaas::sched {

request_log::request_log(size_t keep)
    : keep_(keep),
      ttft_(metrics::latency_buckets()),
      tpot_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}),
      e2e_(metrics::latency_buckets()),
      queue_(metrics::latency_buckets()) {}

void request_log::accepted(uint64_t id, int prompt_tokens, int max_tokens, double now_s, int64_t unix_ms) {
  auto& [t, a] = live_[id];
  t.request = id;
  t.accepted_unix_ms = unix_ms;
  t.prompt_tokens = prompt_tokens;
  t.max_tokens = max_tokens;
  a.accepted_s = now_s;
}

void request_log::routed(uint64_t id, const std::string& path, const std::string& prefill_node,
                         const std::string& decode_node, int cached_tokens, double now_s) {
  auto it = live_.find(id);
  if (it == live_.end()) return;
  auto& [t, a] = it->second;
  // A re-dispatch starts the phases after routing again: they describe the attempt that counts.
  if (t.attempts == 0) t.routed_ms = (now_s - a.accepted_s) * 1000;
  ++t.attempts;
  t.path = path;
  t.prefill_node = prefill_node;
  t.decode_node = decode_node;
  t.cached_tokens = cached_tokens;
  t.prefill_start_ms = t.prefill_end_ms = t.first_kv_sent_ms = t.last_kv_sent_ms = -1;
  t.first_kv_received_ms = t.last_kv_received_ms = -1;
  a.routed_s = now_s;
  a.prefill_sent_s = -1;
}

void request_log::prefill_sent(uint64_t id, double now_s) {
  if (auto it = live_.find(id); it != live_.end()) it->second.second.prefill_sent_s = now_s;
}

namespace {
// A node's phase, measured from when it took the job, on the router's clock.
double place(double anchor_s, double accepted_s, double node_ms) {
  if (anchor_s < 0 || node_ms < 0) return -1;
  return (anchor_s - accepted_s) * 1000 + node_ms;
}
}  // namespace

void request_log::prefill_reported(uint64_t id, const prefill_phases& p, int64_t kv_bytes) {
  auto it = live_.find(id);
  if (it == live_.end()) return;
  auto& [t, a] = it->second;
  t.prefill_start_ms = place(a.prefill_sent_s, a.accepted_s, p.started_ms);
  t.first_kv_sent_ms = place(a.prefill_sent_s, a.accepted_s, p.first_kv_ms);
  t.prefill_end_ms = place(a.prefill_sent_s, a.accepted_s, p.computed_ms);
  t.last_kv_sent_ms = place(a.prefill_sent_s, a.accepted_s, p.last_kv_ms);
  if (kv_bytes > 0) kv_sent_[{t.prefill_node, t.decode_node}] += kv_bytes;
}

void request_log::first_token(uint64_t id, const decode_phases& p, int64_t kv_bytes, double now_s) {
  auto it = live_.find(id);
  if (it == live_.end()) return;
  auto& [t, a] = it->second;
  t.first_kv_received_ms = place(a.routed_s, a.accepted_s, p.first_kv_ms);
  t.last_kv_received_ms = place(a.routed_s, a.accepted_s, p.last_kv_ms);
  t.first_token_ms = (now_s - a.accepted_s) * 1000;
  t.kv_bytes = kv_bytes;
  if (kv_bytes > 0) kv_received_[{t.prefill_node, t.decode_node}] += kv_bytes;
}

void request_log::ended(uint64_t id, const std::string& outcome, const std::string& error, int output_tokens,
                        double decode_ms, double now_s) {
  auto it = live_.find(id);
  if (it == live_.end()) return;
  auto [t, a] = std::move(it->second);
  live_.erase(it);
  t.outcome = outcome;
  t.error = error;
  t.output_tokens = output_tokens;
  t.done_ms = (now_s - a.accepted_s) * 1000;
  ++outcomes_[{t.path, outcome}];
  if (t.routed_ms >= 0) queue_.observe(t.routed_ms / 1000);
  if (outcome == "completed") {
    if (t.first_token_ms >= 0) ttft_.observe(t.first_token_ms / 1000);
    e2e_.observe(t.done_ms / 1000);
    if (output_tokens > 1 && decode_ms > 0) tpot_.observe(decode_ms / 1000 / (output_tokens - 1));
  }
  order_.push_back(id);
  ended_[id] = std::move(t);
  while (order_.size() > keep_) {
    ended_.erase(order_.front());
    order_.pop_front();
  }
}

const timeline* request_log::find(uint64_t id) const {
  if (auto it = live_.find(id); it != live_.end()) return &it->second.first;
  if (auto it = ended_.find(id); it != ended_.end()) return &it->second;
  return nullptr;
}

void request_log::write(metrics::exposition& page) const {
  using metrics::kind;
  page.family("prfaas_requests_total", kind::counter,
              "Requests the router ended, by prefill path (prfaas, local, none: ended before routing) and outcome "
              "(completed or the error's code).");
  for (const auto& [key, n] : outcomes_) page.sample({{"path", key.first}, {"outcome", key.second}}, static_cast<double>(n));
  page.family("prfaas_ttft_seconds", kind::histogram, "Time to first token of completed requests, router accept to first token.");
  page.observed({}, ttft_);
  page.family("prfaas_time_per_output_token_seconds", kind::histogram,
              "Decode time per output token after the first, of completed requests.");
  page.observed({}, tpot_);
  page.family("prfaas_e2e_seconds", kind::histogram, "End-to-end time of completed requests, router accept to reply.");
  page.observed({}, e2e_);
  page.family("prfaas_queue_seconds", kind::histogram, "Time from router accept until a decode node was asked to reserve.");
  page.observed({}, queue_);
  page.family("prfaas_kv_sent_bytes_total", kind::counter, "KV payload bytes prefill nodes reported sent, by prefill and decode node.");
  for (const auto& [key, n] : kv_sent_) page.sample({{"from", key.first}, {"to", key.second}}, static_cast<double>(n));
  page.family("prfaas_kv_received_bytes_total", kind::counter,
              "KV payload bytes decode nodes reported landed, by prefill and decode node.");
  for (const auto& [key, n] : kv_received_) page.sample({{"from", key.first}, {"to", key.second}}, static_cast<double>(n));
}

std::string to_json(const timeline& t) {
  nlohmann::json j = {{"request", t.request},
                      {"accepted_unix_ms", t.accepted_unix_ms},
                      {"prompt_tokens", t.prompt_tokens},
                      {"max_tokens", t.max_tokens},
                      {"output_tokens", t.output_tokens},
                      {"cached_tokens", t.cached_tokens},
                      {"attempts", t.attempts},
                      {"path", t.path},
                      {"prefill_node", t.prefill_node},
                      {"decode_node", t.decode_node},
                      {"outcome", t.outcome.empty() ? "in_flight" : t.outcome},
                      {"kv_bytes", t.kv_bytes}};
  if (!t.error.empty()) j["error"] = t.error;
  nlohmann::json phases = nlohmann::json::object();
  phases["queued_ms"] = 0.0;
  auto put = [&](const char* name, double ms) {
    if (ms >= 0) phases[name] = std::round(ms * 1000) / 1000;
  };
  put("routed_ms", t.routed_ms);
  put("prefill_start_ms", t.prefill_start_ms);
  put("first_kv_sent_ms", t.first_kv_sent_ms);
  put("prefill_end_ms", t.prefill_end_ms);
  put("first_kv_received_ms", t.first_kv_received_ms);
  put("last_kv_sent_ms", t.last_kv_sent_ms);
  put("last_kv_received_ms", t.last_kv_received_ms);
  put("first_token_ms", t.first_token_ms);
  put("done_ms", t.done_ms);
  j["phases_ms"] = std::move(phases);
  return j.dump();
}

std::string to_text(const timeline& t) {
  char line[256];
  std::snprintf(line, sizeof line, "request %llu: %s, %s path, %d prompt tokens (%d cached), %d of %d output tokens, %d attempt%s\n",
                static_cast<unsigned long long>(t.request), t.outcome.empty() ? "in flight" : t.outcome.c_str(),
                t.path.c_str(), t.prompt_tokens, t.cached_tokens, t.output_tokens, t.max_tokens, t.attempts,
                t.attempts == 1 ? "" : "s");
  std::string out = line;
  if (!t.error.empty()) out += "  error: " + t.error + "\n";
  const std::string p = t.prefill_node.empty() ? "-" : t.prefill_node, d = t.decode_node.empty() ? "-" : t.decode_node;
  const std::vector<std::pair<double, std::string>> phases = {
      {0, "accepted by the router (queued)"},
      {t.routed_ms, "routed: " + d + " asked to reserve"},
      {t.prefill_start_ms, "prefill started on " + p},
      {t.first_kv_sent_ms, "first KV layer sent by " + p},
      {t.first_kv_received_ms, "first KV layer received by " + d},
      {t.prefill_end_ms, "prefill computed on " + p},
      {t.last_kv_received_ms, "last KV layer received by " + d},
      {t.last_kv_sent_ms, "last KV byte confirmed to " + p},
      {t.first_token_ms, "first token"},
      {t.done_ms, "done"}};
  std::vector<std::pair<double, std::string>> reached;
  for (const auto& ph : phases)
    if (ph.first >= 0) reached.push_back(ph);
  std::stable_sort(reached.begin(), reached.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [ms, what] : reached) {
    std::snprintf(line, sizeof line, "  %10.1f ms  %s\n", ms, what.c_str());
    out += line;
  }
  if (t.kv_bytes > 0) out += "  KV bytes moved: " + std::to_string(t.kv_bytes) + "\n";
  return out;
}

}  // namespace prfaas::sched

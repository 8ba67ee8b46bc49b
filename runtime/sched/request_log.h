#pragma once
// What the router remembers of requests for the people who run it: each request's timeline
// (where its time went: queued, routed, prefill, KV sent and received, first token, done, and
// the nodes involved), the most recent `keep` of them by id (`prfaas trace ID`), and the
// aggregates /metrics shows (requests by path and outcome; TTFT, time per output token and
// end-to-end histograms; KV bytes by prefill -> decode node).  Pure: the driver passes the time.
//
//   request_log log(1024);
//   log.accepted(id, 3000, 16, now, unix_ms);
//   log.routed(id, "prfaas", "prfaas-0", "decode-1", now);     // the decode node is asked to reserve
//   log.prefill_sent(id, now);                                 // the prefill job goes out
//   log.prefill_reported(id, {...node-side phases...}, bytes);
//   log.first_token(id, {...}, bytes, now);
//   log.ended(id, "completed", "", 16, decode_ms, now);        // or an errc's name and the why
//   const timeline* t = log.find(id);
//
// Times are milliseconds since the router accepted the request, on the router's clock.  A node
// measures its own phases from the moment it took the job; the log places them after the
// moment the router sent that job (the control message's one-way time is left out: well under a
// millisecond in one datacenter, a few across two).  A phase not reached is -1.

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>

#include "runtime/metrics/exposition.h"

namespace prfaas::sched {

struct timeline {
  uint64_t request = 0;
  int64_t accepted_unix_ms = 0;      // wall clock, to find it in logs
  int prompt_tokens = 0, max_tokens = 0, output_tokens = 0, cached_tokens = 0;
  int attempts = 0;                  // dispatches (more than one: re-dispatched after a fault)
  std::string path = "none";         // prfaas | local | none (ended before it was routed)
  std::string prefill_node, decode_node;
  std::string outcome;               // empty while in flight; completed, or the errc's name
  std::string error;
  int64_t kv_bytes = 0;
  double routed_ms = -1;             // a decode node asked to reserve (the end of queueing)
  double prefill_start_ms = -1, prefill_end_ms = -1;
  double first_kv_sent_ms = -1, last_kv_sent_ms = -1;  // first layer posted; the last confirmed
  double first_kv_received_ms = -1, last_kv_received_ms = -1;
  double first_token_ms = -1, done_ms = -1;
};

// What a prefill node measured, from the moment it took the job (ms; -1: not reached).
struct prefill_phases {
  double started_ms = -1;     // its compute began (the wait before it is the node's queue)
  double first_kv_ms = -1;    // the first layer's KV posted to the link
  double computed_ms = -1;    // the prefill's compute ended
  double last_kv_ms = -1;     // the receiver confirmed the last byte
};

// What a decode node measured, from the moment it reserved the sequence.
struct decode_phases {
  double first_kv_ms = -1;    // the first layer landed
  double last_kv_ms = -1;     // the whole KV landed (the first token is out)
};

class request_log {
 public:
  explicit request_log(size_t keep = 1024);

  void accepted(uint64_t id, int prompt_tokens, int max_tokens, double now_s, int64_t unix_ms);
  void routed(uint64_t id, const std::string& path, const std::string& prefill_node, const std::string& decode_node,
              int cached_tokens, double now_s);
  void prefill_sent(uint64_t id, double now_s);
  void prefill_reported(uint64_t id, const prefill_phases& p, int64_t kv_bytes);
  void first_token(uint64_t id, const decode_phases& p, int64_t kv_bytes, double now_s);
  // The request's end; folds it into the aggregates and keeps its timeline among the recent.
  void ended(uint64_t id, const std::string& outcome, const std::string& error, int output_tokens, double decode_ms,
             double now_s);

  // A request refused before it was accepted (a bad input, a full router): counted, no timeline.
  void refused(const std::string& outcome) { ++outcomes_[{"none", outcome}]; }

  // In flight or among the most recent `keep` ended; nullptr otherwise.
  const timeline* find(uint64_t id) const;
  size_t in_flight() const { return live_.size(); }

  // The families: prfaas_requests_total, prfaas_ttft_seconds, prfaas_time_per_output_token_seconds,
  // prfaas_e2e_seconds, prfaas_queue_seconds, prfaas_kv_sent_bytes_total, prfaas_kv_received_bytes_total.
  void write(metrics::exposition& page) const;

 private:
  struct anchors {
    double accepted_s = 0, routed_s = -1, prefill_sent_s = -1;
  };
  size_t keep_;
  std::unordered_map<uint64_t, std::pair<timeline, anchors>> live_;
  std::deque<uint64_t> order_;                     // ended, oldest first
  std::unordered_map<uint64_t, timeline> ended_;
  std::map<std::pair<std::string, std::string>, int64_t> outcomes_;   // (path, outcome)
  std::map<std::pair<std::string, std::string>, int64_t> kv_sent_, kv_received_;  // (prefill, decode)
  metrics::histogram ttft_, tpot_, e2e_, queue_;
};

// One timeline as JSON: the fields above, phases in ms (absent: not reached).
std::string to_json(const timeline& t);
// For a person: a header line, then one line per phase reached, in time order.
std::string to_text(const timeline& t);

}  // namespace prfaas::sched

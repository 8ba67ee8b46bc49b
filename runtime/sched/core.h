#pragma once
// The control-plane core: every in-flight request's state machine, the node table with its
// loads, and the routing decision (policy::route).  Pure: no CAF, no sockets, no clock.  The
// live router (actors/router.cpp) and the simulator (runtime/sim) both drive it, so the code a
// seeded simulation explores is the code that runs.
//
//   core c({.threshold_tokens = 1024, .use_directory = true});
//   sched::commands out;
//   c.handle(sched::node_up{{"decode-0", node_kind::decode, false, 8}}, now, out);
//   c.handle(sched::request_arrived{7, 3000, 16, now + 60}, now, out);   // -> lookup_cache{7}
//   c.handle(sched::cache_answer{7, hits}, now, out);                    // -> reserve{7, decode}
//   ...                                                                  // -> prefill, reply
//
// handle() is the one mutating call: it appends the commands the event calls for to `out`.
// Events about requests or nodes the core no longer holds are stale (a late reply from a node
// that was declared lost, an answer after a deadline) and are counted, not errors.
//
// Loads are the core's own counts: a prefill node holds a request from `prefill` until
// prefill_done, a decode node from `reserve` until decode_done (or the request fails).
// Limits: at most `max_in_flight` requests (more get reply{no_capacity} at once) and
// `max_nodes` nodes (more are refused by add_node's caller through node_up's result).

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/sched/protocol.h"

namespace prfaas::sched {

struct core_options {
  int threshold_tokens = 1024;      // t (policy_update moves it)
  bool bandwidth_abundant = false;
  bool use_directory = false;       // ask the cache directory before routing (else hits are 0)
  // Pull another node's cached prefix (same cluster; the other cluster too when bandwidth is
  // abundant) when it beats the prefill node's own hit by at least this many tokens: moving
  // KV costs a transfer, recomputing a short stretch is cheaper.  0 turns pulling off.
  int pull_min_tokens = 0;
  int max_in_flight = 1024;
  int max_nodes = 1024;
  int max_attempts = 1;             // dispatches per request (1: a lost node ends the request)
  // Requests that find no room wait here, first come first served, and are routed as soon as a
  // node lets go of one; past this many they are refused (no_capacity).  0: refuse at once.
  int queue_max = 0;
  // Nothing is routed before this time: a router that just started waits for its nodes to
  // register (after a restart they all come back within a moment) instead of sending everything
  // to the first one that does.  Requests wait in the queue meanwhile; a tick after it routes them.
  double settle_until_s = 0;
  // The nodes the previous router held (a new leader reads them from etcd): settling ends as
  // soon as every one of them is back, instead of at settle_until_s.  Empty: the time alone.
  std::vector<std::string> settle_for;
  // With a directory: reserve and prefill at once when the directory says the decode node holds
  // none of the prompt and nothing is pulled (reserve.whole_kv); else one after the other.
  bool reserve_with_prefill = true;
  // A request taken over from a lost router with its KV still arriving (request_adopted) waits
  // this long for the prefill node holding its prefill to say so (prefill_held); then it runs
  // again from routing: its prefill job was lost with the router or its node.  A word that comes
  // before the decode node's report waits as long for it (at most max_early_words kept).
  double prefill_word_wait_s = 5.0;
  int max_early_words = 4096;
};


struct node_view {
  node_id id = kNoNode;
  node_desc desc;
  bool up = false;                  // registered and not lost
  bool accepting = true;            // false while draining
  bool staging_full = false;        // a prefill node whose KV staging is full takes nothing new
  int load = 0;                     // requests it holds (see above)
  int decoding = 0;                 // decode: its sequences past their first token
};

// The stages as they are now, kept as loads move (O(1) an event): what the slow loops of the
// control plane (control_plane.h) integrate over their periods.  Nodes up only.
struct stage_levels {
  int local_prefill = 0, local_prefill_busy = 0;    // local prefill nodes; those holding a request
  int decode_slots = 0, decoding = 0;               // decode nodes' slots; sequences decoding
  int prfaas_prefill = 0, prfaas_held = 0;          // PrfaaS prefill nodes; requests they hold
  int accepting_prefill = 0, accepting_decode = 0;  // local nodes taking work, by role
};

struct core_counters {
  int64_t arrived = 0, completed = 0, failed = 0, refused = 0, stale_events = 0, redispatched = 0;
  int64_t adopted = 0;  // taken in from a decode node's report (a previous router's)
};

class core {
 public:
  explicit core(core_options options = {});

  void handle(const event& e, double now_s, commands& out);

  // -- reading the state (tests, checkers, status) ----------------------------------------------
  const request_view* find(request_id id) const;
  const std::unordered_map<request_id, request_view>& requests() const { return requests_; }
  const std::vector<node_view>& nodes() const { return nodes_; }
  size_t queued() const { return queue_.size(); }
  std::optional<node_id> node_by_name(const std::string& name) const;
  const node_view& node(node_id id) const { return nodes_.at(id); }
  const core_counters& counters() const { return counters_; }
  // Routing waits for the nodes to come back (core_options::settle_until_s, settle_for).
  bool settling(double now) const { return now < options_.settle_until_s; }
  // Settling, and still waiting for some of the previous router's nodes (settle_for).
  bool awaiting_nodes(double now) const { return settling(now) && !awaited_.empty(); }
  int threshold_tokens() const { return options_.threshold_tokens; }
  bool bandwidth_abundant() const { return options_.bandwidth_abundant; }
  bool has_directory() const;
  const stage_levels& levels() const { return levels_; }
  // The earliest deadline of a request in flight (nullopt: none): a driver needs a tick then,
  // one timer for all requests rather than one each.
  // A request taken over waiting for its prefill node's word counts as one.
  std::optional<double> next_deadline() const {
    std::optional<double> at;
    if (!deadlines_.empty()) at = deadlines_.begin()->first;
    if (!word_waits_.empty() && (!at || word_waits_.begin()->first < *at)) at = word_waits_.begin()->first;
    return at;
  }

 private:
  // -- event handlers ---------------------------------------------------------------------------
  void on(const node_up& e, double now, commands& out);
  void on(const node_down& e, double now, commands& out);
  void on(const node_drain& e, double now, commands& out);
  void on(const node_staging& e, double now, commands& out);
  void on(const request_arrived& e, double now, commands& out);
  void on(const cache_answer& e, double now, commands& out);
  void on(const reserved& e, double now, commands& out);
  void on(const prefill_done& e, double now, commands& out);
  void on(const first_token& e, double now, commands& out);
  void on(const decode_done& e, double now, commands& out);
  void on(const request_failed& e, double now, commands& out);
  void on(const tick& e, double now, commands& out);
  void on(const policy_update& e, double now, commands& out);
  void on(const cache_pulled& e, double now, commands& out);
  void on(const request_adopted& e, double now, commands& out);
  void on(const prefill_held& e, double now, commands& out);
  void on(const node_reported& e, double now, commands& out);
  void settled_for(const std::string& name, double now);

  // -- request lifecycle ------------------------------------------------------------------------
  // A new entry in the table (and its deadline): arrived, or taken over.
  request_view& enter(request_id id, int prompt_tokens, int max_tokens, double deadline_s, double now);
  request_view* live(request_id id);  // nullptr (and a stale count) when it ended
  node_view* live_node(node_id id);   // nullptr (and a stale count) when unknown or down
  void start_routing(request_view& r, commands& out);  // ask the directory first when there is one
  request_view* live(request_id id, int attempt);  // ... or when the event is from an older attempt
  // Dispatches the request again from routing when attempts and its deadline allow, else fails it.
  void redispatch(request_view& r, errc code, const std::string& why, double now, commands& out);
  enum class no_room { queue_or_fail, leave };
  // Routes `r`; without room it queues or fails it (queue_or_fail), or leaves it as it is.
  bool route(request_view& r, const cache_hits& hits, commands& out, no_room on_no_room = no_room::queue_or_fail);
  void drain_queue(commands& out);
  void release_prefill(request_view& r);
  void release_decode(request_view& r);
  void complete(request_view& r, commands& out);
  void fail(request_view& r, errc code, const std::string& why, commands& out);
  void forget(request_view& r);

  // -- the node table and the routing candidates built from it ----------------------------------
  void rebuild_candidates();
  void set_load(node_id id, int delta);
  void set_decoding(request_view& r, bool started);

  core_options options_;
  std::set<std::string> awaited_;  // of options_.settle_for, those not registered yet
  std::unordered_map<request_id, request_view> requests_;
  std::set<std::pair<double, request_id>> deadlines_;  // earliest first
  // Take-over: requests adopted with their KV arriving, until when they wait for a prefill
  // node's word (and the attempt adopted), earliest first; the prefill node their decode node
  // named, while they wait; words that came before the request (each node's: a false word
  // must not hide the true one).
  std::multimap<double, std::pair<request_id, int>> word_waits_;
  std::unordered_map<request_id, std::string> named_prefill_;
  std::unordered_multimap<request_id, std::pair<prefill_held, double>> early_words_;
  void take_prefill_word(request_view& r, node_id node);
  bool named_by_decode(request_id id, node_id node) const;
  std::deque<request_id> queue_;                       // requests waiting for room, oldest first
  std::unordered_map<request_id, cache_hits> queued_hits_;
  bool room_freed_ = false;                            // a node let go of a request in this step
  double now_ = 0;                                     // of the event being handled
  std::vector<node_view> nodes_;                       // indexed by node_id; lost nodes stay, down
  std::map<std::string, node_id> names_;
  // Candidates in name order (policy::route breaks ties by position), and back to node ids.
  std::vector<policy::prefill_candidate> prefill_candidates_;
  std::vector<policy::decode_candidate> decode_candidates_;
  std::vector<node_id> prefill_ids_, decode_ids_;
  std::vector<int> candidate_pos_;                     // node_id -> position in its list, -1
  stage_levels levels_;
  core_counters counters_;
};

}  // namespace prfaas::sched

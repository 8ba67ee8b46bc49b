#pragma once
// Control-plane messages between prfaas roles: small values only, never KV bytes (those take
// the data plane, runtime/transport).  Every type here crosses processes, so all of them sit in
// one type-ID block, registered by prfaas::actors::system_config.
//
// Who sends what:
//   supervisor -> router      register_atom, node_info, role, control, registration_proof
//                                                                   -> ok / error(model_mismatch, invalid_argument)
//   client     -> router      generate_request                      -> generate_result / error
//   client door -> router     submissions (a process's requests of one round of its door,
//                                together: client_door.hpp)      -> door_answers (a round's, together)
//   client     -> router      status_atom                           -> router_status
//   client     -> router      metrics_atom                          -> std::string (Prometheus text)
//   client     -> router      trace_atom, request id                -> sched::timeline / error(unknown_request)
//   router     -> directory   watch_atom                            (the directory registered: send me
//                                your view, then what changes)      -> directory_news, a reset first
//   prefill    -> directory   cache_update (inserts/evictions)      (straight, not through the router)
//   directory  -> router      directory_news (the updates it applied and the nodes it dropped, gathered
//                                per round of its mailbox, at most one per node.news_gap_ms)
//   router     -> directory   drop_atom, node name                  (the node was lost)
//   router     -> prefill     republish_atom, directory, HOST:PORT  (registered, or a directory registered)
//   supervisor -> role        router_atom, actor                    (the router restarted: its new handle)
//   node       -> router      drain_atom, name                      -> int32 requests it still holds
//   router     -> prefill P   cache_pull (arm P's receiver)         -> ok; later P -> router cache_pulled
//   router     -> node Q      cache_push (Q sends its prefix to P)  -> int32 tokens sent
//   router     -> decode      decode_jobs (a round's, together)      -> decode_news: reserved (the prompt
//                                tokens it holds) or failed; beside the prefill job when the
//                                directory says it holds none
//   decode     -> router      decode_news: token_chunks (decode_job.stream) -> forwarded to the request's stream
//   decode     -> router      held_report (a new router: registered) -> the request ids it took over
//   prefill    -> router      prefill_news: holding (a new router: registered), the last one's jobs it holds
//   client     -> router      cancel_atom, client_id                (the client went away: the request ends)
//   router     -> prefill     prefill_jobs (a round's, together)    -> prefill_news: each job's report
//                                (its KV confirmed) or failure, gathered per job / staging look
//   router     -> role, its supervisor (control)   abort_atom, request id, attempt
//   decode     -> router      decode_news: decode_started / decode_results / decode_failed, gathered
//                                per round of its mailbox (outbox.hpp)
//   prefill    -> router      link_report (KV egress telemetry, every report period)
//   prefill    -> router      staging_report (its KV staging filled up / has room again)
//   client     -> router      link_atom, "cut"|"restore"|"rate", gbps  -> int32 PrfaaS nodes told
//   router     -> supervisor  link_atom, action, gbps (its share)  (the emulated inter-cluster link)
//   client     -> router      convert_atom, name, role             -> int32 0 once it serves in the new role
//   router     -> supervisor  convert_atom, role                   (drained: become a ROLE node)

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "actors/token_block.hpp"
#include "runtime/cluster/node_role.h"
#include "runtime/common/errc.h"
#include "runtime/model/sampler.h"
#include "runtime/sched/request_log.h"

namespace prfaas::sched {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, timeline& x) {
  return f(caf::meta::type_name("timeline"), x.request, x.accepted_unix_ms, x.prompt_tokens, x.max_tokens,
           x.output_tokens, x.cached_tokens, x.attempts, x.path, x.prefill_node, x.decode_node, x.outcome, x.error,
           x.kv_bytes, x.routed_ms, x.prefill_start_ms, x.prefill_end_ms, x.first_kv_sent_ms, x.last_kv_sent_ms,
           x.first_kv_received_ms, x.last_kv_received_ms, x.first_token_ms, x.done_ms);
}

}  // namespace prfaas::sched

namespace prfaas {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_logprobs& x) {
  return f(caf::meta::type_name("token_logprobs"), x.logprob, x.top_ids, x.top_logprobs);
}

}  // namespace prfaas

namespace prfaas::actors {

struct node_info {
  std::string name;            // unique in the deployment, e.g. "prfaas-prefill-0"
  cluster::node_role role = cluster::node_role::decode;  // cache_directory | prefill | decode
  std::string cluster;         // PrfaaS or local PD cluster name
  bool prfaas = false;         // the node belongs to the PrfaaS cluster
  std::string data_endpoint;   // decode: HOST:PORT of its KV receiver
  std::string model;           // model_config::fingerprint()
  int32_t capacity = 0;        // decode: sequences held at once
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("node_info"), x.name, x.role, x.cluster, x.prfaas,
           x.data_endpoint, x.model, x.capacity);
}

// A node's proof of its name at registration (runtime/security/pki.h): its certificate and its
// key's signature of security::registration_statement(name, role, its CAF node, the router's).
// Both empty in a deployment started with --insecure.
struct registration_proof {
  std::string certificate_pem;
  std::vector<uint8_t> signature;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registration_proof& x) {
  return f(caf::meta::type_name("registration_proof"), x.certificate_pem, x.signature);
}

// How a request's tokens are chosen and when they end: model::sampling_params and the stop rule
// (text/stop_condition.h) as they cross processes.  The router checks the ranges and gives a
// request without a seed one of its own (returned in generate_result.seed).
struct decoding {
  float temperature = 0, top_p = 1, min_p = 0;
  int32_t top_k = 0;
  float presence_penalty = 0, frequency_penalty = 0, repetition_penalty = 1;
  std::vector<int32_t> bias_ids;     // logit_bias: ids and their biases, in pairs
  std::vector<float> bias_values;
  bool seeded = false;
  uint64_t seed = 0;
  int32_t choice = 0;                // which of a request's n choices (a stream of its own)
  std::vector<int32_t> stop_ids;     // end-of-sequence ids and stop_token_ids
  std::vector<std::string> stop_strings;
  int32_t logprobs = -1;             // each token's log-probability and the top N (0..20); -1: none
};

// The sampler's parameters of a request.
inline model::sampling_params sampling_of(const decoding& d) {
  model::sampling_params p;
  p.temperature = d.temperature;
  p.top_p = d.top_p;
  p.top_k = d.top_k;
  p.min_p = d.min_p;
  p.presence_penalty = d.presence_penalty;
  p.frequency_penalty = d.frequency_penalty;
  p.repetition_penalty = d.repetition_penalty;
  for (size_t i = 0; i < d.bias_ids.size() && i < d.bias_values.size(); ++i)
    p.logit_bias.emplace_back(d.bias_ids[i], d.bias_values[i]);
  p.seed = d.seed;
  p.choice = d.choice;
  p.logprobs = d.logprobs;
  return p;
}

// ... and back: a request's decoding from the sampler's parameters (`seeded`: p.seed is the
// client's); the stop rule is the caller's to add.
inline decoding decoding_of(const model::sampling_params& p, bool seeded) {
  decoding d;
  d.temperature = p.temperature;
  d.top_p = p.top_p;
  d.top_k = p.top_k;
  d.min_p = p.min_p;
  d.presence_penalty = p.presence_penalty;
  d.frequency_penalty = p.frequency_penalty;
  d.repetition_penalty = p.repetition_penalty;
  for (const auto& [id, bias] : p.logit_bias) {
    d.bias_ids.push_back(id);
    d.bias_values.push_back(bias);
  }
  d.seeded = seeded;
  d.seed = p.seed;
  d.choice = p.choice;
  d.logprobs = p.logprobs;
  return d;
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decoding& x) {
  return f(caf::meta::type_name("decoding"), x.temperature, x.top_p, x.min_p, x.top_k, x.presence_penalty,
           x.frequency_penalty, x.repetition_penalty, x.bias_ids, x.bias_values, x.seeded, x.seed, x.choice,
           x.stop_ids, x.stop_strings, x.logprobs);
}

struct generate_request {
  std::string prompt;          // text, read as bytes (the byte-level tokenizer); ignored when prompt_ids is set
  int32_t max_tokens = 16;
  int32_t deadline_ms = 0;     // 0: the router's default
  // Chosen by the client and kept across its retries: a retry that reaches a router still
  // holding the request joins it instead of starting it again.  Empty: no retries.
  std::string client_id;
  // Where the tokens go as they are produced (token_chunk, through the router); null: none, the
  // result carries them all at the end (it always does).
  caf::actor stream;
  std::vector<int32_t> prompt_ids;  // the prompt as the model's tokenizer made it (at the edge, once)
  decoding how;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generate_request& x) {
  return f(caf::meta::type_name("generate_request"), x.prompt, token_block{x.prompt_ids}, x.how, x.max_tokens, x.deadline_ms,
           x.client_id, x.stream);
}

// Output tokens as the decode node produces them: `tokens` are the output's tokens from index
// `offset` on (0: the first token, from the prefill).  Every 20 ms for a streamed request (the
// router passes them to its stream), every 500 ms for the others (the router keeps them: a
// request whose decode node is lost resumes from them, sched/resume.h).  A request run again
// after a fault continues at the offset it had reached, or starts again from 0 with the same
// tokens: a sink keeps what it has not seen yet.  Decode node -> router -> the request's stream.
struct token_chunk {
  uint64_t request = 0;
  int32_t offset = 0;
  std::vector<int32_t> tokens;
  int32_t attempt = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_chunk& x) {
  return f(caf::meta::type_name("token_chunk"), x.request, x.offset, token_block{x.tokens}, x.attempt);
}

struct generate_result {
  uint64_t request = 0;
  std::vector<int32_t> tokens;
  std::string path;            // "prfaas" or "local"
  std::string prefill_node;
  std::string decode_node;
  double ttft_ms = 0;          // router accept -> first token available on the decode node
  double tokens_per_s = 0;     // decode rate after the first token
  double total_ms = 0;
  int64_t kv_bytes = 0;        // KV payload bytes moved prefill -> decode
  // The prompt's start the decode node held in its prefix cache (whole blocks): its KV was not
  // sent, kv_held_bytes of it.
  int32_t decode_cached_tokens = 0;
  int64_t kv_held_bytes = 0;
  int32_t cached_tokens = 0;   // prompt tokens the prefill reused from a prefix cache
  int32_t uncached_tokens = 0; // prompt tokens it computed
  std::string cache_source;    // none | own | peer | remote (sched::cache_source)
  sched::timeline timeline;    // where its time went (runtime/sched/request_log.h)
  bool stopped = false;        // a stop token or string ended it (else max_tokens did)
  uint64_t seed = 0;           // the seed its sampling used (the client's or the router's)
  std::vector<model::token_logprobs> logprobs;  // per token, when asked for
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generate_result& x) {
  return f(caf::meta::type_name("generate_result"), x.request, token_block{x.tokens}, x.path, x.prefill_node,
           x.decode_node, x.ttft_ms, x.tokens_per_s, x.total_ms, x.kv_bytes, x.decode_cached_tokens,
           x.kv_held_bytes, x.cached_tokens,
           x.uncached_tokens, x.cache_source, x.timeline, x.stopped, x.seed, x.logprobs);
}

// A client process's requests to one router go through its door (client_door.hpp), a round of
// the door's mailbox in one message; the router answers each by its ticket, its answers to one
// door of one round of its own mailbox in one message.  Per-message costs (a BASP frame, a TLS
// record, system calls, a wake-up on each end) are paid once per round, not per request.
struct submission {
  uint64_t ticket = 0;  // the door's, unique among its requests waiting
  generate_request request;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, submission& x) {
  return f(caf::meta::type_name("submission"), x.ticket, x.request);
}

struct door_answer {
  uint64_t ticket = 0;
  generate_result result;  // when error is none
  caf::error error;        // the router's verdict, as a client of its own would get it
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, door_answer& x) {
  return f(caf::meta::type_name("door_answer"), x.ticket, x.result, x.error);
}

struct prefill_job {
  uint64_t request = 0;
  std::vector<int32_t> prompt;
  std::string decode_endpoint; // where the KV goes
  int32_t deadline_ms = 0;     // time the request has left when sent (0: none); checked after every layer
  int32_t attempt = 0;         // the router's attempt: a cancellation names it
  decoding how;                // the first token is sampled here
  // The decode node holds the prompt's first tokens already (whole blocks, from its prefix
  // cache): their blocks are not sent, only the rest and the linear states.
  int32_t decode_held_tokens = 0;
  // A request resumed after its decode node was lost (sched/resume.h): `prompt` holds its output
  // but the last token, and that token (>= 0) is the first, not chosen again.  -1: choose it.
  int32_t next_token = -1;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prefill_job& x) {
  return f(caf::meta::type_name("prefill_job"), x.request, token_block{x.prompt}, x.decode_endpoint, x.deadline_ms, x.attempt, x.how,
           x.decode_held_tokens, x.next_token);
}

struct prefill_report {
  uint64_t request = 0;
  int32_t attempt = 0;          // the job's
  int64_t kv_bytes = 0;
  double prefill_ms = 0;
  int32_t cached_tokens = 0;    // restored from the node's prefix cache
  int32_t computed_tokens = 0;  // computed: the prompt less the cached prefix
  sched::prefill_phases phases; // for the request's timeline
  // The first token's log-probabilities go with the KV to the decode node (request_done).
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prefill_report& x) {
  return f(caf::meta::type_name("prefill_report"), x.request, x.attempt, x.kv_bytes, x.prefill_ms, x.cached_tokens,
           x.computed_tokens, x.phases.started_ms, x.phases.first_kv_ms, x.phases.computed_ms, x.phases.last_kv_ms);
}

// A prefill job the node could not do, or whose KV did not cross: the cause, naming the node.
struct prefill_failed {
  uint64_t request = 0;
  int32_t attempt = 0;
  errc code = errc::internal;
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prefill_failed& x) {
  return f(caf::meta::type_name("prefill_failed"), x.request, x.attempt, x.code, x.error);
}

// A job of a lost router's that a prefill node still holds (queued, or its KV crossing), told
// to the next router once registered with it: the request's prefill is this node's there too,
// so its report counts and the node's loss re-dispatches it (sched::prefill_held).
struct held_prefill {
  uint64_t request = 0;
  int32_t attempt = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, held_prefill& x) {
  return f(caf::meta::type_name("held_prefill"), x.request, x.attempt);
}

// A prefill node's answers to its jobs (one way, a round's together: std::vector<prefill_job>),
// gathered until it next reads its mailbox, ends a job, or looks at its KV staging between
// layers of a long prefill (reports then go at once).
struct prefill_news {
  std::vector<prefill_report> reports;  // the KV confirmed by the decode node
  std::vector<prefill_failed> failed;
  std::vector<held_prefill> holding;    // a new router's first news: the last one's jobs held
  bool empty() const { return reports.empty() && failed.empty() && holding.empty(); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prefill_news& x) {
  return f(caf::meta::type_name("prefill_news"), x.reports, x.failed, x.holding);
}

// A node's prefix cache now (kv::prefix_cache_stats), for `prfaas status`.
struct cache_stats {
  std::string node;
  int64_t bytes = 0, blocks = 0, snapshots = 0;
  int64_t lookups = 0, hits = 0, lookup_tokens = 0, hit_tokens = 0, evictions = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_stats& x) {
  return f(caf::meta::type_name("cache_stats"), x.node, x.bytes, x.blocks, x.snapshots, x.lookups, x.hits,
           x.lookup_tokens, x.hit_tokens, x.evictions);
}

// A prefix moving between two nodes' caches over the data plane (sched::pull_cache): the
// receiving prefill node arms its KV receiver for `tokens` of `prompt`; the holding node sends
// them to `endpoint`; the receiver reports cache_pulled when they are in its cache (tokens = 0:
// they did not arrive, and the prefill recomputes them).
struct cache_pull {
  uint64_t request = 0;
  std::vector<int32_t> prompt;
  int32_t tokens = 0;
  int32_t attempt = 0;         // echoed in cache_pulled
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_pull& x) {
  return f(caf::meta::type_name("cache_pull"), x.request, token_block{x.prompt}, x.tokens, x.attempt);
}

struct cache_push {
  uint64_t request = 0;
  std::vector<int32_t> prompt;
  int32_t tokens = 0;
  std::string endpoint;        // the receiving node's data endpoint
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_push& x) {
  return f(caf::meta::type_name("cache_push"), x.request, token_block{x.prompt}, x.tokens, x.endpoint);
}

struct cache_pulled {
  uint64_t request = 0;
  int32_t tokens = 0;
  int32_t attempt = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_pulled& x) {
  return f(caf::meta::type_name("cache_pulled"), x.request, x.tokens, x.attempt);
}

// What a node's prefix cache inserted and evicted since its last update (kv::cache_delta), in
// one batch per prefill.  `reset`: forget what the node published before (it restarted, or it
// re-publishes everything for a restarted directory).
struct cache_update {
  std::string node;
  std::string cluster;
  bool reset = false;
  std::vector<uint64_t> added_blocks, removed_blocks, added_snapshots, removed_snapshots;
  cache_stats stats;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_update& x) {
  return f(caf::meta::type_name("cache_update"), x.node, x.cluster, x.reset, x.added_blocks, x.removed_blocks,
           x.added_snapshots, x.removed_snapshots, x.stats);
}

// What the cache directory applied since its last news to the router, which keeps the same
// index (kv::prefix_directory) and matches prompts against it without asking.  `reset`: the
// router's copy starts over (a snapshot follows in this and the next messages: each node's
// keys as updates, the first of a node's with reset set).
struct directory_news {
  bool reset = false;
  std::vector<cache_update> updates;
  std::vector<std::string> dropped;  // nodes lost
  bool empty() const { return !reset && updates.empty() && dropped.empty(); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, directory_news& x) {
  return f(caf::meta::type_name("directory_news"), x.reset, x.updates, x.dropped);
}

struct decode_job {
  uint64_t request = 0;
  int32_t prompt_tokens = 0;
  int32_t max_tokens = 0;
  std::vector<int32_t> prompt; // the finished sequence goes into the node's prefix cache under its keys
  int32_t attempt = 0;         // echoed in decode_started / decode_result / decode_failed
  bool stream = false;         // send token_chunks to the router as tokens come
  decoding how;                // sampling (penalties read `prompt`) and the stop rule
  // A request resumed after its decode node was lost (sched/resume.h): the output so far, its
  // last token the next input.  The KV that arrives holds `prompt` and the rest of it
  // (prompt_tokens = prompt + output - 1).  Empty: a fresh request.
  std::vector<int32_t> output;
  // The prefill job went out beside this one and sends the whole KV: hold nothing from the cache
  // (answer 0).  Else the answer says what the cache holds, and the prefill job then skips it.
  bool whole_kv = false;
  // What a next router needs to take the request over from this node's report (held_request)
  // should this one be lost: the client's id and certificate, the time left, the path.
  std::string client_id;
  std::string owner;
  int32_t deadline_ms = 0;     // 0: none
  bool prfaas = false;
  std::string prefill_node;    // whose prefill job sends the KV: only its word counts then (held_request)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decode_job& x) {
  return f(caf::meta::type_name("decode_job"), x.request, x.prompt_tokens, x.max_tokens, token_block{x.prompt}, x.attempt, x.stream,
           x.how, token_block{x.output}, x.whole_kv, x.client_id, x.owner, x.deadline_ms, x.prfaas, x.prefill_node);
}

// A request a decode node holds for a router that was lost: a new leader takes it over
// (sched::request_adopted) and a client's retry joins it by client id, so neither its prefill
// nor its decoding so far runs again.  `kv_landed`: its KV landed (it decodes, or ended); else it
// is reserved and its KV still awaited from the prefill the lost router started, which the
// prefill node holding it says to the new leader (held_prefill), or which is run again.
struct held_request {
  uint64_t request = 0;
  int32_t attempt = 0;
  std::string client_id;
  std::string owner;
  std::vector<int32_t> prompt;
  int32_t max_tokens = 0;
  decoding how;
  bool stream = false;
  bool prfaas = false;
  int32_t deadline_ms = 0;        // left (0: none)
  std::vector<int32_t> output;    // so far
  bool kv_landed = true;
  std::string prefill_node;       // the lost router's decode_job::prefill_node
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, held_request& x) {
  return f(caf::meta::type_name("held_request"), x.request, x.attempt, x.client_id, x.owner, token_block{x.prompt}, x.max_tokens,
           x.how, x.stream, x.prfaas, x.deadline_ms, token_block{x.output}, x.kv_landed, x.prefill_node);
}

// A decode node's report to a new router, once registered with it: what it still holds of the
// last one's requests.  The answer names those the router took over; the node drops the rest.
struct held_report {
  std::string node;
  std::vector<held_request> requests;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, held_report& x) {
  return f(caf::meta::type_name("held_report"), x.node, x.requests);
}

struct decode_started {
  uint64_t request = 0;
  int64_t kv_bytes = 0;        // KV payload bytes that landed for it
  int32_t attempt = 0;
  sched::decode_phases phases; // for the request's timeline
  int64_t kv_held_bytes = 0;   // the prompt's KV it held already (its cache), not sent
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decode_started& x) {
  return f(caf::meta::type_name("decode_started"), x.request, x.kv_bytes, x.attempt, x.phases.first_kv_ms,
           x.phases.last_kv_ms, x.kv_held_bytes);
}

struct decode_result {
  uint64_t request = 0;
  std::vector<int32_t> tokens;
  double decode_ms = 0;        // after the first token
  int32_t attempt = 0;
  bool stopped = false;        // its stop condition ended it
  std::vector<model::token_logprobs> logprobs;  // when asked for; the first token's came with the KV
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decode_result& x) {
  return f(caf::meta::type_name("decode_result"), x.request, token_block{x.tokens}, x.decode_ms, x.attempt, x.stopped, x.logprobs);
}

// The decode node gave the request up: its KV did not arrive (the transport's code) or the
// node could not decode it (the engine's).  The code is the node's word; the router's core
// decides what it means (core.h: which codes are worth another attempt).
struct decode_failed {
  uint64_t request = 0;
  std::string error;
  int32_t attempt = 0;
  errc code = errc::transport_failed;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decode_failed& x) {
  return f(caf::meta::type_name("decode_failed"), x.request, x.error, x.attempt, x.code);
}

// A decode job's answer: the sequence reserved and the receiver armed for its KV, with the
// prompt tokens the node's cache lent it (their KV is not sent).  A refusal is a decode_failed.
struct reservation {
  uint64_t request = 0;
  int32_t attempt = 0;
  int32_t held = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reservation& x) {
  return f(caf::meta::type_name("reservation"), x.request, x.attempt, x.held);
}

// What a decode node tells its router, gathered per round of its mailbox (outbox.hpp): the jobs
// it reserved, the sequences whose KV landed (their first token), output for streams and
// checkpoints, what ended, what it refused or gave up.  The router reads them in this order, so a
// request's reservation comes before its start, its start before its tokens and its tokens
// before its result.
struct decode_news {
  std::vector<reservation> reserved;
  std::vector<decode_started> started;
  std::vector<token_chunk> chunks;
  std::vector<decode_result> results;
  std::vector<decode_failed> failed;

  bool empty() const {
    return reserved.empty() && started.empty() && chunks.empty() && results.empty() && failed.empty();
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decode_news& x) {
  return f(caf::meta::type_name("decode_news"), x.reserved, x.started, x.chunks, x.results, x.failed);
}

// A KV receiver's event about one transfer (transport::transfer_event), from its thread to the
// role actor expecting the transfer; never crosses a process.
struct kv_event {
  uint64_t request = 0;
  int32_t kind = 0;                     // transport::transfer_event::kind_t
  int32_t first_token = 0;              // complete
  int64_t first_payload_ns = 0;         // complete: when its first payload landed (steady clock)
  errc code = errc::transport_failed;   // failed
  std::string error;                    // failed: the cause, naming the peer
  bool has_first_logprobs = false;      // complete: the prefill sent the first token's
  model::token_logprobs first_logprobs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_event& x) {
  return f(caf::meta::type_name("kv_event"), x.request, x.kind, x.first_token, x.first_payload_ns, x.code, x.error,
           x.has_first_logprobs, x.first_logprobs);
}

// A prefill node's KV egress over its links, every report period (runtime/transport/link_stats).
struct link_report {
  std::string node;
  bool prfaas = false;
  double egress_gbps = 0;          // bytes written per second, all links, last period
  double capacity_gbps = 0;        // this node's share of the link (0: unknown)
  int64_t bytes_in_flight = 0;     // posted, not yet written
  int32_t links = 0, connections = 0;
  uint32_t rtt_us = 0;             // worst connection
  uint32_t retransmits = 0;        // all connections, cumulative
  uint32_t cwnd = 0;               // smallest congestion window (segments)
  uint64_t delivery_rate_bps = 0;  // sum of the kernel's estimates, bytes/s
  // The egress over the last period if KV waited to be written all along (the link, not the
  // work, set the pace: transport::telemetry_gate), Gbit/s; 0: nothing measured now (idle, or a
  // link paced in user space, whose rate is the one said).
  double measured_gbps = 0;
  double bdp_bytes = 0;            // the largest path bandwidth-delay product measured (transport/path_sizing)
  int32_t wanted_connections = 0;  // connections that path needs (a link gets them between transfers)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_report& x) {
  return f(caf::meta::type_name("link_report"), x.node, x.prfaas, x.egress_gbps, x.capacity_gbps,
           x.bytes_in_flight, x.links, x.connections, x.rtt_us, x.retransmits, x.cwnd, x.delivery_rate_bps,
           x.bdp_bytes, x.wanted_connections, x.measured_gbps);
}

// A prefill node's KV staging (runtime/transport/kv_staging.h) filled up, or has room again:
// while full, the router gives it no new work (backpressure from the link, not a failure).
struct staging_report {
  std::string node;
  bool full = false;
  int64_t used_bytes = 0, capacity_bytes = 0;
  int32_t staged = 0;  // sequences whose KV is crossing
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, staging_report& x) {
  return f(caf::meta::type_name("staging_report"), x.node, x.full, x.used_bytes, x.capacity_bytes, x.staged);
}

struct router_status {
  std::vector<node_info> nodes;
  std::vector<link_report> links;  // the latest report of each prefill node
  std::vector<cache_stats> caches; // the latest of each node with a prefix cache
  double prfaas_egress_gbps = 0;   // PrfaaS cluster egress, sum over its nodes
  double link_gbps = 0;            // the inter-cluster link's capacity now (0: unknown)
  std::string link_source;         // where that figure comes from: configured, said, measured
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t in_flight = 0;
  int32_t threshold_tokens = 0;    // t now
  int32_t threshold_moves = 0;     // by the live controller since the router started
  double offload_share = 0;        // requests completed on the PrfaaS path, last minute
  int32_t recent_completed = 0;    // requests completed, last minute
  int32_t conversions = 0;         // nodes that changed role (prefill <-> decode) since it started
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, router_status& x) {
  return f(caf::meta::type_name("router_status"), x.nodes, x.links, x.caches, x.prfaas_egress_gbps, x.link_gbps,
           x.completed, x.failed, x.in_flight, x.threshold_tokens, x.threshold_moves, x.offload_share,
           x.recent_completed, x.conversions, x.link_source);
}

// Renders an error for a person: "node_lost: decode node decode-1 lost (...)".
std::string describe(const caf::error& err);
// An error's own words without its code: its context's strings, joined by ": ".
std::string error_words(const caf::error& err);

}  // namespace prfaas::actors

CAF_ERROR_CODE_ENUM(prfaas::errc, "prfaas")

CAF_BEGIN_TYPE_ID_BLOCK(prfaas, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::node_info))
  CAF_ADD_TYPE_ID(prfaas, (std::vector<prfaas::actors::node_info>))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::generate_request))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::generate_result))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::prefill_job))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::prefill_report))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::decode_job))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::decode_started))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::decode_result))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::decode_failed))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::router_status))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::link_report))
  CAF_ADD_TYPE_ID(prfaas, (std::vector<prfaas::actors::link_report>))
  CAF_ADD_TYPE_ID(prfaas, (std::vector<int32_t>))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::directory_news))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::cache_stats))
  CAF_ADD_TYPE_ID(prfaas, (std::vector<prfaas::actors::cache_stats>))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::cache_update))
  CAF_ADD_TYPE_ID(prfaas, (std::vector<uint64_t>))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::cache_pull))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::cache_push))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::cache_pulled))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::registration_proof))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::sched::timeline))
  CAF_ADD_TYPE_ID(prfaas, (std::vector<uint8_t>))
  CAF_ADD_ATOM(prfaas, prfaas::atoms, register_atom, "register")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, status_atom, "status")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, watch_atom, "watch")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, abort_atom, "abort")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, tick_atom, "tick")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, step_atom, "step")
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::kv_event))
  CAF_ADD_ATOM(prfaas, prfaas::atoms, deadline_atom, "deadline")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, shutdown_atom, "shutdown")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, drop_atom, "drop")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, republish_atom, "republish")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, router_atom, "router")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, reconnect_atom, "reconnect")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, drain_atom, "drain")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, link_atom, "link")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, convert_atom, "convert")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, rebalance_atom, "rebalance")
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::token_chunk))
  CAF_ADD_ATOM(prfaas, prfaas::atoms, cancel_atom, "cancel")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, metrics_atom, "metrics")
  CAF_ADD_ATOM(prfaas, prfaas::atoms, trace_atom, "trace")
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::staging_report))
  CAF_ADD_ATOM(prfaas, prfaas::atoms, orphan_atom, "orphan")
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::held_report))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::decode_news))
  CAF_ADD_TYPE_ID(prfaas, (std::vector<prfaas::actors::decode_job>))
  CAF_ADD_ATOM(prfaas, prfaas::atoms, flush_atom, "flush")
  CAF_ADD_TYPE_ID(prfaas, (std::vector<prfaas::actors::submission>))
  CAF_ADD_TYPE_ID(prfaas, (std::vector<prfaas::actors::door_answer>))
  CAF_ADD_TYPE_ID(prfaas, (std::vector<prfaas::actors::prefill_job>))
  CAF_ADD_TYPE_ID(prfaas, (prfaas::actors::prefill_news))
CAF_END_TYPE_ID_BLOCK(prfaas)

#pragma once
// A deployment's configuration: one TOML file read by `prfaas up` and by every node.
//
//   [engine]       kind ("tiny" | "hf" | "emulated"), model (hf: a checkpoint folder), profile,
//                  profile_prfaas, time_scale, kv_scale, max_context, seed
//   [model]        fields of model_config (all optional; defaults are the built-in tiny model;
//                  with kind = "hf" only block_tokens and max_context, the shape being the
//                  checkpoint's; not with an emulated engine, whose layout follows its profile)
//   [router]       threshold_tokens, deadline_ms, heartbeat_ms, node_timeout_ms, max_in_flight,
//                  pull_min_tokens, reserve_with_prefill, bandwidth_abundant, max_attempts, queue_max, drain_ms, settle_ms,
//                  controller, controller_period_ms, profile_prfaas, profile_pd, output_tokens,
//                  rebalancer, rebalance_period_ms
//   [node]         kv_blocks, max_sequences, threads, prefill_token_budget, news_gap_ms, log_format
//   [cache]        budget_mib, snapshot_every_blocks
//   [transport]    connections, max_inflight_mib, staging_mib, secret_file, link_gbps, emulate_link,
//                  link_delay_ms, receive_timeout_ms, resume_timeout_ms, encrypt
//   [gateway]      enabled, port, replicas, model, api_key_file, max_body_bytes, max_open, max_tokens
//   [control]      standby_routers, etcd, lease_s, etcd_port
//   [deployment]   host, router_port, prfaas_prefill, local_prefill, decode,
//                  prfaas_cluster, local_cluster, router_host, prfaas_host, local_host
//   [hosts]        NAME = "ADDRESS", one per machine of a deployment across hosts
//   [faults]       seed, drop_frame, reset_link, delay_layer_ms, fail_alloc, crash_role
//                  (runtime/faults/fault_points.h; all off by default)
//
// Unknown tables or keys are errors, so a typo never silently falls back to a default; a value
// of the wrong type or outside its range (every value has one: sizes that would crash, exhaust
// memory or fork without end are refused) is an error too; every error names the file and line.  configs/default.toml holds the defaults, written out.

#include <cstdint>
#include <map>
#include <string>

#include "runtime/faults/fault_points.h"
#include "runtime/model/config.h"

namespace prfaas::config {

struct router_config {
  int threshold_tokens = 1024;   // t: prompts with more uncached tokens go to the PrfaaS cluster
  int deadline_ms = 60000;       // default per-request deadline
  int heartbeat_ms = 200;        // middleman heartbeat between nodes
  int node_timeout_ms = 3000;    // a silent (hung) peer is declared lost after this
  int max_in_flight = 1024;      // requests the router holds at once; more are refused
  int pull_min_tokens = 256;     // move another node's cached prefix when it beats recomputing by this much (0: never)
  bool bandwidth_abundant = false;  // the other cluster's cache hits count and are moved across
  // Send the decode reservation and the prefill job at once when the reservation's answer cannot
  // change the job (the directory says the decode node holds none of the prompt, nothing is
  // pulled); false: always one after the other (a round trip more before each prefill).
  bool reserve_with_prefill = true;
  int max_attempts = 3;          // dispatches per request: a lost node's requests run again elsewhere
  int queue_max = 256;           // requests waiting for room (FIFO) before no_capacity
  int drain_ms = 30000;          // a node told to stop (SIGTERM) finishes its work for at most this long
  int settle_ms = 1000;          // a starting router routes nothing before its nodes had this long to register
  // The most one actor-plane message may declare, MiB: a peer declaring more (or sending a
  // header CAF must not see) loses its connection before CAF parses it (every process).
  int max_message_mib = 16;
  // New connections one address may open per second to an actor-plane port (twice that at
  // once); beyond, they are closed at accept (runtime/security/accept_limit.h).
  int accepts_per_peer_per_s = 32;
  // The live threshold controller (policy::threshold_controller, the simulator's): every period
  // it reads the measured PrfaaS egress against the link's capacity and the PrfaaS queues, and
  // moves t.  Needs the two clusters' instance profiles and transport.link_gbps.
  bool controller = false;
  int controller_period_ms = 1000;
  std::string profile_prfaas;    // relative paths are taken from the config file's folder; with an
  std::string profile_pd;        // emulated engine, empty means the engine's profiles, scaled
  int output_tokens = 64;        // mean output length the controller plans with
  // The live P/D rebalancer (policy::rebalancer, the simulator's): every period it converts one
  // local node between prefill and decode when one stage is busy and the other idle.
  bool rebalancer = false;
  int rebalance_period_ms = 30000;
};

struct node_config {
  int kv_blocks = 1024;          // block pool size per node (the prefix cache draws from it too)
  int max_sequences = 8;         // decode: sequences held at once
  int threads = 2;               // compute threads per node
  // Prefill batches: a prefill node takes its waiting jobs together while their prompts fit this
  // many tokens (one job at least) and completes them together, as the simulator's batches.
  // 0: one job at a time.
  int prefill_token_budget = 0;
  // A node's news to the router (reports, starts, results, failures) go in at most one message
  // per this many milliseconds: what comes sooner waits, gathered (actors/outbox.hpp).  The
  // router then reads many requests' news per message under load; idle, nothing waits.
  double news_gap_ms = 0;
  std::string log_format = "text";  // text | json (one JSON object a line)
};

struct cache_config {
  int budget_mib = 32;           // each node's prefix cache: KV blocks and state snapshots held
  int snapshot_every_blocks = 4; // linear-state snapshots every N blocks (and at the prompt's end)
};

struct transport_config {
  int connections = 4;           // TCP connections per KV link
  int max_connections = 16;      // a link whose path's bandwidth-delay product needs more gets up to this many
  double kernel_pacing_gbps = 0; // each KV link's rate, paced by the kernel (SO_MAX_PACING_RATE); 0: none
  int max_inflight_mib = 64;     // posted and unwritten KV per link (backpressure window)
  // A prefill node's finished sequences whose KV is still crossing (transport/kv_staging.h): the
  // node computes on while they cross; when they fill this, it waits and takes no new work.
  int staging_mib = 1024;
  std::string secret_file;       // the deployment's shared secret; `prfaas up` makes one if empty
  double link_gbps = 0;          // capacity of the PrfaaS -> local link (0: unknown)
  bool emulate_link = false;     // pace PrfaaS egress to link_gbps (shared evenly by its nodes)
  double link_delay_ms = 0;      // added one-way delay on PrfaaS egress (emulation)
  int receive_timeout_ms = 5000; // a KV peer silent this long mid-transfer is dropped (then resumed)
  int resume_timeout_ms = 15000; // a broken KV transfer is resumed within this, or fails
  bool encrypt = false;          // AES-256-GCM on KV payloads (links over networks not owned)
};

// The OpenAI-compatible HTTP gateway (actors/gateway.cpp), started by `prfaas up`.
struct gateway_config {
  bool enabled = true;
  int port = 0;                   // 0: any free port (`prfaas status` prints it)
  // Independent doors, each a process on its own port (port + i when the port is fixed), all
  // listed by `prfaas status`: losing one loses only its own connections.  Unset in a config
  // file that runs standby routers: two (no lone door where the router does not stand alone).
  int replicas = 1;
  std::string model;              // the model name clients ask for (default: prfaas-ENGINE)
  std::string api_key_file;       // one key per line; empty: no key needed
  int max_body_bytes = 4 << 20;   // larger request bodies get 413
  int max_open = 64;              // requests in progress at once; more get 429
  int max_tokens = 4096;          // the most a request may ask for
  int max_n = 8;                  // choices per request (`n`)
  // Connections not being answered (opening, idle, sending a request): at most
  // max_waiting_per_peer from one address and max_waiting in all, each shut after
  // idle_timeout_ms with nothing sent to it (runtime/security/connection_guard.h): one client
  // holding idle or trickling connections fills its own slots only.
  int max_waiting = 512;
  int max_waiting_per_peer = 32;
  int idle_timeout_ms = 10000;
  int accepts_per_peer_per_s = 64;  // new connections one address may open a second (twice at once)
  // A request field the runtime does not know is a 400 naming it; true: ignored, as OpenAI's
  // own server ignores fields.
  bool ignore_unknown_fields = false;
  // HTTPS: a certificate of the deployment's CA made by `prfaas up` (or cert_file / key_file,
  // PEM); plain HTTP is then refused.  Off: plain HTTP (loopback deployments).
  bool tls = false;
  std::string cert_file, key_file;
};

// Standby routers (runtime/control/leadership.h): routers beside the leader, elected through
// etcd; nodes, gateways and clients reach whichever etcd names.
struct control_config {
  int standby_routers = 0;        // 0: one router, restarted in place by `prfaas up`
  std::string etcd;               // "HOST:PORT,..." of an etcd to use; empty: `prfaas up` runs one
  int lease_s = 1;                // a lost leader is replaced within about this
  int etcd_port = 0;              // the embedded etcd's client port (0: any free one)
  bool standby() const { return standby_routers > 0; }
};

struct deployment_layout {
  std::string host = "127.0.0.1";
  int router_port = 0;           // 0: any free port
  int prfaas_prefill = 2;
  int local_prefill = 1;
  int decode = 2;
  std::string prfaas_cluster = "prfaas";
  std::string local_cluster = "local";
  // Across hosts: the named host ([hosts]) of each group of nodes; all empty: every node on
  // `host`.  `prfaas up --host NAME` on each machine starts that host's nodes.
  std::string router_host;   // the router, the cache directory and the gateway
  std::string prfaas_host;   // the PrfaaS cluster's prefill nodes
  std::string local_host;    // the local PD cluster's prefill and decode nodes
  bool across_hosts() const { return !router_host.empty(); }
};

// What the nodes compute with (runtime/engine/engine.h).  "tiny": the built-in seeded model of
// [model]; "hf": a checkpoint folder; "emulated": a hardware profile played back.
// "emulated": a hardware profile played back in time (runtime/engine/emulated_engine.h); the
// KV layout (`model` below) is then derived from `profile` and `kv_scale`.
struct engine_config {
  std::string kind = "tiny";     // the built-in seeded model | "hf": a checkpoint folder | "emulated"
  std::string model;             // kind = "hf": the folder (relative: to the config file)
  std::string profile;           // every node's instance profile (relative: to the config file)
  std::string profile_prfaas;    // the PrfaaS cluster's nodes (default: profile)
  double time_scale = 1;         // profile times are divided by this
  double kv_scale = 1;           // profile KV bytes per token are divided by this (1..1e6)
  int max_context = 135168;      // prompt plus output tokens
  uint64_t seed = 1;             // seeds the token hash
  double effective_kv_scale = 1; // what the layout achieves (set when the config is read)
  // Where the model computes: "cpu"; "cuda" / "cuda:N" are read and refused by name (no GPU
  // engine computes the Qwen3-Next layers yet).
  std::string device = "cpu";
  bool emulated() const { return kind == "emulated"; }
  bool checkpoint() const { return kind == "hf"; }
  // -1 for the CPU, else the GPU's number.  Throws failure(bad_config) naming a bad value.
  int device_index() const;
};

struct deployment_config;
// Points a deployment at a checkpoint folder (`prfaas up --model`, `prfaas-node --model`):
// engine.kind becomes "hf" and the model's shape the checkpoint's (its layout fields stay).
// Throws failure(bad_config) naming the cause.
void use_model(deployment_config& config, const std::string& dir);

struct deployment_config {
  engine_config engine;
  model::model_config model;
  router_config router;
  node_config node;
  cache_config cache;
  transport_config transport;
  deployment_layout deployment;
  gateway_config gateway;
  control_config control;
  fault_options faults;
  std::map<std::string, std::string> hosts;  // [hosts]: name -> the address its nodes listen on
  // The address of the host a group is placed on (deployment.host when not across hosts).
  std::string address_of(const std::string& host_name) const {
    return host_name.empty() ? deployment.host : hosts.at(host_name);
  }
};

// Throws failure(bad_config) with "FILE:LINE: what".
deployment_config load_config(const std::string& path);
// The model's name in the OpenAI API: gateway.model, else the checkpoint folder's name, else
// "prfaas-" and the engine's kind.
std::string served_model_name(const deployment_config& config);
deployment_config parse_config(const std::string& text, const std::string& source_name);

}  // namespace prfaas::config

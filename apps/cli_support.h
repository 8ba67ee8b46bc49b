#pragma once
#include <CLI/CLI.hpp>

#include "actors/messages.hpp"
// What the prfaas commands share: the error they print and exit on, the client's actor system,
// reaching a router, and starting a deployment and waiting until it routes.

#include <caf/all.hpp>
#include <csignal>
#include <string>

#include "actors/client.hpp"
#include "actors/system_config.hpp"
#include "apps/launcher.h"
#include "runtime/common/endpoint.h"
#include "runtime/config/deployment_config.h"

#include <nlohmann/json.hpp>

namespace prfaas::apps {

// A command's failure: printed on stderr, exit status 1.
// Sampling flags of the commands that generate (generate, replay): what a request's `how` says.
struct sampling_flags {
  float temperature = 0, top_p = 1;
  int top_k = 0;
  long long seed = -1;                  // -1: none (the router picks one)
  std::vector<int32_t> stop_token_ids;
  void add_to(CLI::App& cmd);
  // The request's decoding; `seed_offset` is added to the seed (replay: the request's index).
  actors::decoding decoding(long long seed_offset = 0) const;
};

struct cli_error {
  std::string message;
};

// A CAF system for a client process: same timing as the nodes, one scheduler thread.
struct client_system {
  actors::system_config cfg;
  caf::actor_system sys;
  client_system(const config::deployment_config& c, const actors::tls_files& tls);
};

// The router's actor, or cli_error naming the address and the attempts.
caf::actor connect(caf::actor_system& sys, const actors::router_locator& router, int attempts = 10);

// Waits until every worker registered with the router, or fails naming the missing ones.
void wait_ready(caf::actor_system& sys, const caf::actor& router, launcher& l, int timeout_ms = 60000);

// Starts every node and returns the router's address once all of them registered and the
// router's settling time (router.settle_ms from its start) has passed: up means routing.
endpoint start_and_wait(launcher& l, caf::actor_system& sys, const config::deployment_config& config);

// A deterministic prompt of about `bytes` bytes of English-like text (demo and benchmarks).
std::string demo_prompt(int seed, int bytes);

// SIGINT and SIGTERM blocked in every thread (then waited for with sigwait).
void block_signals(sigset_t& set);

// What a process has used so far, from /proc: resident memory, CPU (user + system, in clock
// ticks), and its read and write system calls (0 where /proc/PID/io cannot be read).  Throws
// cli_error when the process is gone.
struct process_sample {
  long rss_kib = 0;
  long long ticks = 0;         // user and system
  long long system_ticks = 0;  // of those, in the kernel (system calls, the network stack, scheduling)
  long long syscalls = 0;      // syscr + syscw
  long long switches = 0;      // context switches of all its threads, voluntary or not
};
process_sample sample_process(int pid);

using json = nlohmann::json;

// The deployment's config (none: the defaults); `model_dir` (--model) points it at a checkpoint
// folder.  Errors become cli_error.
config::deployment_config load(const std::string& path, const std::string& model_dir = "");

// The state `prfaas up` keeps in DIR/deployment.json: required, or an empty object when absent.
std::string state_file(const std::string& dir);
json read_state(const std::string& dir);
json read_state_if_any(const std::string& dir);

// Text for a terminal: printable ASCII as is, everything else as \xNN.
std::string printable(const std::string& bytes);
// JSON without throwing on bytes that are not UTF-8.
std::string dump(const json& j);
// A request's result: its text and a summary line on stderr, or one JSON object.
json result_json(const actors::generate_result& r);
void print_result(const actors::generate_result& r, bool as_json);
void print_result_summary(const actors::generate_result& r);

// How a command reaches the actor plane: the deployment's client certificate from --state (or
// --ca/--cert/--key for a deployment elsewhere), or plaintext when the deployment was started
// with --insecure (its state says so) or --insecure is given.
struct client_access {
  std::string state_dir = ".prfaas";
  actors::tls_files tls;
  bool insecure = false;
};

// `as`: the certificate a command needs from the state directory (client; operator for the
// commands that change the deployment).
actors::tls_files client_tls(const client_access& a, const std::string& as = "client");
// --ca, --cert, --key and --insecure on a command that reaches the actor plane.
void add_access_options(CLI::App* cmd, client_access& a);
// --router, or the state directory's router.
// --router, else the deployment's: its router, or with standby routers the leader its etcd names.
actors::router_locator router_address(const std::string& flag, const std::string& state_dir);
// One request, waited for within its deadline (the router's default when 0) and 5 s more.
actors::generate_result remote_generate(caf::actor_system& sys, const caf::actor& router, const std::string& prompt,
                                        int max_tokens, int deadline_ms);

}  // namespace prfaas::apps

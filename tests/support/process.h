#pragma once
// Test support: run prfaas binaries as child processes, and a whole deployment started with
// `prfaas up` that the test owns (stopped, and its processes reaped, when it goes out of scope).

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace prfaas::testing {

struct run_result {
  int status = -1;      // exit status; 128+N when killed by signal N; -1 on timeout
  std::string out, err;
  double seconds = 0;
};

// A fresh directory under the system temp dir, removed by the destructor.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const;  // returns the path

 private:
  std::string path_;
};

// A child process whose stdout and stderr go to files.
class child {
 public:
  child(const std::vector<std::string>& args, const std::string& out_dir);
  ~child();  // SIGKILL if still running
  pid_t pid() const { return pid_; }
  // Waits for exit (timeout_ms; on timeout SIGKILL and status -1).
  run_result wait(int timeout_ms = 60000);

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
  double started_ = 0;
};

run_result run(const std::vector<std::string>& args, int timeout_ms = 60000);

// `prfaas up --state DIR [--config FILE]`, waited until ready.
class deployment {
 public:
  explicit deployment(const std::string& config_text = "");
  ~deployment();
  const std::string& state_dir() const { return state_; }
  std::string router() const;
  // The gateway's "host:port" (empty when the deployment runs none).
  std::string gateway() const;
  pid_t pid_of(const std::string& node) const;  // from the deployment state file, as it is now
  std::string config_path() const { return config_; }
  // `prfaas generate --json` against this deployment.
  run_result generate(const std::string& prompt, int max_tokens, const std::vector<std::string>& extra = {}) const;

 private:
  temp_dir dir_;
  std::string state_, config_;
  std::unique_ptr<child> up_;
  nlohmann::json state_json_;
};

// One host's part of a deployment across hosts: `prfaas up --host HOST` run inside network
// namespace `ns` (netem::host_network), waited until its nodes registered with the router.
class host_deployment {
 public:
  host_deployment(const std::string& ns, const std::string& host, const std::string& config_path,
                  const std::string& state_dir);
  ~host_deployment();  // SIGTERM to its `prfaas up`, which stops its nodes
  // A prfaas command (PRFAAS_CLI ARGS... --state STATE) inside this host's namespace.
  run_result cli(std::vector<std::string> args, int timeout_ms = 120000) const;
  const std::string& state_dir() const { return state_; }

 private:
  std::string ns_, state_;
  std::unique_ptr<child> up_;
};

// The JSON a successful command printed; fails the test (showing stdout and stderr) otherwise.
nlohmann::json parse_ok(const run_result& r);

// `prfaas generate --in-process --json`.
run_result generate_in_process(const std::string& prompt, int max_tokens, const std::string& config_path = "");

std::string text_prompt(int bytes);

// A trace of `n` requests (the shared traces' format) whose input lengths cycle through
// `lengths`, each of 12 output tokens and block ids of its own; written as DIR/trace.jsonl.
std::string write_trace(const temp_dir& dir, int n, const std::vector<int>& lengths);
// `prfaas replay` of `n` requests of `trace` at `concurrency`, 12 tokens each, its outcomes
// written to `outcomes` (for `prfaas check`), JSON on stdout.
std::vector<std::string> replay_args(const deployment& d, const std::string& trace, int n, const std::string& outcomes,
                                     int concurrency);
// A file's whole text ("" when it cannot be read).
std::string slurp(const std::string& path);
// Waits until node `node`'s log in `d` holds `needle`: true, or false after `timeout_ms`.  Tests
// wait for what they need to have happened, never for a fixed time.
bool wait_for_log(const deployment& d, const std::string& node, const std::string& needle, int timeout_ms = 30000);
// The actor-plane port node `node` of `d` published last, from its log ("... listening on HOST:PORT").
uint16_t actor_port(const deployment& d, const std::string& node);
double now_seconds();

}  // namespace prfaas::testing

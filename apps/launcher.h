#pragma once
// Launches a deployment as local processes on loopback (`prfaas up`, `prfaas demo`, tests):
// the router first, then the cache directory, the prefill nodes of both clusters and the decode
// nodes, each a prfaas-node process whose output goes to STATE_DIR/logs/NAME.log.
// Children get SIGTERM if the launcher dies (PR_SET_PDEATHSIG), so nothing outlives it.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "runtime/common/endpoint.h"
#include "runtime/config/deployment_config.h"

namespace prfaas::apps {

struct node_process {
  std::string name;
  std::string role;
  std::string cluster;
  pid_t pid = -1;
  std::string log;
};

class launcher {
 public:
  // config_path may be empty (built-in defaults); it is handed to every node.
  launcher(std::string node_binary, std::string state_dir, std::string config_path,
           config::deployment_config config);
  ~launcher();  // stop()

  // Starts the router and waits for its port; then every other node. Throws failure.
  endpoint start();
  // SIGTERM to every node, SIGKILL to those still alive after `grace_ms`.
  void stop(int grace_ms = 5000);
  // Reaps nodes that exited; returns "NAME (exit status / signal)" for each one.
  std::vector<std::string> reap_exited();

  const std::vector<node_process>& nodes() const { return nodes_; }
  size_t expected_workers() const { return nodes_.empty() ? 0 : nodes_.size() - 1; }
  std::string log_tail(const node_process& node, int lines = 5) const;

 private:
  node_process spawn(const std::string& name, const std::string& role, const std::string& cluster,
                     const std::vector<std::string>& extra);

  std::string node_binary_, state_dir_, config_path_, secret_file_;
  config::deployment_config config_;
  std::vector<node_process> nodes_;
};

// The directory holding this executable (to find prfaas-node beside prfaas).
std::string executable_dir();

}  // namespace prfaas::apps

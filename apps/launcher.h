#pragma once
// Launches a deployment as local processes (`prfaas up`, `prfaas demo`, tests):
// the router first, then the cache directory, the prefill nodes of both clusters, the decode
// nodes and the HTTP gateway ([gateway] enabled), each a prfaas-node process whose output goes to STATE_DIR/logs/NAME.log.
// Children get SIGTERM if the launcher dies (PR_SET_PDEATHSIG), so nothing outlives it.
//
// Unless insecure, prepare() makes the deployment's CA in STATE_DIR/pki (a new one each time: a
// new deployment trusts nothing of an old one), a certificate per node when it is first spawned,
// and one named "client" for the prfaas commands that talk to the router.
//
// Across hosts ([hosts] and deployment.router_host / prfaas_host / local_host), each machine runs
// the launcher for its own host (`prfaas up --host NAME`): it starts only the nodes placed there,
// each listening on that host's address.  The router's host makes the CA, a certificate for
// every node of the deployment and the KV secret, and puts what each other host needs (never the
// CA's key) in STATE_DIR/hosts/NAME; that host's STATE_DIR starts as a copy of it.  The others
// dial the router at its fixed port.
//
// With standby routers ([control] standby_routers), the launcher first starts a single-member
// etcd (Debian's etcd-server, data in STATE_DIR/etcd) unless [control] etcd names one, then the
// router ("router", which leads at start), the standbys ("router-1", ...), each on its own fixed
// port, and every other node with --etcd: they reach whichever router etcd names.
//
// supervise() restarts a node that died (a signal or a non-zero exit; a clean exit, such as a
// drained node's, was meant), with the same arguments (the router on the port it
// had, so the others find it again), after a backoff of 100 ms doubling to 5 s; a node that
// exits kRestartLimit times within kRestartWindow is reported and left down.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "actors/actor_plane.hpp"
#include "runtime/common/endpoint.h"
#include "runtime/config/deployment_config.h"
#include "runtime/security/pki.h"

namespace prfaas::apps {

struct node_process {
  std::string name;
  std::string role;
  std::string cluster;
  pid_t pid = -1;
  std::string log;
  std::vector<std::string> extra;  // role-specific arguments, kept for restarts
  std::vector<double> exits;       // when it exited (steady seconds), for the restart limit
  double restart_at = 0;           // > 0: due for a restart then
  bool left_down = false;          // exited too often
};

inline constexpr int kRestartLimit = 5;
inline constexpr double kRestartWindow = 60;  // seconds

class launcher {
 public:
  // config_path may be empty (built-in defaults); it is handed to every node.
  // `host`: one of the config's [hosts]; only its nodes start (empty: every node).
  launcher(std::string node_binary, std::string state_dir, std::string config_path,
           config::deployment_config config, bool insecure = false, std::string host = "");
  ~launcher();  // stop()

  // Makes the CA and the client's certificate (start() calls it when nobody did); returns the
  // client's credentials (empty when insecure).
  actors::tls_files prepare();

  // Starts the router and waits for its port; then every other node. Throws failure.
  endpoint start();
  // SIGTERM to every node, SIGKILL to those still alive after `grace_ms`.
  void stop(int grace_ms = 5000);
  // Reaps nodes that exited; returns "NAME (exit status / signal)" for each one.
  std::vector<std::string> reap_exited();
  // Reaps exited nodes, schedules their restarts and performs those that are due; returns one
  // line per thing that happened (exit, restart, given up).  Call it when a child exits
  // (SIGCHLD) and when a restart falls due.
  std::vector<std::string> supervise();
  // Seconds until the next scheduled restart falls due (none scheduled: nullopt).
  std::optional<double> next_restart_in() const;

  const std::vector<node_process>& nodes() const { return nodes_; }
  // The nodes that register with the router (all but the router and the gateway).
  size_t expected_workers() const;
  std::vector<std::string> expected_worker_names() const;
  // The first gateway's HTTP address once it listens (config [gateway]); none when disabled or
  // not listening within `timeout_ms`.
  std::optional<endpoint> gateway(int timeout_ms = 10000);
  // Every gateway replica's address, in replica order (gateway, gateway-1, ...), each once it
  // listens; one that does not within `timeout_ms` is left out.
  std::vector<endpoint> gateways(int timeout_ms = 10000);
  // Replica i's node name: "gateway" for the first (as with one), then "gateway-1", ...
  static std::string gateway_name(int i);
  // Router i's node name: "router", then the standbys "router-1", ...
  static std::string router_name(int i);
  // The etcd routers elect their leader in ("HOST:PORT,..."; empty: no standby routers).
  const std::string& etcd() const { return etcd_; }
  std::string log_tail(const node_process& node, int lines = 5) const;

 private:
  // The gateway's HTTPS certificate and key: gateway.cert_file / key_file, else one the
  // deployment's CA issues for `address`.
  security::issued_files https_credentials(const std::string& address) const;
  node_process spawn(const std::string& name, const std::string& role, const std::string& cluster,
                     const std::vector<std::string>& extra, bool append_log = false);
  // Forks and executes `args` (args[0] the binary) with `env`, output to p.log; p.pid set.
  void exec_child(node_process& p, std::vector<std::string> args, std::vector<std::string> env, bool append_log) const;
  // The embedded etcd (role "etcd"): `fresh` wipes its data (a new deployment); a restart keeps it.
  node_process spawn_etcd(bool fresh, bool append_log = false);
  void start_etcd();  // [control] standby_routers without [control] etcd; sets etcd_

  struct placed {  // a node of the deployment and the host it runs on ("" when not across hosts)
    std::string name, role, cluster, host;
  };
  std::vector<placed> plan() const;
  void write_host_bundles() const;
  bool here(const std::string& host) const { return host_.empty() || host == host_; }

  std::string node_binary_, state_dir_, config_path_, secret_file_, host_, etcd_;
  uint16_t etcd_client_port_ = 0, etcd_peer_port_ = 0;
  config::deployment_config config_;
  bool insecure_ = false, prepared_ = false;
  std::vector<node_process> nodes_;
};

// The directory holding this executable (to find prfaas-node beside prfaas).
std::string executable_dir();

}  // namespace prfaas::apps

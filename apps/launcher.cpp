#include "apps/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include "runtime/common/endpoint.h"
#include "runtime/common/errc.h"
#include "runtime/control/etcd_client.h"
#include "runtime/security/pki.h"

namespace prfaas::apps {

namespace {
// A port free on `host` now (the kernel's pick): for processes that must be told their port.
uint16_t free_port(const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) ::close(fd);
  if (port == 0) throw failure(errc::port_in_use, "no free port on " + host);
  return port;
}
}  // namespace

namespace fs = std::filesystem;

std::string executable_dir() { return fs::read_symlink("/proc/self/exe").parent_path().string(); }

launcher::launcher(std::string node_binary, std::string state_dir, std::string config_path,
                   config::deployment_config config, bool insecure, std::string host)
    : node_binary_(std::move(node_binary)), state_dir_(fs::absolute(state_dir).string()),
      config_path_(config_path.empty() ? "" : fs::absolute(config_path).string()), host_(std::move(host)),
      config_(std::move(config)), insecure_(insecure) {
  if (host_.empty()) return;
  if (!config_.deployment.across_hosts())
    throw failure(errc::bad_config, "--host " + host_ + ": the config places no nodes on hosts ([hosts] and "
                                    "deployment.router_host, prfaas_host, local_host)");
  if (!config_.hosts.count(host_)) {
    std::string names;
    for (const auto& [n, a] : config_.hosts) names += (names.empty() ? "" : ", ") + n;
    throw failure(errc::invalid_argument, "--host " + host_ + " is not one of the config's [hosts]: " + names);
  }
}

// What another host needs, and no more: the CA's certificate (not its key), the client's and its
// own nodes' certificates and keys, the KV secret; in STATE/hosts/NAME, laid out as a state
// directory, so `cp -r STATE/hosts/NAME/. OTHER_STATE/` on that host is the whole hand-over.
void launcher::write_host_bundles() const {
  for (const auto& [host, address] : config_.hosts) {
    const std::string out = state_dir_ + "/hosts/" + host;
    fs::remove_all(out);
    fs::create_directories(out + "/pki/nodes");
    if (!secret_file_.empty() && config_.transport.secret_file.empty())
      fs::copy_file(secret_file_, out + "/secret");
    if (insecure_) continue;
    fs::copy_file(state_dir_ + "/pki/ca.pem", out + "/pki/ca.pem");
    std::vector<std::string> names = {"client"};
    for (const auto& n : plan())
      if (n.host == host) names.push_back(n.name);
    for (const auto& name : names) {
      const auto tls = actors::deployment_credentials(state_dir_, name);
      fs::copy_file(tls.certificate, out + "/pki/nodes/" + name + ".pem");
      fs::copy_file(tls.key, out + "/pki/nodes/" + name + ".key");  // permissions kept: 0600
    }
  }
}

std::vector<launcher::placed> launcher::plan() const {
  const auto& d = config_.deployment;
  std::vector<placed> out;
  for (int i = 0; i <= config_.control.standby_routers; ++i)
    out.push_back({router_name(i), "router", d.local_cluster, d.router_host});
  out.push_back({"cache-directory", "cache-directory", d.local_cluster, d.router_host});
  for (int i = 0; i < d.prfaas_prefill; ++i)
    out.push_back({"prfaas-prefill-" + std::to_string(i), "prefill", d.prfaas_cluster, d.prfaas_host});
  for (int i = 0; i < d.local_prefill; ++i)
    out.push_back({"local-prefill-" + std::to_string(i), "prefill", d.local_cluster, d.local_host});
  for (int i = 0; i < d.decode; ++i) out.push_back({"decode-" + std::to_string(i), "decode", d.local_cluster, d.local_host});
  if (config_.gateway.enabled)
    for (int i = 0; i < config_.gateway.replicas; ++i)
      out.push_back({gateway_name(i), "gateway", d.local_cluster, d.router_host});
  return out;
}

actors::tls_files launcher::prepare() {
  if (insecure_) return {};
  const auto client = actors::deployment_credentials(state_dir_, "client");
  if (prepared_) return client;
  fs::create_directories(state_dir_);
  if (!here(config_.deployment.router_host)) {
    // Another host made the deployment's CA: its certificates are used as they are.
    if (!fs::exists(client.certificate))
      throw failure(errc::bad_config, "no deployment credentials in " + state_dir_ + "/pki: start the router's host (" +
                                          config_.deployment.router_host + ") first, and share or copy its " +
                                          state_dir_ + "/pki and " + state_dir_ + "/secret here");
    prepared_ = true;
    return client;
  }
  fs::remove_all(state_dir_ + "/pki");
  auto ca = security::certificate_authority::create(state_dir_ + "/pki", "prfaas deployment " + state_dir_);
  ca.issue({"client", "client"}, state_dir_ + "/pki/nodes");
  // Chaos on the link and node conversions take an operator's certificate, not a client's.
  ca.issue({"operator", "operator"}, state_dir_ + "/pki/nodes");
  // Across hosts the other hosts need their nodes' certificates, not the CA's key.
  if (config_.deployment.across_hosts())
    for (const auto& n : plan()) ca.issue({n.name, n.role}, state_dir_ + "/pki/nodes");
  prepared_ = true;
  return client;
}

launcher::~launcher() { stop(); }

node_process launcher::spawn(const std::string& name, const std::string& role, const std::string& cluster,
                             const std::vector<std::string>& extra, bool append_log) {
  node_process p{name, role, cluster, -1, state_dir_ + "/logs/" + name + ".log", extra, {}, 0, false};
  std::vector<std::string> args = {node_binary_, "--role=" + role, "--cluster=" + cluster, "--name=" + name};
  if (!config_path_.empty()) args.push_back("--config=" + config_path_);
  if (config_.engine.checkpoint()) args.push_back("--model=" + config_.engine.model);  // from the file or `up --model`
  if (!secret_file_.empty()) args.push_back("--secret-file=" + secret_file_);
  if (insecure_) {
    args.push_back("--insecure");
  } else {
    const auto tls = actors::deployment_credentials(state_dir_, name);
    if (!fs::exists(tls.certificate))
      security::certificate_authority::open(state_dir_ + "/pki").issue({name, role}, state_dir_ + "/pki/nodes");
    args.insert(args.end(), {"--ca=" + tls.ca, "--cert=" + tls.certificate, "--key=" + tls.key});
  }
  args.insert(args.end(), extra.begin(), extra.end());
  // The node's environment: this one's, plus what its OpenMP reads once, at load: node.threads
  // per team, and idle threads that block, since several nodes share this host's cores (an
  // OMP_WAIT_POLICY of the caller's wins).  Made before fork: the child only calls execve.
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind("OMP_NUM_THREADS=", 0) != 0) env.emplace_back(*e);
  env.push_back("OMP_NUM_THREADS=" + std::to_string(config_.node.threads));
  if (!std::getenv("OMP_WAIT_POLICY")) env.emplace_back("OMP_WAIT_POLICY=passive");
  exec_child(p, std::move(args), std::move(env), append_log);
  return p;
}

void launcher::exec_child(node_process& p, std::vector<std::string> args, std::vector<std::string> env,
                          bool append_log) const {
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw failure(errc::internal, "fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the launcher blocks signals for sigwait
    const int fd = ::open(p.log.c_str(), O_WRONLY | O_CREAT | (append_log ? O_APPEND : O_TRUNC) | O_CLOEXEC, 0644);
    if (fd >= 0) { ::dup2(fd, 1); ::dup2(fd, 2); }
    ::execve(args[0].c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  p.pid = pid;
}

endpoint launcher::start() {
  fs::create_directories(state_dir_ + "/logs");
  prepare();
  const auto& d = config_.deployment;
  const bool router_here = here(d.router_host);
  // The deployment's shared secret authenticates KV links; one is made unless configured (by
  // the router's host, across hosts).
  if (!config_.transport.secret_file.empty()) {
    secret_file_ = fs::absolute(config_.transport.secret_file).string();
  } else if (!router_here) {
    secret_file_ = state_dir_ + "/secret";
    if (!fs::exists(secret_file_))
      throw failure(errc::bad_config, "no " + secret_file_ + ": start the router's host (" + d.router_host +
                                          ") first, and share or copy its secret here");
  } else {
    const std::string path = state_dir_ + "/secret";
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) throw failure(errc::internal, "cannot draw the deployment secret");
    std::string hex;
    for (unsigned char b : raw) { static const char* digits = "0123456789abcdef"; hex += digits[b >> 4]; hex += digits[b & 15]; }
    hex += "\n";
    // Created 0600, never readable by others for an instant; an old one is replaced, not reused.
    fs::remove(path);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw failure(errc::internal, "cannot create " + path);
    const bool written = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
    ::close(fd);
    if (!written) throw failure(errc::internal, "cannot write " + path);
    secret_file_ = path;
  }
  if (::access(node_binary_.c_str(), X_OK) != 0)
    throw failure(errc::invalid_argument, "node binary not found: " + node_binary_);
  if (router_here && d.across_hosts()) write_host_bundles();
  // Each node listens on its host's address (deployment.host when not across hosts).
  const std::string router_address = config_.address_of(d.router_host);
  endpoint router{router_address, static_cast<uint16_t>(d.router_port)};
  if (config_.control.standby()) {
    etcd_ = config_.control.etcd;
    if (etcd_.empty() && router_here) start_etcd();
    if (etcd_.empty()) throw failure(errc::bad_config, "standby routers across hosts need control.etcd: the address of etcd");
    // Routers standing for leadership need fixed ports: the one etcd names is the one dialled.
    if (router.port == 0 && router_here) router.port = free_port(router_address);
  }
  const std::string etcd_flag = "--etcd=" + etcd_;
  if (router_here) {
    const std::string port_file = state_dir_ + "/router.port";
    fs::remove(port_file);
    std::vector<std::string> extra = {"--listen=" + router.str(), "--port-file=" + port_file};
    if (!etcd_.empty()) extra.push_back(etcd_flag);
    nodes_.push_back(spawn("router", "router", d.local_cluster, extra));
    node_process& first = nodes_.back();
    // The router writes its port once it listens; a router that dies first is reported.
    router.port = 0;
    for (int waited = 0; router.port == 0; waited += 50) {
      if (std::ifstream in(port_file); in && (in >> router.port) && router.port) break;
      router.port = 0;
      if (!reap_exited().empty() || waited > 15000)
        throw failure(errc::unreachable, "the router did not start: " + log_tail(first));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // A restarted router must come back where the others look for it.
    first.extra = {"--listen=" + router.str(), "--port-file=" + port_file};
    if (!etcd_.empty()) first.extra.push_back(etcd_flag);
    // The standbys, each on its own port: they serve once etcd names them.
    for (int i = 1; i <= config_.control.standby_routers; ++i) {
      const endpoint at{router_address, free_port(router_address)};
      nodes_.push_back(spawn(router_name(i), "router", d.local_cluster, {"--listen=" + at.str(), etcd_flag}));
    }
  }
  // With standby routers, every node follows the leader etcd names.
  const std::string router_flag = etcd_.empty() ? "--router=" + router.str() : etcd_flag;
  // The emulated inter-cluster link is one bucket the PrfaaS nodes of a host share (transport/pacer.h).
  const std::string shared_link = state_dir_ + "/link.pacer";
  if (here(d.prfaas_host)) fs::remove(shared_link);
  for (const auto& n : plan()) {
    if (n.role == "router" || !here(n.host)) continue;
    const std::string address = config_.address_of(n.host);
    if (n.role == "gateway") {
      const std::string gateway_port = state_dir_ + "/" + n.name + ".port";
      fs::remove(gateway_port);
      // A fixed port: replica i takes port + i.
      int replica = 0;
      while (gateway_name(replica) != n.name) ++replica;
      const int port = config_.gateway.port == 0 ? 0 : config_.gateway.port + replica;
      std::vector<std::string> extra = {"--listen=" + address + ":" + std::to_string(port), router_flag,
                                        "--port-file=" + gateway_port};
      if (config_.gateway.tls) {
        const auto https = https_credentials(address);
        extra.insert(extra.end(), {"--https-cert=" + https.certificate, "--https-key=" + https.key});
      }
      nodes_.push_back(spawn(n.name, n.role, n.cluster, extra));
      continue;
    }
    std::vector<std::string> extra = {"--listen=" + address + ":0", router_flag};
    if (n.cluster == d.prfaas_cluster && n.role == "prefill") extra.push_back("--shared-link=" + shared_link);
    nodes_.push_back(spawn(n.name, n.role, n.cluster, extra));
  }
  return router;
}

security::issued_files launcher::https_credentials(const std::string& address) const {
  const auto& g = config_.gateway;
  if (!g.cert_file.empty()) return {g.cert_file, g.key_file};
  if (insecure_)
    throw failure(errc::bad_config, "gateway.tls needs the deployment's CA (a deployment without --insecure) or "
                                    "gateway.cert_file and gateway.key_file");
  // A server certificate of the deployment's CA for the gateway's address (and loopback), so
  // clients that trust STATE/pki/ca.pem check it like any HTTPS server's.
  const std::string dir = state_dir_ + "/pki/https";
  fs::remove(dir + "/gateway.key");
  security::issue_options o;
  in6_addr scratch;
  const bool ip = ::inet_pton(AF_INET, address.c_str(), &scratch) == 1 || ::inet_pton(AF_INET6, address.c_str(), &scratch) == 1;
  o.alt_names = {ip ? "IP:" + address : "DNS:" + address, "IP:127.0.0.1", "DNS:localhost"};
  return security::certificate_authority::open(state_dir_ + "/pki").issue({"gateway", "gateway"}, dir, o);
}

std::string launcher::gateway_name(int i) { return i == 0 ? "gateway" : "gateway-" + std::to_string(i); }
std::string launcher::router_name(int i) { return i == 0 ? "router" : "router-" + std::to_string(i); }


node_process launcher::spawn_etcd(bool fresh, bool append_log) {
  const std::string dir = state_dir_ + "/etcd";
  if (fresh) fs::remove_all(dir);
  const std::string address = config_.address_of(config_.deployment.router_host);
  const std::string client = "http://" + address + ":" + std::to_string(etcd_client_port_);
  const std::string peer = "http://127.0.0.1:" + std::to_string(etcd_peer_port_);
  node_process p{"etcd", "etcd", config_.deployment.local_cluster, -1, state_dir_ + "/logs/etcd.log", {}, {}, 0, false};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  exec_child(p,
             {"/usr/bin/etcd", "--name=prfaas", "--data-dir=" + dir, "--listen-client-urls=" + client,
              "--advertise-client-urls=" + client, "--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
              "--initial-cluster=prfaas=" + peer, "--logger=zap", "--log-level=warn",
              // One member: short heartbeats let leases be as short as control.lease_s (etcd makes
              // a shorter lease than 1.5 election timeouts longer).
              "--heartbeat-interval=50", "--election-timeout=500"},
             std::move(env), append_log);
  return p;
}

void launcher::start_etcd() {
  if (::access("/usr/bin/etcd", X_OK) != 0)
    throw failure(errc::bad_config, "control.standby_routers needs etcd: install Debian's etcd-server, or name one in control.etcd");
  const std::string address = config_.address_of(config_.deployment.router_host);
  etcd_client_port_ = config_.control.etcd_port ? static_cast<uint16_t>(config_.control.etcd_port) : free_port(address);
  etcd_peer_port_ = free_port("127.0.0.1");
  nodes_.push_back(spawn_etcd(/*fresh=*/true));
  etcd_ = address + ":" + std::to_string(etcd_client_port_);
  control::etcd_client etcd(control::parse_etcd_endpoints(etcd_));
  for (int waited = 0; !etcd.healthy(); waited += 100) {
    if (!reap_exited().empty() || waited > 15000) throw failure(errc::unreachable, "etcd did not start: " + log_tail(nodes_.back()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::vector<endpoint> launcher::gateways(int timeout_ms) {
  std::vector<endpoint> out;
  if (!config_.gateway.enabled) return out;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (int i = 0; i < config_.gateway.replicas; ++i)
    for (;;) {
      int port = 0;
      if (std::ifstream in(state_dir_ + "/" + gateway_name(i) + ".port"); in && (in >> port) && port > 0) {
        out.push_back(endpoint{config_.address_of(config_.deployment.router_host), static_cast<uint16_t>(port)});
        break;
      }
      if (std::chrono::steady_clock::now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  return out;
}

std::optional<endpoint> launcher::gateway(int timeout_ms) {
  auto all = gateways(timeout_ms);
  if (all.empty()) return std::nullopt;
  return all.front();
}

std::vector<std::string> launcher::expected_worker_names() const {
  std::vector<std::string> out;
  for (const auto& node : nodes_)
    if (node.role != "router" && node.role != "gateway" && node.role != "etcd") out.push_back(node.name);
  return out;
}

size_t launcher::expected_workers() const {
  size_t n = 0;
  for (const auto& node : nodes_) n += node.role != "router" && node.role != "gateway" && node.role != "etcd";
  return n;
}

void launcher::stop(int grace_ms) {
  for (auto& n : nodes_)
    if (n.pid > 0) ::kill(n.pid, SIGTERM);
  for (int waited = 0; waited <= grace_ms; waited += 20) {
    bool alive = false;
    for (auto& n : nodes_) {
      if (n.pid <= 0) continue;
      if (::waitpid(n.pid, nullptr, WNOHANG) == n.pid) n.pid = -1;
      else alive = true;
    }
    if (!alive) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& n : nodes_)
    if (n.pid > 0) {
      ::kill(n.pid, SIGKILL);
      ::waitpid(n.pid, nullptr, 0);
      n.pid = -1;
    }
}

std::vector<std::string> launcher::reap_exited() {
  std::vector<std::string> out;
  for (auto& n : nodes_) {
    if (n.pid <= 0) continue;
    int status = 0;
    if (::waitpid(n.pid, &status, WNOHANG) != n.pid) continue;
    n.pid = -1;
    out.push_back(n.name + (WIFSIGNALED(status) ? " (killed by signal " + std::to_string(WTERMSIG(status)) + ")"
                                                : " (exit status " + std::to_string(WEXITSTATUS(status)) + ")"));
  }
  return out;
}

namespace {
// Seconds on the steady clock: restart times and exits are kept in it.
double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

std::optional<double> launcher::next_restart_in() const {
  const double now = steady_seconds();
  std::optional<double> out;
  for (const auto& n : nodes_)
    if (n.pid <= 0 && !n.left_down && n.restart_at > 0) out = std::min(out.value_or(1e9), std::max(0.0, n.restart_at - now));
  return out;
}

std::vector<std::string> launcher::supervise() {
  const double now = steady_seconds();
  std::vector<std::string> out;
  for (auto& n : nodes_) {
    if (n.pid > 0) {
      int status = 0;
      if (::waitpid(n.pid, &status, WNOHANG) != n.pid) continue;
      n.pid = -1;
      const std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                                  : "exit status " + std::to_string(WEXITSTATUS(status));
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        // A clean exit (a drained node) was meant: it stays down.
        n.left_down = true;
        out.push_back("node " + n.name + " left (exit status 0)");
        continue;
      }
      std::erase_if(n.exits, [&](double t) { return now - t > kRestartWindow; });
      n.exits.push_back(now);
      if (static_cast<int>(n.exits.size()) >= kRestartLimit) {
        n.left_down = true;
        out.push_back("node " + n.name + " exited (" + how + "), " + std::to_string(n.exits.size()) + " times in " +
                      std::to_string(static_cast<int>(kRestartWindow)) + " s: left down");
        continue;
      }
      const double backoff = std::min(5.0, 0.1 * (1 << (n.exits.size() - 1)));
      n.restart_at = now + backoff;
      out.push_back("node " + n.name + " exited (" + how + "); restarting in " +
                    std::to_string(static_cast<int>(backoff * 1000)) + " ms");
    } else if (!n.left_down && n.restart_at > 0 && now >= n.restart_at) {
      const auto exits = n.exits;
      // A restarted gateway comes back on the port it had (which `status`, deployment.json and
      // clients know), as the router does, even when the config let it take any.
      if (n.role == "gateway")
        if (int port = 0; (std::ifstream(state_dir_ + "/" + n.name + ".port") >> port) && port > 0)
          for (auto& arg : n.extra)
            if (arg.rfind("--listen=", 0) == 0) arg = "--listen=" + parse_endpoint(arg.substr(9)).host + ":" + std::to_string(port);
      n = n.role == "etcd" ? spawn_etcd(/*fresh=*/false, /*append_log=*/true)
                           : spawn(n.name, n.role, n.cluster, n.extra, /*append_log=*/true);
      n.exits = exits;
      out.push_back("node " + n.name + " restarted (pid " + std::to_string(n.pid) + ")");
    }
  }
  return out;
}

std::string launcher::log_tail(const node_process& node, int lines) const {
  std::ifstream in(node.log);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::ostringstream s;
  s << node.name << " log (" << node.log << "):";
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size(); ++i)
    s << "\n  " << all[i];
  return s.str();
}

}  // namespace prfaas::apps

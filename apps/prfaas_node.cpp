// prfaas-node: one binary, any role.
//
//   prfaas-node --role=router --cluster=local --listen=127.0.0.1:7000 --ca=CA --cert=C --key=K [--config=FILE]
//   prfaas-node --role=decode --cluster=local --listen=127.0.0.1:0 --router=127.0.0.1:7000 --ca=CA --cert=C --key=K
//   prfaas-node --role=gateway --cluster=local --listen=0.0.0.0:8000 --router=127.0.0.1:7000 ...  (HTTP, actors/gateway.hpp)
//
// The actor plane is mutual TLS: --ca is the deployment's CA, --cert and --key this node's
// certificate (from `prfaas up` or `prfaas certs`), whose subject gives the node's name and role.
// --insecure instead runs it in plaintext, unauthenticated, with a warning.
//
// A supervisor actor spawns the role actor and restarts it when it fails; worker roles register
// with the router and heartbeat.  Exit status: 0 after SIGINT/SIGTERM, 1 on a fatal error (the
// message on stderr names the cause), 2 on bad command-line usage.

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <fstream>
#include <iostream>
#include <mutex>

#include "actors/actor_plane.hpp"
#include "actors/client.hpp"
#include "actors/node.hpp"
#include "actors/roles.hpp"
#include "actors/system_config.hpp"
#include "actors/gateway.hpp"
#include "actors/leader_watch.hpp"
#include "apps/log_format.h"
#include "kernels/cpu/threads.h"
#include "runtime/cluster/node_role.h"
#include "runtime/common/errc.h"
#include "runtime/control/etcd_client.h"
#include "runtime/control/leadership.h"
#include "runtime/control/roster.h"
#include "runtime/gpu/backend.h"
#include "runtime/security/pki.h"

using namespace prfaas;

namespace {

std::mutex fatal_mutex;
std::string fatal_message;

void request_exit(const std::string& why) {
  {
    std::lock_guard lock(fatal_mutex);
    if (fatal_message.empty()) fatal_message = why;
  }
  ::kill(::getpid(), SIGUSR1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"prfaas-node: runs one prfaas role in this process"};
  app.set_version_flag("--version", "prfaas-node " PRFAAS_VERSION);
  std::string role_text, cluster, listen_text, router_text, config_path, name, port_file;
  app.add_option("--role", role_text, "router | cache-directory | prefill | decode | gateway")->required();
  app.add_option("--cluster", cluster, "cluster this node belongs to")->required();
  app.add_option("--listen", listen_text, "HOST:PORT this node listens on (port 0: any)")->required();
  app.add_option("--router", router_text, "HOST:PORT of the router (all roles but router; or --etcd)");
  std::string etcd_text;
  app.add_option("--etcd", etcd_text,
                 "HOST:PORT,... of etcd: a router stands for leadership there, every other role follows the leader "
                 "it names");
  app.add_option("--config", config_path, "deployment TOML file");
  std::string model_dir;
  app.add_option("--model", model_dir, "a checkpoint folder to load (engine.kind = \"hf\"; overrides the config's)");
  app.add_option("--name", name, "node name, unique in the deployment (default: ROLE-PID)");
  app.add_option("--port-file", port_file, "write the bound listen port here once listening");
  actors::https_files https;
  app.add_option("--https-cert", https.certificate, "gateway: serve HTTPS with this certificate (PEM)")->check(CLI::ExistingFile);
  app.add_option("--https-key", https.key, "gateway: its private key (PEM)")->check(CLI::ExistingFile);
  std::string log_format;
  app.add_option("--log-format", log_format, "text | json (one JSON object a line; default: [node] log_format)")
      ->check(CLI::IsMember({"text", "json"}));
  std::string advertise;
  app.add_option("--advertise", advertise,
                 "the host other nodes dial for this node's KV (required when --listen is on all interfaces)");
  int data_port = 0;
  app.add_option("--data-port", data_port, "the port of this node's KV receiver (default: any free one)")
      ->check(CLI::Range(0, 65535));
  std::string shared_link;
  app.add_option("--shared-link", shared_link,
                 "PrfaaS prefill: the emulated link's state file, shared with the other PrfaaS nodes of this host");
  std::string secret_file;
  std::string device;
  app.add_option("--device", device, "where the model computes: cpu, cuda or cuda:N (default: engine.device)");
  app.add_option("--secret-file", secret_file, "the deployment's shared secret (default: [transport] secret_file)");
  actors::tls_files tls;
  bool insecure = false;
  auto* ca_opt = app.add_option("--ca", tls.ca, "the deployment's CA certificate (PEM)");
  auto* cert_opt = app.add_option("--cert", tls.certificate, "this node's certificate (PEM): its name and role");
  auto* key_opt = app.add_option("--key", tls.key, "this node's private key (PEM, mode 0600)");
  ca_opt->needs(cert_opt, key_opt);
  cert_opt->needs(ca_opt, key_opt);
  key_opt->needs(ca_opt, cert_opt);
  app.add_flag("--insecure", insecure, "plaintext actor plane, no authentication (testing only)")
      ->excludes(ca_opt, cert_opt, key_opt);
  // Usage errors exit 2 (help 0), whatever CLI11's own code for the error.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  config::deployment_config config;
  std::string secret;
  cluster::node_role role;
  endpoint listen_at;
  control::router_locator router_at;
  std::vector<endpoint> etcd;
  std::shared_ptr<security::node_credentials> credentials;
  try {
    role = cluster::parse_role(role_text);
    listen_at = parse_endpoint(listen_text);
    // Peers dial the advertised address: an address of all interfaces is no address to dial.
    const bool wildcard = listen_at.host == "0.0.0.0" || listen_at.host == "::" || listen_at.host == "[::]";
    if (wildcard && advertise.empty() && (role == cluster::node_role::prefill || role == cluster::node_role::decode))
      throw failure(errc::invalid_argument, "--listen=" + listen_text +
                                                " listens on every interface: say which address other nodes dial "
                                                "for this node's KV with --advertise HOST");
    if (!advertise.empty()) parse_endpoint(advertise + ":1");  // a host name or address, nothing else
    if (!etcd_text.empty()) etcd = control::parse_etcd_endpoints(etcd_text);
    if (role == cluster::node_role::router && !etcd.empty() && listen_at.port == 0)
      throw failure(errc::invalid_argument, "a router standing for leadership in etcd needs a fixed --listen port");
    if (role != cluster::node_role::router) {
      if (!etcd.empty()) router_at = control::router_locator(etcd);
      else if (router_text.empty()) throw failure(errc::invalid_argument, "--router or --etcd is required for role " + role_text);
      else router_at = parse_endpoint(router_text);
    }
    if (!config_path.empty()) config = config::load_config(config_path);
    if (!model_dir.empty()) config::use_model(config, model_dir);
    if (!device.empty()) {
      config.engine.device = device;
      config.engine.device_index();  // a bad value is refused by name
      if (config.engine.emulated() && device != "cpu")
        throw failure(errc::bad_config, "--device applies only to engine.kind = \"tiny\"");
    }
    if (config.engine.device_index() >= 0 &&
        (role == cluster::node_role::prefill || role == cluster::node_role::decode)) {
      // The GPU backend is opened only here, when a GPU is asked for: it says what it sees, but
      // no GPU engine computes the Qwen3-Next layers yet, so the node refuses at start rather
      // than fall back.
      throw failure(errc::bad_config, "engine.device = \"" + config.engine.device + "\": " + gpu::survey() +
                                          "; no GPU engine computes the Qwen3-Next layers yet (--device cpu)");
    }
    if (secret_file.empty()) secret_file = config.transport.secret_file;
    if (!secret_file.empty()) {
      std::ifstream in(secret_file);
      if (!(in >> secret) || secret.empty())
        throw failure(errc::bad_config, "cannot read a shared secret from '" + secret_file + "'");
    }
    if (!insecure && !tls.enabled())
      throw failure(errc::invalid_argument, "--ca, --cert and --key are required (or --insecure for a plaintext actor plane)");
    if (tls.enabled()) {
      // The certificate says who this node is: a --name or --role that differs is a mistake.
      credentials = std::make_shared<security::node_credentials>(tls.ca, tls.certificate, tls.key);
      const auto& who = credentials->who();
      if (!name.empty() && name != who.name)
        throw failure(errc::invalid_argument, "--name " + name + " but the certificate is for " + who.name);
      if (who.role != role_text)
        throw failure(errc::invalid_argument, "--role " + role_text + " but the certificate is for a " + who.role + " node");
      name = who.name;
    }
  } catch (const failure& f) {
    std::cerr << "prfaas-node: error: " << f.what() << "\n";
    return 2;
  }
  if (name.empty()) name = role_text + "-" + std::to_string(::getpid());
  try {
    apps::set_log_format(log_format.empty() ? config.node.log_format : log_format, name);
  } catch (const failure& f) {
    std::cerr << "prfaas-node: error: " << f.what() << "\n";
    return 2;
  }
  // node.threads holds on every thread that computes; idle compute threads block rather than
  // spin (kernels/cpu/threads.h: set before OpenMP starts, no restart of this process).
  kernels::cpu::set_compute_threads(config.node.threads);

  // Signals are taken by sigwait below, in this thread only.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  if (insecure) spdlog::warn("{}: --insecure: the actor plane is plaintext and unauthenticated", name);
  actors::system_config cfg(config.router, 2, tls);
  // The router runs in the I/O thread (actors/router.cpp): that thread reads its messages too,
  // rather than handing each to a BASP worker thread to read and back.
  if (role == cluster::node_role::router) cfg.set("middleman.workers", size_t{0});
  caf::actor_system sys{cfg};
  if (role == cluster::node_role::gateway) {  // a client of the router: no supervisor, no registration
    const int status = actors::run_gateway(sys, config, listen_at, router_at, port_file, signals, https);
    spdlog::shutdown();
    std::fflush(nullptr);
    std::_Exit(status);
  }

  // Standby routers: this router serves only once etcd names it the leader, and stops the moment
  // etcd says its lease is gone (another may lead by then).  A signal while standing by ends it.
  std::unique_ptr<control::etcd_client> etcd_client;
  std::unique_ptr<control::leadership> lead;
  std::shared_ptr<control::roster> roster;
  if (role == cluster::node_role::router && !etcd.empty()) {
    etcd_client = std::make_unique<control::etcd_client>(etcd);
    const std::string me = (advertise.empty() ? listen_at.host : advertise) + ":" + std::to_string(listen_at.port);
    // A standby watches the leader: one whose process died is replaced without waiting out its lease.
    auto watch = std::make_shared<actors::leader_watch>(sys);
    control::leadership_options lo{config.control.lease_s};
    lo.holder_gone = [w = std::weak_ptr(watch)](const std::string& at, int64_t revision) {
      const auto watching = w.lock();
      return watching && watching->gone(at, revision);
    };
    lead = std::make_unique<control::leadership>(*etcd_client, me, lo);
    spdlog::info("{}: standing for the router's leadership in etcd as {}", name, me);
    int stop_sig = 0;
    const bool leads = lead->campaign(
        [&] {
          timespec none{};
          stop_sig = sigtimedwait(&signals, nullptr, &none);
          return stop_sig > 0;
        },
        [&](const std::string& leader) {
          spdlog::info("{}: standing by: {}", name, leader.empty() ? "etcd names no leader (or does not answer)"
                                                                   : leader + " leads");
        });
    if (!leads) {
      spdlog::info("{}: stopped while standing by", name);
      spdlog::shutdown();
      std::_Exit(0);
    }
    spdlog::info("{}: leads (etcd names {})", name, me);
    watch.reset();
    // Whom the previous leader held: routing starts once they are all back.
    roster = std::make_shared<control::roster>();
    try {
      roster->set(control::read_roster(*etcd_client));
    } catch (const failure& f) {
      spdlog::warn("{}: no roster of the previous leader's nodes ({}): settling for router.settle_ms", name, f.what());
    }
  }

  actors::node_spec spec;
  spec.config = config;
  spec.role = role;
  spec.name = name;
  spec.cluster = cluster;
  spec.worker.data_host = listen_at.host;
  spec.worker.advertise_host = advertise;
  spec.worker.data_port = static_cast<uint16_t>(data_port);
  spec.worker.secret = secret;
  spec.shared_link = shared_link;
  spec.credentials = credentials;
  spec.roster = roster;
  if (role == cluster::node_role::router && tls.enabled()) spec.trust = std::make_shared<const security::verifier>(tls.ca);
  spec.fatal = request_exit;
  // Every role actor is published on --listen; a restarted one takes its predecessor's port.
  actors::role_door door(sys, config, name, listen_at, port_file, request_exit);
  spec.on_spawned = door.on_spawned();
  spec.published_at = door.published_at(advertise.empty() ? listen_at.host : advertise);
  if (role != cluster::node_role::router) {
    auto router = actors::connect_router(sys, router_at);
    if (!router) {
      std::cerr << "prfaas-node: error: " << actors::describe(router.error()) << "\n";
      return 1;
    }
    spec.router = *router;
    spec.router_at = router_at;
  }
  caf::actor supervisor;
  try {
    supervisor = actors::start_node(sys, std::move(spec));
  } catch (const failure& f) {
    spdlog::error("{}: {}", name, f.what());
    return 1;
  }

  // The leader keeps its lease; etcd saying it is gone ends this router (prfaas up starts it
  // again, as a standby).
  std::atomic<bool> leaving{false};
  std::thread keeper;
  if (lead)
    keeper = std::thread([&] {
      bool silent = false;
      while (!leaving) {
        std::this_thread::sleep_for(lead->renew_every());
        if (leaving) break;
        const auto r = lead->renew();
        if (r == control::renewal::lost) {
          request_exit("etcd says this router's lease is gone: another router may lead; this one stops");
          return;
        }
        if (r == control::renewal::kept)
          if (auto names = roster->changed()) try {
              control::publish_roster(*etcd_client, *names);
            } catch (const failure&) {
              roster->unpublished();  // try again at the next renewal
            }
        if ((r == control::renewal::store_unreachable) != silent) {
          silent = !silent;
          if (silent) spdlog::warn("{}: etcd does not answer: serving on (nobody else can be elected)", name);
          else spdlog::info("{}: etcd answers again", name);
        }
      }
    });
  int sig = 0;
  sigwait(&signals, &sig);
  leaving = true;
  if (keeper.joinable()) keeper.join();
  // A router leaving of its own accord hands leadership on at once.
  if (lead && sig != SIGUSR1) lead->resign();
  int status = 0;
  {
    std::lock_guard lock(fatal_mutex);
    if (sig == SIGUSR1) {
      std::cerr << "prfaas-node: error: " << fatal_message << "\n";
      status = 1;
    }
  }
  // SIGTERM drains a worker: the router gives it no new work, and it leaves once it holds
  // nothing (or the router is gone, or the drain limit passed).  SIGINT leaves at once.
  if (sig == SIGTERM && (role == cluster::node_role::prefill || role == cluster::node_role::decode)) {
    spdlog::info("{}: draining: no new work, finishing what it holds", name);
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.router.drain_ms);
    for (;;) {
      auto router = actors::connect_router(sys, router_at, 1);
      if (!router) break;
      caf::scoped_actor self{sys};
      int32_t held = -1;
      self->request(*router, std::chrono::seconds(1), prfaas::atoms::drain_atom::value, name)
          .receive([&](int32_t n) { held = n; }, [&](caf::error&) {});
      if (held <= 0 || std::chrono::steady_clock::now() > until) {
        spdlog::info("{}: drained ({} requests left)", name, std::max(0, held));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Stop the supervisor (it stops the role actor) and wait, bounded, until it is gone.
  {
    caf::scoped_actor self{sys};
    self->monitor(supervisor);
    caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(3)) >> [] {});
  }
  door.close();
  spdlog::shutdown();
  std::fflush(nullptr);
  // Leave without ~actor_system: in CAF 0.17 a detached actor that dies while a remote node
  // monitors it can stay referenced by the actor registry (the down message's sender is
  // registered after its death), and ~actor_system then waits for it forever.  Every actor
  // has stopped above; the kernel closes the sockets.
  std::_Exit(status);
}

// A misbehaving member of a deployment, for the trust tests: it holds a real certificate of the
// deployment (from `prfaas certs`), so TLS lets it in, and then tries what a compromised or
// mistaken node would.
//
//   prfaas_rogue_node impersonate ROUTER CA CERT KEY NAME ROLE [PRESENTED_CERT]
//       registers as NAME/ROLE, signing with KEY and presenting PRESENTED_CERT (default CERT).
//       Prints "refused: WHY" and exits 0 when the router refuses; exits 1 when it accepts.
//   prfaas_rogue_node forge ROUTER CA CERT KEY
//       registers as the local prefill node its certificate names; for every prefill job it gets,
//       sends the router a decode start and a result of its own making, prints "forged ID", and
//       then leaves without answering (the router re-dispatches the request).
// Exit 2: usage or setup error.

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "actors/actor_plane.hpp"
#include "actors/messages.hpp"
#include "actors/system_config.hpp"
#include "runtime/common/endpoint.h"
#include "runtime/config/deployment_config.h"
#include "runtime/security/pki.h"

using namespace prfaas;

namespace {

std::string text_of(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

actors::registration_proof prove(const security::node_credentials& me, const security::identity& claimed,
                                 const std::string& presented_pem, caf::actor_system& sys, const caf::actor& router) {
  actors::registration_proof p;
  p.certificate_pem = presented_pem;
  p.signature = me.sign(security::registration_statement(claimed, caf::to_string(sys.node()), caf::to_string(router.node())));
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: prfaas_rogue_node impersonate|forge ROUTER CA CERT KEY [NAME ROLE [PRESENTED_CERT]]\n";
    return 2;
  }
  const std::string mode = argv[1];
  const endpoint router_at = parse_endpoint(argv[2]);
  const actors::tls_files tls{argv[3], argv[4], argv[5]};
  security::node_credentials me(tls.ca, tls.certificate, tls.key);
  const config::deployment_config config;
  actors::system_config cfg(config.router, 2, tls);
  caf::actor_system sys{cfg};
  auto router = actors::remote_actor(sys, router_at.host, router_at.port);
  if (!router) {
    std::cerr << "cannot reach the router: " << sys.render(router.error()) << "\n";
    return 2;
  }
  actors::node_info info;
  info.cluster = config.deployment.local_cluster;
  info.model = config.model.fingerprint();
  caf::scoped_actor self{sys};

  if (mode == "impersonate" && argc >= 8) {
    info.name = argv[6];
    info.role = argv[7];
    info.capacity = 8;
    const std::string presented = argc >= 9 ? text_of(argv[8]) : me.certificate_pem();
    auto handle = sys.spawn([](caf::event_based_actor* a) -> caf::behavior {
      a->set_default_handler(caf::drop);
      return {[](atoms::status_atom) {}};
    });
    int status = 1;
    self->request(*router, std::chrono::seconds(5), atoms::register_atom::value, info, handle, handle,
                  prove(me, {info.name, info.role}, presented, sys, *router))
        .receive([&](caf::ok_atom) { std::cout << "accepted" << std::endl; },
                 [&](caf::error& err) {
                   std::cout << "refused: " << actors::describe(err) << std::endl;
                   status = 0;
                 });
    caf::anon_send_exit(handle, caf::exit_reason::kill);
    std::fflush(nullptr);
    std::_Exit(status);
  }
  if (mode == "forge") {
    info.name = me.who().name;
    info.role = "prefill";
    const caf::actor r = *router;
    auto role = sys.spawn([r](caf::event_based_actor* a) -> caf::behavior {
      a->set_default_handler(caf::drop);
      return {[=](const actors::prefill_job& job) {
        a->send(r, actors::decode_started{job.request, 1, job.attempt});
        a->send(r, actors::decode_result{job.request, {'f', 'o', 'r', 'g', 'e', 'd'}, 1.0, job.attempt});
        std::printf("forged %llu\n", static_cast<unsigned long long>(job.request));
        std::fflush(stdout);
        // Leave once the forgeries have gone out: the router re-dispatches what it gave us.
        a->delayed_send(a, std::chrono::milliseconds(300), atoms::shutdown_atom::value);
      },
      [](atoms::shutdown_atom) { std::_Exit(0); }};
    });
    int status = 2;
    self->request(*router, std::chrono::seconds(5), atoms::register_atom::value, info, role, role,
                  prove(me, {info.name, info.role}, me.certificate_pem(), sys, *router))
        .receive([&](caf::ok_atom) { status = 0; },
                 [&](caf::error& err) { std::cerr << "refused: " << actors::describe(err) << "\n"; });
    if (status != 0) std::_Exit(status);
    std::cout << "registered" << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds(60));
    std::_Exit(0);
  }
  std::cerr << "unknown mode or missing arguments\n";
  return 2;
}

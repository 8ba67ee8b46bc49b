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
//   prfaas_rogue_node claim ROUTER CA CERT KEY NODE
//       connects declaring NODE (another member's actor-plane node id, HOSTHASH#PID as the router
//       logs it) in its BASP handshake: its own node id is rewritten in everything it writes.
//       Prints "refused: WHY" and exits 0 when the router will not have it; when it gets in, it
//       sends a forged decode result for request 1 as that node, prints "connected" and exits 1.
//   prfaas_rogue_node watch DIRECTORY CA CERT KEY
//       asks the cache directory at DIRECTORY (its actor-plane endpoint) to send it the index and
//       the news of every node's cache, as the router does; prints "watched N", the messages of
//       news it got within 2 s.
// Exit 2: usage or setup error.

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "actors/actor_plane.hpp"
#include "actors/ssl_interpose.hpp"
#include "actors/messages.hpp"
#include "actors/system_config.hpp"
#include "runtime/common/endpoint.h"
#include "runtime/config/deployment_config.h"
#include "runtime/security/pki.h"

using namespace prfaas;

namespace {

// The claim mode's rewrite: every plaintext write replaces `own` (this process's node id, as
// CAF serializes it) with `claimed`.
std::string g_own, g_claimed;

}  // namespace

extern "C" int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto real = actors::next_definition<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();  // as the actor plane's own wrapper does (actors/openssl_error_queue.cpp)
  if (g_own.empty() || num <= 0) return real(ssl, buf, num);
  std::string data(static_cast<const char*>(buf), static_cast<size_t>(num));
  for (size_t at = 0; (at = data.find(g_own, at)) != std::string::npos; at += g_claimed.size())
    data.replace(at, g_own.size(), g_claimed);
  return real(ssl, data.data(), num) == num ? num : -1;
}

namespace {

std::string serialized(caf::actor_system& sys, const caf::node_id& node) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  if (sink(const_cast<caf::node_id&>(node))) return "";
  return std::string(buf.begin(), buf.end());
}

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
    std::cerr << "usage: prfaas_rogue_node impersonate|forge|claim|cancel|join|watch ROUTER CA CERT KEY [NAME ROLE [PRESENTED_CERT] | NODE_ID | CLIENT_ID]\n";
    return 2;
  }
  const std::string mode = argv[1];
  const endpoint router_at = parse_endpoint(argv[2]);
  const actors::tls_files tls{argv[3], argv[4], argv[5]};
  security::node_credentials me(tls.ca, tls.certificate, tls.key);
  const config::deployment_config config;
  actors::system_config cfg(config.router, 2, tls);
  caf::actor_system sys{cfg};
  if (mode == "claim" && argc >= 7) {
    const std::string text = argv[6];
    const auto hash = text.find('#');
    const auto victim = hash == std::string::npos ? caf::optional<caf::node_id>{}
                                                  : caf::make_node_id(static_cast<uint32_t>(std::stoul(text.substr(hash + 1))),
                                                                      text.substr(0, hash));
    if (!victim) {
      std::cerr << "not a node id: " << text << "\n";
      return 2;
    }
    g_claimed = serialized(sys, *victim);
    g_own = serialized(sys, sys.node());
    if (g_own.size() != g_claimed.size() || g_own.empty()) return 2;
  }
  auto router = actors::remote_actor(sys, router_at.host, router_at.port);
  if (mode == "claim") {
    if (!router) {
      std::cout << "refused: " << sys.render(router.error()) << std::endl;
      std::_Exit(0);
    }
    // The router's handshake came first; whether it took ours shows when it answers.
    caf::scoped_actor asker{sys};
    bool answered = false;
    std::string why;
    asker->request(*router, std::chrono::seconds(3), atoms::status_atom::value)
        .receive([&](const actors::router_status&) { answered = true; },
                 [&](caf::error& err) { why = actors::describe(err); });
    if (!answered) {
      std::cout << "refused: the router does not answer (" << why << ")" << std::endl;
      std::_Exit(0);
    }
    actors::decode_news forged;
    forged.results.push_back({1, {'f', 'o', 'r', 'g', 'e', 'd'}, 1.0, 0});
    caf::anon_send(*router, std::move(forged));
    std::cout << "connected" << std::endl;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::_Exit(1);
  }
  if (!router) {
    std::cerr << "cannot reach the router: " << sys.render(router.error()) << "\n";
    return 2;
  }
  if (mode == "watch") {  // `router` is the directory here
    auto got = std::make_shared<std::atomic<int>>(0);
    auto watcher = sys.spawn([got](caf::event_based_actor* a) -> caf::behavior {
      a->set_default_handler(caf::drop);
      return {[got](const actors::directory_news&) { ++*got; }};
    });
    caf::send_as(watcher, *router, atoms::watch_atom::value);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    std::cout << "watched " << got->load() << std::endl;
    std::_Exit(0);
  }
  actors::node_info info;
  info.cluster = config.deployment.local_cluster;
  info.model = config.model.fingerprint();
  caf::scoped_actor self{sys};

  if (mode == "impersonate" && argc >= 8) {
    info.name = argv[6];
    info.role = cluster::parse_role(argv[7]);
    info.capacity = 8;
    const std::string presented = argc >= 9 ? text_of(argv[8]) : me.certificate_pem();
    auto handle = sys.spawn([](caf::event_based_actor* a) -> caf::behavior {
      a->set_default_handler(caf::drop);
      return {[](atoms::status_atom) {}};
    });
    int status = 1;
    self->request(*router, std::chrono::seconds(5), atoms::register_atom::value, info, handle, handle,
                  prove(me, {info.name, argv[7]}, presented, sys, *router))
        .receive([&](caf::ok_atom) { std::cout << "accepted" << std::endl; },
                 [&](caf::error& err) {
                   std::cout << "refused: " << actors::describe(err) << std::endl;
                   status = 0;
                 });
    caf::anon_send_exit(handle, caf::exit_reason::kill);
    std::fflush(nullptr);
    std::_Exit(status);
  }
  // A holder of some certificate that learnt another's client id: cancel its request, or join it
  // (a retry by client id gets the request's result).
  if (mode == "cancel" && argc >= 7) {
    self->send(*router, atoms::cancel_atom::value, std::string(argv[6]));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::cout << "sent" << std::endl;
    std::_Exit(0);
  }
  if (mode == "join" && argc >= 7) {
    actors::generate_request req;
    req.prompt_ids = {1, 2, 3};
    req.max_tokens = 1;
    req.client_id = argv[6];
    self->request(*router, std::chrono::seconds(30), req)
        .receive([&](const actors::generate_result& r) { std::cout << "joined " << r.tokens.size() << std::endl; },
                 [&](caf::error& err) { std::cout << "refused: " << actors::describe(err) << std::endl; });
    std::fflush(nullptr);
    std::_Exit(0);
  }
  if (mode == "forge") {
    info.name = me.who().name;
    info.role = cluster::node_role::prefill;
    const caf::actor r = *router;
    auto role = sys.spawn([r](caf::event_based_actor* a) -> caf::behavior {
      a->set_default_handler(caf::drop);
      return {[=](const std::vector<actors::prefill_job>& jobs) {
        for (const auto& job : jobs) {
          actors::decode_news forged;
          forged.started.push_back({job.request, 1, job.attempt});
          forged.results.push_back({job.request, {'f', 'o', 'r', 'g', 'e', 'd'}, 1.0, job.attempt});
          a->send(r, std::move(forged));
          std::printf("forged %llu\n", static_cast<unsigned long long>(job.request));
        }
        std::fflush(stdout);
        // Leave once the forgeries have gone out: the router re-dispatches what it gave us.
        a->delayed_send(a, std::chrono::milliseconds(300), atoms::shutdown_atom::value);
      },
      [](atoms::shutdown_atom) { std::_Exit(0); }};
    });
    int status = 2;
    self->request(*router, std::chrono::seconds(5), atoms::register_atom::value, info, role, role,
                  prove(me, {info.name, "prefill"}, me.certificate_pem(), sys, *router))
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

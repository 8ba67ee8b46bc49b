#include "actors/actor_plane.hpp"
#include "actors/messages.hpp"

#include "runtime/common/errc.h"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>
#include <caf/io/all.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>

namespace prfaas::actors {

tls_files deployment_credentials(const std::string& state_dir, const std::string& name) {
  const std::string pki = state_dir + "/pki";
  return {pki + "/ca.pem", pki + "/nodes/" + name + ".pem", pki + "/nodes/" + name + ".key"};
}

bool tls_on(caf::actor_system& sys) { return sys.has_openssl_manager(); }

caf::expected<uint16_t> publish(caf::actor_system& sys, const caf::actor& whom, uint16_t port,
                                const std::string& host) {
  if (tls_on(sys)) return caf::openssl::publish(whom, port, host.c_str(), true);
  return sys.middleman().publish(whom, port, host.c_str(), true);
}

void unpublish(caf::actor_system& sys, const caf::actor& whom, uint16_t port) {
  if (!tls_on(sys)) {
    sys.middleman().unpublish(whom, port);
    return;
  }
  // caf/openssl/unpublish.hpp does not compile in 0.17.6: ask the TLS middleman directly, and
  // wait, so that a restarted role can take the port at once.
  caf::scoped_actor self{sys};
  self->request(sys.openssl_manager().actor_handle(), std::chrono::seconds(2), caf::unpublish_atom::value,
                whom.address(), port)
      .receive([] {}, [](caf::error&) {});
}

caf::expected<caf::actor> remote_actor(caf::actor_system& sys, const std::string& host, uint16_t port,
                                       std::chrono::milliseconds timeout) {
  // Through the middleman actor, so a peer that accepts and never answers (a stopped process)
  // costs `timeout`, not forever.
  caf::scoped_actor self{sys};
  caf::expected<caf::actor> out{caf::make_error(errc::unreachable, "no answer from " + host + ":" + std::to_string(port))};
  self->request(middleman_handle(sys), timeout, caf::connect_atom::value, host, port)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (ptr) out = caf::actor_cast<caf::actor>(ptr);
            else out = caf::make_error(errc::unreachable, "no actor published at " + host + ":" + std::to_string(port));
          },
          [&](caf::error& err) { out = std::move(err); });
  return out;
}

caf::io::middleman_actor middleman_handle(caf::actor_system& sys) {
  return tls_on(sys) ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
}

void ignore_stray_errors(caf::scheduled_actor* self) {
  auto seen = std::make_shared<uint64_t>(0);
  self->set_error_handler([self, seen](caf::error& err) {
    if (++*seen <= 10 || *seen % 1000 == 0)
      spdlog::warn("{}: ignored an error message outside a request ({}; {} so far)", self->name(), describe(err), *seen);
  });
}

}  // namespace prfaas::actors

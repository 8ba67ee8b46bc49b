#include "actors/actor_plane.hpp"

#include <caf/all.hpp>
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

caf::expected<caf::actor> remote_actor(caf::actor_system& sys, const std::string& host, uint16_t port) {
  if (tls_on(sys)) return caf::openssl::remote_actor(sys, host, port);
  return sys.middleman().remote_actor(host, port);
}

caf::io::middleman_actor middleman_handle(caf::actor_system& sys) {
  return tls_on(sys) ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
}

}  // namespace prfaas::actors

#include "actors/client.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <thread>

namespace prfaas::actors {

caf::expected<caf::actor> connect_router(caf::actor_system& sys, const endpoint& router, int attempts,
                                         std::chrono::milliseconds delay) {
  std::string last;
  for (int i = 0; i < attempts; ++i) {
    auto h = sys.middleman().remote_actor(router.host, router.port);
    if (h) return *h;
    last = sys.render(h.error());
    if (i + 1 < attempts) std::this_thread::sleep_for(delay);
  }
  return caf::make_error(errc::unreachable, "cannot reach the router at " + router.str() + " after " +
                                                std::to_string(attempts) + " attempts (" + last + ")");
}

caf::expected<generate_result> generate(caf::actor_system& sys, const caf::actor& router,
                                        const generate_request& request, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<generate_result> out{caf::make_error(errc::internal, "no reply")};
  self->request(router, timeout, request)
      .receive([&](generate_result& r) { out = std::move(r); },
               [&](caf::error& err) {
                 if (err == caf::sec::request_timeout)
                   out = caf::make_error(errc::deadline_exceeded, "no reply from the router within " +
                                                                      std::to_string(timeout.count()) + " ms");
                 else
                   out = std::move(err);
               });
  return out;
}

caf::expected<router_status> status(caf::actor_system& sys, const caf::actor& router,
                                    std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<router_status> out{caf::make_error(errc::internal, "no reply")};
  self->request(router, timeout, atoms::status_atom::value)
      .receive([&](router_status& s) { out = std::move(s); }, [&](caf::error& err) { out = std::move(err); });
  return out;
}

}  // namespace prfaas::actors

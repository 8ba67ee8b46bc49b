// A custom role: an admission-control actor in front of the router.  Clients talk to it as they
// would to the router (generate_request in, generate_result out); it refuses prompts over a byte
// limit and requests beyond a bound on those open at once, and passes the rest on.  Behind it, a
// small deployment in this process (router, a local prefill node, a decode node) moves KV with the
// loopback carrier.  Built against the installed package: find_package(prfaas).
//
//   admission_control                  exit 0 when the admitted request completes and the
//                                      oversized one is refused, naming the limit

#include <caf/all.hpp>

#include <chrono>
#include <iostream>
#include <string>

#include "actors/client.hpp"
#include "actors/node.hpp"
#include "actors/system_config.hpp"
#include "runtime/common/errc.h"
#include "runtime/transport/loopback_carrier.h"

using namespace prfaas;

namespace {

struct admission_state {
  int open = 0;
  static inline const char* name = "admission-control";
};

// The role: a limit on prompt bytes and on open requests, then the router.
caf::behavior admission_control(caf::stateful_actor<admission_state>* self, caf::actor router, size_t max_prompt_bytes,
                                int max_open) {
  return {
      [=](actors::generate_request& req) -> caf::result<actors::generate_result> {
        if (req.prompt.size() > max_prompt_bytes)
          return caf::make_error(errc::invalid_argument, "admission control: a prompt of " + std::to_string(req.prompt.size()) +
                                                             " bytes is over the limit of " + std::to_string(max_prompt_bytes));
        if (self->state.open >= max_open)
          return caf::make_error(errc::no_capacity, "admission control: " + std::to_string(max_open) + " requests are open");
        ++self->state.open;
        auto promise = self->make_response_promise<actors::generate_result>();
        self->request(router, caf::infinite, std::move(req))
            .then(
                [=](actors::generate_result& r) mutable {
                  --self->state.open;
                  promise.deliver(std::move(r));
                },
                [=](caf::error& e) mutable {
                  --self->state.open;
                  promise.deliver(std::move(e));
                });
        return promise;
      },
  };
}

}  // namespace

int main() {
  config::deployment_config config;
  actors::system_config cfg(config.router, 2);
  caf::actor_system sys{cfg};
  auto router = caf::actor_cast<caf::actor>(actors::spawn_router(sys, config, nullptr));
  // A local prefill node and a local decode node, assembled as prfaas-node assembles one, their
  // KV on one loopback carrier instead of TCP.
  auto carrier = transport::make_loopback_carrier();
  std::vector<caf::actor> nodes;
  for (auto role : {cluster::node_role::prefill, cluster::node_role::decode}) {
    actors::node_spec s;
    s.config = config;
    s.role = role;
    s.name = std::string("local-") + cluster::to_string(role) + "-0";
    s.cluster = config.deployment.local_cluster;
    s.router = router;
    s.worker.data_host = "127.0.0.1";
    s.worker.carrier = carrier;
    s.fatal = [](const std::string& why) { std::cerr << "admission_control: node failed: " << why << "\n"; };
    nodes.push_back(actors::start_node(sys, std::move(s)));
  }
  auto gate = sys.spawn(admission_control, router, size_t{200}, 4);

  actors::generate_request small, large;
  small.prompt = "a short question";
  small.max_tokens = 6;
  large.prompt = std::string(500, 'x');
  // The client talks to the gate exactly as to a router.
  caf::expected<actors::generate_result> admitted = caf::error{};
  for (int attempt = 0; attempt < 50 && !admitted; ++attempt) {
    admitted = actors::generate(sys, gate, small, std::chrono::seconds(30));
    if (!admitted) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // nodes registering
  }
  const auto refused = actors::generate(sys, gate, large, std::chrono::seconds(30));
  int status = 0;
  if (!admitted) {
    std::cerr << "admission_control: the small request failed: " << actors::describe(admitted.error()) << "\n";
    status = 1;
  } else {
    std::cout << "admitted: " << admitted->tokens.size() << " tokens via " << admitted->prefill_node << " and "
              << admitted->decode_node << "\n";
  }
  if (refused) {
    std::cerr << "admission_control: the oversized request was not refused\n";
    status = 1;
  } else {
    const auto why = actors::describe(refused.error());
    std::cout << "refused: " << why << "\n";
    if (why.find("over the limit of 200") == std::string::npos) status = 1;
  }
  for (auto& n : nodes) caf::anon_send_exit(n, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  return status;
}

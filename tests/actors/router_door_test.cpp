// The router behind a client process's door (actors/router.cpp, actors/client_door.cpp): a
// request whose caller went, told by the door, ends at the router after its grace unless a
// retry joins it.  The router runs alone here: with no node registered a request waits in its
// queue, so nothing but the caller going ends it before its deadline.

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "actors/client.hpp"
#include "actors/client_door.hpp"
#include "actors/roles.hpp"
#include "actors/system_config.hpp"

using namespace prfaas;
using namespace std::chrono_literals;

namespace {

actors::generate_request waiting_request(std::string client_id) {
  actors::generate_request r;
  r.prompt = "nobody serves me yet";
  r.max_tokens = 4;
  r.deadline_ms = 60000;
  r.client_id = std::move(client_id);
  return r;
}

// The router's status once `done(status)` holds, or as it is after 10 s.
template <class Done>
actors::router_status status_when(caf::actor_system& sys, const caf::actor& router, Done done) {
  actors::router_status st;
  for (int i = 0; i < 100; ++i) {
    auto s = actors::status(sys, router, 5s);
    REQUIRE(s);
    st = *s;
    if (done(st)) break;
    std::this_thread::sleep_for(100ms);
  }
  return st;
}

}  // namespace

TEST_CASE("a request whose door caller went ends at the router after the grace, one whose caller's retry joined runs on") {
  const config::deployment_config config;
  actors::system_config cfg{config.router, 2};
  caf::actor_system sys{cfg};
  const auto router = caf::actor_cast<caf::actor>(actors::spawn_router(sys, config, nullptr));
  const auto door = actors::open_door(sys, router);
  {
    caf::scoped_actor leaving{sys};
    leaving->send(door, waiting_request(""));  // no client id: no retry can find it
    caf::scoped_actor retrying{sys};
    retrying->send(door, waiting_request("retried-client"));
    REQUIRE(status_when(sys, router, [](const auto& s) { return s.in_flight == 2; }).in_flight == 2);
  }  // both callers go; one comes back at once with the same client id
  caf::scoped_actor back{sys};
  back->send(door, waiting_request("retried-client"));
  const auto st = status_when(sys, router, [](const auto& s) { return s.failed >= 1; });
  CHECK(st.failed == 1);     // the one nobody came back for: cancelled once the grace passed
  CHECK(st.in_flight == 1);  // the one the retry joined waits on for a node
  CHECK(st.completed == 0);
  std::this_thread::sleep_for(3s);  // past another grace: still there
  CHECK(status_when(sys, router, [](const auto&) { return true; }).in_flight == 1);
  caf::anon_send_exit(door, caf::exit_reason::kill);
  caf::anon_send_exit(router, caf::exit_reason::kill);
}

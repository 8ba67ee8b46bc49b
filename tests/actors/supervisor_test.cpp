// The node supervisor restarts a failed role actor, and stops after too many failures; it
// registers again when its router was lost mid-registration or did not answer in time.

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "actors/roles.hpp"
#include "actors/actor_plane.hpp"
#include "actors/messages.hpp"
#include "actors/system_config.hpp"
#include "tests/support/free_port.h"

using namespace prfaas;

namespace {

using prfaas::testing::free_port;

// A role that fails on the tick_atom message it is sent.
caf::behavior fragile(caf::event_based_actor* self) {
  return {[=](atoms::tick_atom) { self->quit(caf::make_error(errc::internal, "injected failure")); }};
}

struct spawn_log {
  std::mutex m;
  std::condition_variable cv;
  std::vector<caf::actor> spawned;
  std::string fatal;
  bool wait_for(size_t n) {
    std::unique_lock l(m);
    return cv.wait_for(l, std::chrono::seconds(5), [&] { return spawned.size() >= n; });
  }
  bool wait_fatal() {
    std::unique_lock l(m);
    return cv.wait_for(l, std::chrono::seconds(5), [&] { return !fatal.empty(); });
  }
};

}  // namespace

TEST_CASE("a role actor that fails is restarted, up to the limit, then the node gives up") {
  actors::system_config cfg(config::router_config{}, 1);
  caf::actor_system sys{cfg};
  spawn_log log;
  actors::supervisor_options opts;
  opts.spawn_role = [&](caf::actor) { return sys.spawn(fragile); };
  opts.on_spawned = [&](const caf::actor& a) {
    std::lock_guard l(log.m);
    log.spawned.push_back(a);
    log.cv.notify_all();
  };
  opts.fatal = [&](const std::string& why) {
    std::lock_guard l(log.m);
    log.fatal = why;
    log.cv.notify_all();
  };
  auto sup = actors::spawn_supervisor(sys, opts);
  REQUIRE(log.wait_for(1));
  caf::anon_send(log.spawned.back(), atoms::tick_atom::value);
  REQUIRE(log.wait_for(2));  // restarted
  CHECK(log.spawned[0] != log.spawned[1]);
  CHECK(log.fatal.empty());
  for (size_t n = 2; n <= 6; ++n) {
    caf::actor last;
    {
      std::lock_guard l(log.m);
      last = log.spawned.back();
    }
    caf::anon_send(last, atoms::tick_atom::value);
    if (n <= 5) REQUIRE(log.wait_for(n + 1));
  }
  REQUIRE(log.wait_fatal());  // the sixth failure exceeds the limit of 5 restarts
  CHECK_THAT(log.fatal, Catch::Contains("failed 6 times within 60 s"));
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  log.spawned.clear();
}

namespace {

// A router stand-in: records registrations; the first `stall` registrations it
// never answers (their askers time out, as with a stalled router).
struct router_record {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> registered;
  std::vector<caf::response_promise> stalled;
  int stall = 0;
  template <class Pred>
  bool wait(Pred p, std::chrono::seconds limit = std::chrono::seconds(15)) {
    std::unique_lock l(m);
    return cv.wait_for(l, limit, p);
  }
};

caf::behavior stand_in_router(caf::event_based_actor* self, router_record* rec) {
  return {
      [=](atoms::register_atom, const actors::node_info& info, const caf::actor&, const caf::actor&,
          const actors::registration_proof&) -> caf::result<caf::ok_atom> {
        std::lock_guard l(rec->m);
        rec->registered.push_back(info.name);
        rec->cv.notify_all();
        if (rec->stall > 0) {
          --rec->stall;
          auto rp = self->make_response_promise();
          rec->stalled.push_back(rp);
          return rp;
        }
        return caf::ok_atom::value;
      },
  };
}

// A role that takes 400 ms to say who it is.
caf::behavior slow_role(caf::event_based_actor* self) {
  auto waiting = std::make_shared<std::vector<caf::response_promise>>();
  return {
      [=](atoms::status_atom) -> caf::result<actors::node_info> {
        auto rp = self->make_response_promise();
        waiting->push_back(rp);
        self->delayed_send(self, std::chrono::milliseconds(400), atoms::tick_atom::value);
        return rp;
      },
      [=](atoms::tick_atom) {
        actors::node_info info;
        info.name = "slow-node";
        info.role = prfaas::cluster::node_role::decode;
        for (auto& rp : *waiting) rp.deliver(info);
        waiting->clear();
      },
      [](atoms::republish_atom, const caf::actor&, const std::string&) {},  // a cache directory named: it holds none
      [](atoms::router_atom, const caf::actor&) {},  // the router's handle, new or lost
  };
}

}  // namespace

TEST_CASE("a router lost while the role is still saying who it is: no crash, and the node registers with the router it reaches next") {
  router_record first, second;  // outlive the actor system (its actors write them)
  actors::system_config cfg(config::router_config{}, 2);
  caf::actor_system sys{cfg};
  auto lost = sys.spawn(stand_in_router, &first);
  const uint16_t port = free_port();  // nothing listens there yet
  actors::supervisor_options opts;
  opts.spawn_role = [&](caf::actor) { return sys.spawn(slow_role); };
  opts.router = lost;
  opts.router_at = endpoint{"127.0.0.1", port};
  // A node with certificates signs a statement naming the router's node at registration.
  opts.prove = [](const security::identity&, const std::string&, const std::string&) { return actors::registration_proof{}; };
  auto fatal = std::make_shared<std::string>();
  opts.fatal = [fatal](const std::string& why) { *fatal = why; };
  auto sup = actors::spawn_supervisor(sys, opts);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  caf::anon_send_exit(lost, caf::exit_reason::kill);  // before the role answers (400 ms)
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  // The router comes back where the node looks for it.
  auto back = sys.spawn(stand_in_router, &second);
  REQUIRE(actors::publish(sys, back, port, "127.0.0.1"));
  CHECK(second.wait([&] { return !second.registered.empty(); }));
  CHECK(second.registered.front() == "slow-node");
  CHECK(first.registered.empty());
  CHECK(fatal->empty());
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(back, caf::exit_reason::user_shutdown);
}

TEST_CASE("a registration a stalled router never answers is sent again, and the node runs once it is answered") {
  router_record rec;  // outlives the actor system (its actors write it)
  rec.stall = 1;
  actors::system_config cfg(config::router_config{}, 2);
  caf::actor_system sys{cfg};
  auto router = sys.spawn(stand_in_router, &rec);
  actors::supervisor_options opts;
  opts.spawn_role = [&](caf::actor) { return sys.spawn(slow_role); };
  opts.router = router;
  auto fatal = std::make_shared<std::string>();
  opts.fatal = [fatal](const std::string& why) { *fatal = why; };
  auto sup = actors::spawn_supervisor(sys, opts);
  // The first waits out its 5 s; the second is answered, and the node, running, asks no more.
  CHECK(rec.wait([&] { return rec.registered.size() >= 2; }));
  CHECK_FALSE(rec.wait([&] { return rec.registered.size() > 2; }, std::chrono::seconds(2)));
  CHECK(fatal->empty());
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  std::lock_guard l(rec.m);
  rec.stalled.clear();
}

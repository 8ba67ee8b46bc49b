// The node supervisor restarts a failed role actor, and stops after too many failures.

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "actors/roles.hpp"
#include "actors/system_config.hpp"

using namespace prfaas;

namespace {

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

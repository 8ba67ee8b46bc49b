// A caching node reaches the cache directory the router names (actors/directory_link.hpp): one
// that does not answer yet is tried again until it does, and a later naming wins over an earlier one.

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>

#include "actors/directory_link.hpp"
#include "actors/messages.hpp"
#include "actors/system_config.hpp"
#include "tests/support/free_port.h"

using namespace prfaas;
using namespace std::chrono_literals;

namespace {

using prfaas::testing::free_port;

// What the stand-in directory heard, from whom.
struct heard {
  std::atomic<int> updates{0};
  std::atomic<int> reached{0};  // `then` ran with a handle
  std::atomic<int> unreached{0};  // ... without one
};

// A stand-in cache directory: counts the updates it receives.
caf::behavior directory_stand_in(caf::event_based_actor*, std::shared_ptr<heard> h) {
  return {[=](const actors::cache_update&) { ++h->updates; }};
}

struct node_state {
  actors::directory_link link;
};

// A caching node's part that follows the directory: once reached, it sends one update.
caf::behavior caching_node(caf::stateful_actor<node_state>* self, caf::actor router, std::shared_ptr<heard> h) {
  return {[=](atoms::republish_atom, const caf::actor& local, const std::string& at) {
    actors::follow_directory(self, router, self->state.link, local, at, [=] {
      if (!self->state.link.handle) {
        ++h->unreached;
        return;
      }
      ++h->reached;
      actors::cache_update u;
      u.node = "node-0";
      self->send(self->state.link.handle, u);
    });
  }};
}

template <class F>
bool eventually(F f, std::chrono::milliseconds within) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

// A caching node following what a stand-in router names, and a stand-in directory (published
// on demand); both killed at the end.
struct link_fixture {
  actors::system_config cfg{config::router_config{}, 2};
  caf::actor_system sys{cfg};
  std::shared_ptr<heard> h = std::make_shared<heard>();
  caf::scoped_actor router{sys};
  caf::actor node = sys.spawn(caching_node, caf::actor_cast<caf::actor>(router), h);
  caf::actor directory = sys.spawn(directory_stand_in, h);
  ~link_fixture() {
    caf::anon_send_exit(node, caf::exit_reason::kill);
    caf::anon_send_exit(directory, caf::exit_reason::kill);
  }
  bool publish(uint16_t port) { return static_cast<bool>(sys.middleman().publish(directory, port, "127.0.0.1")); }
  // `from` names the directory at `port` to the node.
  void name(caf::scoped_actor& from, uint16_t port) {
    from->send(node, atoms::republish_atom::value, caf::actor{}, "127.0.0.1:" + std::to_string(port));
  }
};

}  // namespace

TEST_CASE("a directory that does not answer yet is tried again until it does: the node publishes to it") {
  link_fixture f;
  const uint16_t port = free_port();  // nothing listens there yet
  f.name(f.router, port);
  REQUIRE(eventually([&] { return f.h->unreached.load() >= 1; }, 5s));  // refused: none reached
  std::this_thread::sleep_for(300ms);
  REQUIRE(f.publish(port));
  CHECK(eventually([&] { return f.h->updates.load() == 1; }, 5s));
  CHECK(f.h->reached == 1);
}

TEST_CASE("a retry of a directory named before another one is dropped: the node stays with the one named last") {
  link_fixture f;
  const uint16_t dead = free_port(), live = free_port();
  REQUIRE(f.publish(live));
  f.name(f.router, dead);
  REQUIRE(eventually([&] { return f.h->unreached.load() >= 1; }, 5s));
  f.name(f.router, live);
  REQUIRE(eventually([&] { return f.h->updates.load() == 1; }, 5s));
  // The dead one's retry comes after a second and is dropped: nothing more is reached or lost.
  std::this_thread::sleep_for(actors::kDirectoryRetry + 500ms);
  CHECK(f.h->reached == 1);
  CHECK(f.h->unreached == 1);
  CHECK(f.h->updates == 1);
}

TEST_CASE("a directory named by anyone but the router is not followed") {
  link_fixture f;
  caf::scoped_actor stranger{f.sys};
  const uint16_t port = free_port();
  REQUIRE(f.publish(port));
  f.name(stranger, port);
  std::this_thread::sleep_for(500ms);
  CHECK(f.h->reached == 0);
  CHECK(f.h->updates == 0);
  f.name(f.router, port);
  CHECK(eventually([&] { return f.h->updates.load() == 1; }, 5s));
}

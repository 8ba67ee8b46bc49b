// What an actor tells a peer goes in one message per round of its mailbox (actors/outbox.hpp),
// at most one per gap when it has one:
// everything added while more work was queued goes together once that work is read, and an idle
// actor's one item goes at once.

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "actors/messages.hpp"
#include "actors/outbox.hpp"
#include "actors/system_config.hpp"

using namespace prfaas;
using namespace std::chrono_literals;

namespace {

struct gatherer_state {
  actors::outbox<actors::decode_news> news;
};

// An actor system and the peer an outbox's owner sends to.
struct peer_world {
  actors::system_config cfg{config::router_config{}, 2};
  caf::actor_system sys{cfg};
  caf::scoped_actor peer{sys};
};

// The next news `peer` gets; a failure after 5 s without.
actors::decode_news next_news(caf::scoped_actor& peer) {
  actors::decode_news got;
  peer->receive([&](actors::decode_news& n) { got = std::move(n); }, caf::after(5s) >> [] { FAIL("no news"); });
  return got;
}

// Each request id it reads becomes a result in its news to `peer`; `ok_atom` keeps it busy a
// while (so what is sent meanwhile queues up).
caf::behavior gatherer(caf::stateful_actor<gatherer_state>* self, caf::actor peer) {
  return {
      [=](uint64_t id) { self->state.news.add(self).results.push_back({id, {1}, 0, 0}); },
      [=](caf::ok_atom) { std::this_thread::sleep_for(200ms); },
      [=](atoms::flush_atom) {
        self->state.news.flushed();
        if (auto n = self->state.news.take()) self->send(peer, std::move(*n));
      },
  };
}

}  // namespace

TEST_CASE("news added while more work is queued go to the peer in one message once that work is read") {
  peer_world w;
  auto& peer = w.peer;
  auto g = w.sys.spawn(gatherer, caf::actor_cast<caf::actor>(peer));
  peer->send(g, caf::ok_atom::value);  // busy: the five ids below queue behind it
  for (uint64_t id = 1; id <= 5; ++id) peer->send(g, id);
  actors::decode_news got;
  got = next_news(peer);
  REQUIRE(got.results.size() == 5);
  for (uint64_t id = 1; id <= 5; ++id) CHECK(got.results[id - 1].request == id);
  // Idle: one item goes at once, alone.
  peer->send(g, uint64_t{6});
  got = next_news(peer);
  REQUIRE(got.results.size() == 1);
  CHECK(got.results[0].request == 6);
  caf::anon_send_exit(g, caf::exit_reason::kill);
}

TEST_CASE("an outbox gives what was gathered once, and nothing when nothing was") {
  actors::outbox<actors::decode_news> box;
  CHECK_FALSE(box.take());
  box.gather().results.push_back({7, {1}, 0, 0});
  box.gather().started.push_back({8, 100, 0});
  const auto n = box.take();
  REQUIRE(n);
  CHECK(n->results.size() == 1);
  CHECK(n->started.size() == 1);
  CHECK_FALSE(box.take());
}

namespace {

// Each id it reads becomes a result in news sent at once (take with the gap), as a node whose
// events come one by one.
struct spaced_state {
  actors::outbox<actors::decode_news> news{std::chrono::milliseconds(300)};
};

caf::behavior spaced(caf::stateful_actor<spaced_state>* self, caf::actor peer) {
  auto send = [=] {
    if (auto n = self->state.news.take(self)) self->send(peer, std::move(*n));
  };
  return {
      [=](uint64_t id) {
        self->state.news.gather().results.push_back({id, {1}, 0, 0});
        send();
      },
      [=](atoms::flush_atom) {
        self->state.news.flushed();
        send();
      },
  };
}

}  // namespace

TEST_CASE("with a gap, a peer gets at most one message per gap: news within it wait and go together at its end") {
  peer_world w;
  auto& peer = w.peer;
  auto g = w.sys.spawn(spaced, caf::actor_cast<caf::actor>(peer));
  const auto t0 = std::chrono::steady_clock::now();
  peer->send(g, uint64_t{1});  // the first: at once
  actors::decode_news got;
  got = next_news(peer);
  REQUIRE(got.results.size() == 1);
  CHECK(std::chrono::steady_clock::now() - t0 < 250ms);
  for (uint64_t id = 2; id <= 4; ++id) {  // one by one, within the gap
    peer->send(g, id);
    std::this_thread::sleep_for(20ms);
  }
  got = next_news(peer);
  CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);  // not before the gap's end
  REQUIRE(got.results.size() == 3);
  for (uint64_t id = 2; id <= 4; ++id) CHECK(got.results[id - 2].request == id);
  // After a quiet gap, at once again.
  std::this_thread::sleep_for(400ms);
  const auto t1 = std::chrono::steady_clock::now();
  peer->send(g, uint64_t{5});
  got = next_news(peer);
  REQUIRE(got.results.size() == 1);
  CHECK(std::chrono::steady_clock::now() - t1 < 250ms);
  caf::anon_send_exit(g, caf::exit_reason::kill);
}

// A client process's door to the router (actors/client_door.hpp): its callers ask it as they
// would ask the router; the requests of one round of its mailbox reach the router in one
// message, and each caller gets the answer given to its own ticket.

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "actors/client_door.hpp"
#include "actors/messages.hpp"
#include "actors/system_config.hpp"

using namespace prfaas;
using namespace std::chrono_literals;

namespace {

// A router that tells `observer` how many requests each message of a door carried, and answers
// a round's in one message: a result whose path is the request's prompt, or, for the prompt
// "refuse", the router's error; the prompt "hold" it never answers.  `answering` false: it
// answers nothing.  A door's word that callers went it passes on to `observer` (their tickets).
caf::behavior fake_router(caf::event_based_actor* self, caf::actor observer, bool answering) {
  return {
      [=](std::vector<actors::submission>& round) {
        self->send(observer, static_cast<int32_t>(round.size()));
        if (!answering) return;
        std::vector<actors::door_answer> answers;
        for (auto& s : round) {
          if (s.request.prompt == "hold") continue;
          actors::door_answer a{s.ticket, {}, {}};
          if (s.request.prompt == "refuse") a.error = caf::make_error(errc::prompt_too_long, "too long for it");
          else a.result.path = s.request.prompt;
          answers.push_back(std::move(a));
        }
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), std::move(answers));
      },
      [=](prfaas::atoms::orphan_atom, std::vector<uint64_t>& tickets) { self->send(observer, std::move(tickets)); },
  };
}

// Holds the only scheduler thread while requests queue up at the door.
caf::behavior blocker(caf::event_based_actor*) {
  return {[](caf::ok_atom) { std::this_thread::sleep_for(300ms); }};
}

actors::generate_request ask(std::string prompt) {
  actors::generate_request r;
  r.prompt = std::move(prompt);
  return r;
}

// A door's world: an actor system, an observer told what the fake router got, the router.
struct world {
  actors::system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor observer;
  caf::actor router;
  world(size_t threads, bool answering)
      : cfg{config::router_config{}, threads},
        sys{cfg},
        observer{sys},
        router{sys.spawn(fake_router, caf::actor_cast<caf::actor>(observer), answering)} {}
  // Until the router got `n` requests, in however many messages.
  void routed(int32_t n) {
    int32_t seen = 0;
    while (seen < n) observer->receive([&](int32_t k) { seen += k; }, caf::after(5s) >> [&] { FAIL("the router got " << seen); });
  }
};

}  // namespace

TEST_CASE("requests queued at a process's door reach the router in one message, and each caller gets its own answer") {
  actors::system_config cfg{config::router_config{}, 1};
  caf::actor_system sys{cfg};
  caf::scoped_actor observer{sys};
  auto router = sys.spawn(fake_router, caf::actor_cast<caf::actor>(observer), true);
  auto door = actors::open_door(sys, router);
  caf::anon_send(sys.spawn(blocker), caf::ok_atom::value);  // the door waits behind it
  std::this_thread::sleep_for(50ms);
  const std::vector<std::string> prompts{"a", "refuse", "c", "d", "e"};
  std::vector<std::unique_ptr<caf::scoped_actor>> callers;
  for (size_t i = 0; i < prompts.size(); ++i) {
    callers.push_back(std::make_unique<caf::scoped_actor>(sys));
    (*callers.back())->send(door, ask(prompts[i]));  // answered to this caller as a plain message
  }
  int32_t carried = 0;
  observer->receive([&](int32_t n) { carried = n; }, caf::after(5s) >> [] { FAIL("the router got nothing"); });
  CHECK(carried == 5);
  for (size_t i = 0; i < prompts.size(); ++i)
    (*callers[i])->receive(
        [&](actors::generate_result& r) {
          CHECK(prompts[i] != "refuse");
          CHECK(r.path == prompts[i]);
        },
        [&](caf::error& err) {
          CHECK(prompts[i] == "refuse");
          CHECK(err == errc::prompt_too_long);
        },
        caf::after(5s) >> [&] { FAIL("no answer for " << prompts[i]); });
  // Idle, a request goes at once, alone.
  caf::scoped_actor one{sys};
  one->request(door, 5s, ask("f")).receive([](actors::generate_result& r) { CHECK(r.path == "f"); },
                                           [](caf::error&) { FAIL("an error for an idle request"); });
  observer->receive([&](int32_t n) { CHECK(n == 1); }, caf::after(5s) >> [] { FAIL("the router got nothing"); });
  caf::anon_send_exit(router, caf::exit_reason::kill);
}

TEST_CASE("when the router goes away, every request waiting at the door is answered unreachable and the door closes") {
  world w(2, false);
  auto door = actors::open_door(w.sys, w.router);
  caf::scoped_actor caller{w.sys};
  caller->monitor(door);
  caller->send(door, ask("a"));
  caller->send(door, ask("b"));
  w.routed(2);
  caf::anon_send_exit(w.router, caf::exit_reason::kill);
  for (int i = 0; i < 2; ++i)
    caller->receive([](caf::error& err) { CHECK(err == errc::unreachable); },
                    [](actors::generate_result&) { FAIL("an answer from a router that answers nothing"); },
                    caf::after(5s) >> [] { FAIL("the waiting request was never answered"); });
  bool closed = false;
  caller->receive([&](caf::down_msg&) { closed = true; }, caf::after(5s) >> [] {});
  CHECK(closed);
}

TEST_CASE("a door answers only its router's answers, and refuses past its bound of requests waiting") {
  world w(2, false);
  auto door = actors::open_door(w.sys, w.router, 2);
  caf::scoped_actor caller{w.sys};
  caller->send(door, ask("a"));
  caller->send(door, ask("b"));
  w.routed(2);
  // A third waits for no one: refused at once.
  caller->request(door, 5s, ask("c")).receive([](actors::generate_result&) { FAIL("a third request admitted"); },
                                              [](caf::error& err) { CHECK(err == errc::no_capacity); });
  // Somebody else's answers for tickets 1 and 2 reach nobody.
  caf::scoped_actor stranger{w.sys};
  std::vector<actors::door_answer> forged{{1, {}, {}}, {2, {}, {}}};
  forged[0].result.path = forged[1].result.path = "forged";
  stranger->send(door, forged);
  bool answered = false;
  caller->receive([&](actors::generate_result&) { answered = true; }, [&](caf::error&) { answered = true; },
                  caf::after(300ms) >> [] {});
  CHECK_FALSE(answered);
  caf::anon_send_exit(w.router, caf::exit_reason::kill);
}

TEST_CASE("a door closes once idle for its period, not while a request waits") {
  actors::system_config cfg{config::router_config{}, 2};
  caf::actor_system sys{cfg};
  caf::scoped_actor observer{sys};
  auto router = sys.spawn(fake_router, caf::actor_cast<caf::actor>(observer), false);
  auto door = actors::open_door(sys, router, actors::kMaxDoorWaiting, 100ms);
  caf::scoped_actor caller{sys};
  caller->monitor(door);
  caller->send(door, ask("a"));  // never answered: it waits
  bool closed = false;
  caller->receive([&](caf::down_msg&) { closed = true; }, caf::after(500ms) >> [] {});
  CHECK_FALSE(closed);
  caf::anon_send_exit(router, caf::exit_reason::kill);  // the request is answered unreachable
  caller->receive([](caf::error& err) { CHECK(err == errc::unreachable); }, caf::after(5s) >> [] { FAIL("no answer"); });
  caller->receive([&](caf::down_msg&) { closed = true; }, caf::after(5s) >> [] {});
  CHECK(closed);
  // Another door, never asked: closes within two periods.
  auto router2 = sys.spawn(fake_router, caf::actor_cast<caf::actor>(observer), true);
  auto idle = actors::open_door(sys, router2, actors::kMaxDoorWaiting, 100ms);
  caller->monitor(idle);
  closed = false;
  caller->receive([&](caf::down_msg&) { closed = true; }, caf::after(2s) >> [] {});
  CHECK(closed);
  caf::anon_send_exit(router2, caf::exit_reason::kill);
}

TEST_CASE("a caller that goes before its answer is told to the router by its tickets, one that got its answer is not") {
  world w(2, true);
  auto door = actors::open_door(w.sys, w.router);
  {
    caf::scoped_actor answered{w.sys};
    answered->request(door, 5s, ask("a")).receive([](actors::generate_result& r) { CHECK(r.path == "a"); },
                                                  [](caf::error&) { FAIL("an error for an answered request"); });
  }  // gone after its answer: nothing to tell
  w.routed(1);
  {
    caf::scoped_actor leaving{w.sys};
    leaving->send(door, ask("hold"));
    leaving->send(door, ask("hold"));
    w.routed(2);
  }  // gone with its two tickets waiting (2 and 3)
  std::vector<uint64_t> told;
  w.observer->receive([&](std::vector<uint64_t>& t) { told = t; },
                      caf::after(5s) >> [] { FAIL("the router was told of no caller going"); });
  std::sort(told.begin(), told.end());
  CHECK(told == std::vector<uint64_t>{2, 3});
  bool more = false;
  w.observer->receive([&](std::vector<uint64_t>&) { more = true; }, caf::after(300ms) >> [] {});
  CHECK_FALSE(more);
  caf::anon_send_exit(w.router, caf::exit_reason::kill);
}

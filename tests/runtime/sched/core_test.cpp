// The control-plane core as a specification: events in, commands out, phases readable.

#include <catch2/catch.hpp>

#include <random>

#include "runtime/sched/core.h"
#include "runtime/sched/request_checker.h"

using namespace prfaas;
using namespace prfaas::sched;

namespace {

// A small deployment: two PrfaaS prefill nodes, one local prefill node, two decode nodes.
struct fixture {
  core c;
  request_checker checker;
  commands out;
  double now = 0;

  explicit fixture(core_options o = {}) : c(o) {
    step(node_up{{"prfaas-prefill-0", node_kind::prefill, true, 0}});
    step(node_up{{"prfaas-prefill-1", node_kind::prefill, true, 0}});
    step(node_up{{"local-prefill-0", node_kind::prefill, false, 0}});
    step(node_up{{"decode-0", node_kind::decode, false, 4}});
    step(node_up{{"decode-1", node_kind::decode, false, 4}});
  }
  const commands& step(const event& e, double at) {
    now = at;
    return step(e);
  }
  const commands& step(const event& e) {
    out.clear();
    c.handle(e, now, out);
    checker.after(e, out, c);
    return out;
  }
  node_id id(const std::string& name) const { return *c.node_by_name(name); }
  void add_directory() { step(node_up{{"cache-directory", node_kind::cache_directory, false, 0}}); }
  // A request whose prompt `node` caches `tokens` of, as the directory answers it.
  const commands& arrive_with_hit(request_id rid, int prompt, const std::string& node, int tokens) {
    step(request_arrived{rid, prompt, 4, 0});
    cache_hits hits;
    (c.node(id(node)).desc.prfaas ? hits.prfaas : hits.local) = tokens;
    hits.nodes = {{id(node), tokens}};
    hits.held = {{id(node), tokens}};
    return step(cache_answer{rid, hits});
  }
  template <class T>
  std::vector<T> of(const commands& cmds) const {
    std::vector<T> v;
    for (const auto& x : cmds)
      if (const auto* t = std::get_if<T>(&x)) v.push_back(*t);
    return v;
  }
};

}  // namespace

TEST_CASE("a request moves routing -> reserving -> prefilling -> transferring -> decoding -> done") {
  fixture f;
  auto& out = f.step(request_arrived{1, 3000, 16, 0});
  auto res = f.of<reserve>(out);
  REQUIRE(res.size() == 1);
  CHECK(f.c.find(1)->ph == phase::reserving);
  CHECK(f.c.node(res[0].decode).load == 1);

  auto pre = f.of<prefill>(f.step(reserved{1}));
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].path == policy::prefill_path::prfaas);  // 3000 uncached tokens > t = 1024
  CHECK(f.c.node(pre[0].node).desc.prfaas);
  CHECK(f.c.find(1)->ph == phase::prefilling);
  CHECK(f.c.node(pre[0].node).load == 1);

  f.step(prefill_done{1, 0, 3000});
  CHECK(f.c.find(1)->ph == phase::transferring);
  CHECK(f.c.node(pre[0].node).load == 0);
  f.step(first_token{1, 4096});
  CHECK(f.c.find(1)->ph == phase::decoding);
  auto replies = f.of<reply>(f.step(decode_done{1}));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].ok);
  CHECK(replies[0].request.kv_bytes == 4096);
  CHECK(replies[0].request.computed_tokens == 3000);
  CHECK(f.c.find(1) == nullptr);
  CHECK(f.c.node(res[0].decode).load == 0);
  f.checker.at_end(f.c);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("a decode that finishes before the prefill node reports waits for the report") {
  fixture f;
  f.step(request_arrived{1, 100, 1, 0});
  f.step(reserved{1});
  f.step(first_token{1, 100});
  CHECK(f.of<reply>(f.step(decode_done{1})).empty());
  CHECK(f.c.find(1)->decode_finished);
  auto replies = f.of<reply>(f.step(prefill_done{1, 0, 100}));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].ok);
  f.checker.at_end(f.c);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("with a directory the core asks it first, offloads on the uncached length and prefers the cache-affine node") {
  fixture f({.threshold_tokens = 1024, .use_directory = true});
  f.add_directory();
  auto& out = f.step(request_arrived{1, 3000, 8, 0});
  REQUIRE(f.of<lookup_cache>(out).size() == 1);
  CHECK(f.c.find(1)->ph == phase::routing);

  // 2,944 tokens cached on the local prefill node: 56 uncached, far below t, so it stays local
  // and goes to the node that holds the hit.
  cache_hits hits;
  hits.local = 2944;
  hits.nodes = {{f.id("local-prefill-0"), 2944}};
  // No decode node holds any of it: the prefill goes beside the reservation.
  auto pre = f.of<prefill>(f.step(cache_answer{1, hits}));
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].path == policy::prefill_path::local);
  CHECK(pre[0].node == f.id("local-prefill-0"));
  CHECK(pre[0].cached_tokens == 2944);
  CHECK(pre[0].uncached_tokens == 56);

  // The same hit held by one of two PrfaaS nodes only: scarce bandwidth ignores it (offload),
  // and the PrfaaS node that holds it serves.
  f.step(request_arrived{2, 3000, 8, 0});
  hits = {};
  hits.prfaas = 2944;
  hits.nodes = {{f.id("prfaas-prefill-1"), 2944}};
  pre = f.of<prefill>(f.step(cache_answer{2, hits}));
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].path == policy::prefill_path::prfaas);
  CHECK(pre[0].node == f.id("prfaas-prefill-1"));
  CHECK(pre[0].cached_tokens == 2944);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("a hit never covers the whole prompt: one token is always computed") {
  fixture f({.threshold_tokens = 1024, .use_directory = true});
  f.add_directory();
  auto pre = f.of<prefill>(f.arrive_with_hit(1, 128, "local-prefill-0", 128));
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].cached_tokens == 127);
  CHECK(pre[0].uncached_tokens == 1);
}

TEST_CASE("a lost node fails what it holds with node_lost and the other node is told to let go") {
  fixture f;
  f.step(request_arrived{1, 3000, 16, 0});
  auto pre = f.of<prefill>(f.step(reserved{1}));
  REQUIRE(pre.size() == 1);
  auto& out = f.step(node_down{pre[0].decode, "decode node decode-x lost (killed)"});
  auto replies = f.of<reply>(out);
  REQUIRE(replies.size() == 1);
  CHECK_FALSE(replies[0].ok);
  CHECK(replies[0].code == errc::node_lost);
  CHECK(replies[0].why == "decode node decode-x lost (killed)");
  auto aborts = f.of<abort_request>(out);
  REQUIRE(aborts.size() == 1);
  CHECK(aborts[0].node == pre[0].node);  // the prefill node, not the lost decode node
  CHECK(f.c.node(pre[0].node).load == 0);
  // The node's late messages are stale, not errors.
  f.step(prefill_done{1, 0, 3000});
  CHECK(f.c.counters().stale_events == 1);
  f.checker.at_end(f.c);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("a restarted node (same name) loses what its last incarnation held") {
  fixture f;
  f.step(request_arrived{1, 100, 16, 0});
  auto res = f.of<reserve>(f.out);
  REQUIRE(res.size() == 1);
  const std::string name = f.c.node(res[0].decode).desc.name;
  auto replies = f.of<reply>(f.step(node_up{{name, node_kind::decode, false, 4}}));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].code == errc::node_lost);
  CHECK(replies[0].why.find("restarted") != std::string::npos);
  CHECK(f.c.node(res[0].decode).up);
  CHECK(f.c.node(res[0].decode).load == 0);
}

TEST_CASE("a request past its deadline ends with deadline_exceeded at the next tick") {
  fixture f;
  f.step(request_arrived{1, 100, 16, 2.0});
  f.step(reserved{1});
  f.now = 1.5;
  CHECK(f.of<reply>(f.step(tick{})).empty());
  f.now = 2.5;
  auto& out = f.step(tick{});
  auto replies = f.of<reply>(out);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].code == errc::deadline_exceeded);
  CHECK(f.of<abort_request>(out).size() == 2);  // both the prefill and the decode node
  f.checker.at_end(f.c);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("past max_in_flight requests are refused with no_capacity, and a full decode tier refuses routing") {
  fixture f({.threshold_tokens = 1024, .max_in_flight = 3});
  for (request_id id = 1; id <= 3; ++id) f.step(request_arrived{id, 100, 1, 0});
  auto replies = f.of<reply>(f.step(request_arrived{4, 100, 1, 0}));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].code == errc::no_capacity);

  fixture g;
  for (request_id id = 1; id <= 8; ++id) g.step(request_arrived{id, 100, 1, 0});  // 2 x capacity 4
  replies = g.of<reply>(g.step(request_arrived{9, 100, 1, 0}));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].code == errc::no_capacity);
  CHECK(g.checker.violations().empty());
}

TEST_CASE("a draining node gets no new work but finishes what it holds") {
  fixture f;
  f.step(request_arrived{1, 100, 1, 0});
  auto pre = f.of<prefill>(f.step(reserved{1}));
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].node == f.id("local-prefill-0"));
  f.step(node_drain{f.id("local-prefill-0")});
  f.step(request_arrived{2, 100, 1, 0});
  auto pre2 = f.of<prefill>(f.step(reserved{2}));
  REQUIRE(pre2.size() == 1);
  CHECK(pre2[0].node != f.id("local-prefill-0"));  // the local cluster has none left: fallback
  f.step(prefill_done{1, 0, 100});
  f.step(first_token{1, 1});
  CHECK(f.of<reply>(f.step(decode_done{1})).size() == 1);
}

TEST_CASE("random event storms keep every invariant") {
  // Events in any order, duplicated, late or for the wrong request: the checker must stay quiet.
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    fixture f({.threshold_tokens = 500, .bandwidth_abundant = seed % 3 == 0, .use_directory = seed % 2 == 0,
               .pull_min_tokens = 64, .max_attempts = 1 + static_cast<int>(seed % 3),
               .queue_max = static_cast<int>(seed % 4) * 3});
    if (seed % 2 == 0) f.step(node_up{{"cache-directory", node_kind::cache_directory, false, 0}});
    std::mt19937 rng(seed);
    request_id next = 1;
    for (int i = 0; i < 3000; ++i) {
      f.now += 0.01;
      const request_id any = 1 + rng() % next;
      const node_id node = static_cast<node_id>(rng() % f.c.nodes().size());
      // Mostly the request's current attempt, sometimes an abandoned one.
      const auto* cur = f.c.find(any);
      const int attempt = cur && rng() % 4 ? cur->attempt : static_cast<int>(rng() % 3);
      switch (rng() % 12) {
        case 0: case 1: f.step(request_arrived{next++, 1 + static_cast<int>(rng() % 4000), 4, f.now + 2}); break;
        case 2: f.step(cache_answer{any, {static_cast<int>(rng() % 2000), 0, {{node, 640}}}}); break;
        case 3: f.step(reserved{any, attempt}); break;
        case 4: f.step(rng() % 2 ? event{prefill_done{any, 0, 10, attempt}} : event{cache_pulled{any, 64, attempt}}); break;
        case 5: f.step(first_token{any, 10, attempt}); break;
        case 6: f.step(decode_done{any, attempt}); break;
        case 7: if (rng() % 8 == 0) f.step(request_failed{any, rng() % 2 ? errc::transport_failed : errc::internal, "broken", attempt}); break;
        case 8: if (rng() % 40 == 0) f.step(node_down{node, "lost"}); break;
        case 9: if (rng() % 40 == 0) f.step(node_up{f.c.node(node).desc}); break;
        case 10: f.step(tick{}); break;
        case 11: if (rng() % 20 == 0) f.step(node_drain{node}); break;
      }
    }
    f.now += 10;
    f.step(tick{});  // every deadline has passed: everything ends
    f.checker.at_end(f.c);
    INFO("seed " << seed << ": " << (f.checker.violations().empty() ? "" : f.checker.violations()[0]));
    CHECK(f.checker.violations().empty());
    CHECK(f.checker.arrived() > 100);
  }
}

TEST_CASE("the core holds at most max_nodes nodes, a restart under a known name still registers") {
  core c({.max_nodes = 2});
  commands out;
  c.handle(node_up{{"a", node_kind::prefill, false, 0}}, 0, out);
  c.handle(node_up{{"b", node_kind::decode, false, 1}}, 0, out);
  CHECK_THROWS_WITH(c.handle(node_up{{"c", node_kind::decode, false, 1}}, 0, out), Catch::Contains("maximum of 2 nodes"));
  CHECK_NOTHROW(c.handle(node_up{{"b", node_kind::decode, false, 1}}, 0, out));
}

TEST_CASE("a longer hit on a busier node of the same cluster is pulled to the node that prefills") {
  fixture f({.threshold_tokens = 1024, .use_directory = true, .pull_min_tokens = 256});
  f.add_directory();
  // prfaas-prefill-1 holds the hit but is 3 prefills busier than prfaas-prefill-0: beyond the
  // affinity slack, so node 0 prefills and pulls the prefix from node 1.
  for (request_id id = 10; id < 13; ++id) {
    f.arrive_with_hit(id, 3000, "prfaas-prefill-1", 3000);
    f.step(reserved{id});
  }
  REQUIRE(f.c.node(f.id("prfaas-prefill-1")).load == 3);
  f.arrive_with_hit(1, 3000, "prfaas-prefill-1", 2944);
  auto pulls = f.of<pull_cache>(f.step(reserved{1}));
  REQUIRE(pulls.size() == 1);
  CHECK(pulls[0].from == f.id("prfaas-prefill-1"));
  CHECK(pulls[0].to == f.id("prfaas-prefill-0"));
  CHECK(pulls[0].tokens == 2944);
  CHECK(f.c.find(1)->ph == phase::pulling);
  CHECK(f.c.node(f.id("prfaas-prefill-0")).load == 1);  // receiving occupies the prefill node

  auto pre = f.of<prefill>(f.step(cache_pulled{1, 2944}));
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].cached_tokens == 2944);
  f.step(prefill_done{1, 2944, 56});
  CHECK(f.c.find(1)->source == cache_source::peer);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("the other cluster's hit counts only under abundant bandwidth, and is then moved across") {
  for (bool abundant : {false, true}) {
    fixture f({.threshold_tokens = 1024, .bandwidth_abundant = abundant, .use_directory = true, .pull_min_tokens = 256});
    f.add_directory();
    const commands answered = f.arrive_with_hit(1, 3000, "prfaas-prefill-1", 2944);
    auto& out = f.step(reserved{1});
    if (!abundant) {
      // Scarce: 3,000 uncached local tokens go to PrfaaS, to the node with the hit: nothing moves,
      // so the prefill went beside the reservation.
      CHECK(f.of<prefill>(out).empty());
      auto pre = f.of<prefill>(answered);
      REQUIRE(pre.size() == 1);
      CHECK(pre[0].node == f.id("prfaas-prefill-1"));
      CHECK(pre[0].cached_tokens == 2944);
      CHECK(f.of<pull_cache>(out).empty());
    } else {
      // Abundant: 56 uncached tokens stay local, and the PrfaaS hit is moved to the local node
      // (after the reservation: the pull and the prefill wait for it).
      CHECK(f.of<prefill>(answered).empty());
      auto pulls = f.of<pull_cache>(out);
      REQUIRE(pulls.size() == 1);
      CHECK(pulls[0].to == f.id("local-prefill-0"));
      CHECK(pulls[0].from == f.id("prfaas-prefill-1"));
      f.step(cache_pulled{1, 2944});
      f.step(prefill_done{1, 2944, 56});
      CHECK(f.c.find(1)->source == cache_source::remote);
      CHECK(f.c.find(1)->path == policy::prefill_path::local);
    }
    CHECK(f.checker.violations().empty());
  }
}

TEST_CASE("a failed pull is no failure: the prefill recomputes what did not arrive") {
  fixture f({.threshold_tokens = 1024, .bandwidth_abundant = true, .use_directory = true, .pull_min_tokens = 256});
  f.add_directory();
  f.arrive_with_hit(1, 3000, "prfaas-prefill-1", 2944);
  REQUIRE(f.of<pull_cache>(f.step(reserved{1})).size() == 1);
  // The source node is lost meanwhile: the request does not hold it, so it goes on.
  CHECK(f.of<reply>(f.step(node_down{f.id("prfaas-prefill-1"), "lost"})).empty());
  auto pre = f.of<prefill>(f.step(cache_pulled{1, 0}));
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].cached_tokens == 0);
  f.step(prefill_done{1, 0, 3000});
  f.step(first_token{1, 1});
  CHECK(f.of<reply>(f.step(decode_done{1}))[0].ok);
  f.checker.at_end(f.c);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("with attempts left, a lost decode node's request is dispatched again elsewhere and completes") {
  fixture f({.threshold_tokens = 1024, .max_attempts = 3});
  f.step(request_arrived{1, 3000, 16, 0});
  auto pre = f.of<prefill>(f.step(reserved{1}));
  REQUIRE(pre.size() == 1);
  f.step(first_token{1, 4096});
  auto& out = f.step(node_down{pre[0].decode, "decode node lost (killed)"});
  CHECK(f.of<reply>(out).empty());
  auto aborts = f.of<abort_request>(out);
  REQUIRE(aborts.size() == 1);
  CHECK(aborts[0].node == pre[0].node);  // the prefill node lets go of attempt 0
  auto res = f.of<reserve>(out);
  REQUIRE(res.size() == 1);
  CHECK(res[0].attempt == 1);
  CHECK(res[0].decode != pre[0].decode);  // the lost node is no candidate
  CHECK(f.c.find(1)->ph == phase::reserving);
  CHECK(f.c.counters().redispatched == 1);

  // Late answers of attempt 0 change nothing.
  f.step(prefill_done{1, 0, 3000, 0});
  f.step(decode_done{1, 0});
  CHECK(f.c.find(1)->ph == phase::reserving);
  CHECK(f.c.counters().stale_events == 2);

  auto pre2 = f.of<prefill>(f.step(reserved{1, 1}));
  REQUIRE(pre2.size() == 1);
  CHECK(pre2[0].attempt == 1);
  f.step(prefill_done{1, 0, 3000, 1});
  f.step(first_token{1, 4096, 1});
  auto replies = f.of<reply>(f.step(decode_done{1, 1}));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].ok);
  CHECK(replies[0].request.attempt == 1);
  f.checker.at_end(f.c);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("a broken transfer is retried, a request out of attempts, past its deadline or failed for good ends") {
  SECTION("transport_failed is worth another attempt") {
    fixture f({.threshold_tokens = 1024, .max_attempts = 2});
    f.step(request_arrived{1, 100, 4, 0});
    f.step(reserved{1});
    auto& out = f.step(request_failed{1, errc::transport_failed, "connection reset", 0});
    CHECK(f.of<reply>(out).empty());
    CHECK(f.of<reserve>(out).size() == 1);
    // The second (last) attempt fails the same way: now the client hears of it.
    f.step(reserved{1, 1});
    auto replies = f.of<reply>(f.step(request_failed{1, errc::transport_failed, "connection reset", 1}));
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].code == errc::transport_failed);
  }
  SECTION("past the deadline there is no new attempt") {
    fixture f({.threshold_tokens = 1024, .max_attempts = 3});
    f.step(request_arrived{1, 100, 4, 1.0});
    f.step(reserved{1});
    f.now = 1.5;
    auto replies = f.of<reply>(f.step(request_failed{1, errc::node_lost, "gone", 0}));
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].code == errc::node_lost);
  }
  SECTION("an error of the request itself is final") {
    fixture f({.threshold_tokens = 1024, .max_attempts = 3});
    f.step(request_arrived{1, 100, 4, 0});
    auto replies = f.of<reply>(f.step(request_failed{1, errc::bad_frame, "payload index out of range", 0}));
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].code == errc::bad_frame);
  }
}

TEST_CASE("without room, requests wait in a bounded FIFO queue and go as soon as a node lets go of one") {
  fixture f({.threshold_tokens = 1024, .queue_max = 2});
  for (request_id id = 1; id <= 8; ++id) {  // two decode nodes of capacity 4: full
    f.step(request_arrived{id, 100, 1, 0});
    f.step(reserved{id});
  }
  CHECK(f.of<reserve>(f.step(request_arrived{9, 100, 1, 0})).empty());
  CHECK(f.c.find(9)->ph == phase::queued);
  f.step(request_arrived{10, 100, 1, 5.0});
  CHECK(f.c.queued() == 2);
  auto refused = f.of<reply>(f.step(request_arrived{11, 100, 1, 0}));
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].code == errc::no_capacity);
  CHECK_THAT(refused[0].why, Catch::Contains("admission queue holds its maximum of 2"));

  // Request 1 ends: its decode slot goes to the oldest waiting request, 9, in the same step.
  f.step(prefill_done{1, 0, 100});
  f.step(first_token{1, 1});
  auto& out = f.step(decode_done{1});
  CHECK(f.of<reply>(out).size() == 1);
  auto res = f.of<reserve>(out);
  REQUIRE(res.size() == 1);
  CHECK(res[0].id == 9);
  CHECK(f.c.find(10)->ph == phase::queued);
  // A waiting request's deadline still holds.
  f.now = 6;
  auto expired = f.of<reply>(f.step(tick{}));
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].id == 10);
  CHECK(expired[0].code == errc::deadline_exceeded);
  CHECK(f.c.queued() == 0);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("a router that knows no nodes yet (just restarted) holds requests until they register") {
  core c({.threshold_tokens = 1024, .queue_max = 4});
  request_checker checker;
  commands out;
  auto step = [&](const event& e) { out.clear(); c.handle(e, 0, out); checker.after(e, out, c); };
  step(request_arrived{1, 100, 4, 0});
  CHECK(c.find(1)->ph == phase::queued);
  step(node_up{{"local-prefill-0", node_kind::prefill, false, 0}});
  CHECK(c.find(1)->ph == phase::queued);  // no decode node yet
  step(node_up{{"decode-0", node_kind::decode, false, 4}});
  CHECK(c.find(1)->ph == phase::reserving);
  REQUIRE(out.size() == 1);
  CHECK(std::holds_alternative<reserve>(out[0]));
  CHECK(checker.violations().empty());
}

TEST_CASE("a settling router routes nothing until its settling time has passed, then everything in order") {
  core c({.threshold_tokens = 1024, .queue_max = 8, .settle_until_s = 1.0});
  commands out;
  c.handle(node_up{{"local-prefill-0", node_kind::prefill, false, 0}}, 0.1, out);
  c.handle(node_up{{"decode-0", node_kind::decode, false, 4}}, 0.1, out);
  c.handle(request_arrived{1, 100, 4, 0}, 0.2, out);
  c.handle(request_arrived{2, 100, 4, 0}, 0.3, out);
  CHECK(out.empty());
  CHECK(c.queued() == 2);
  c.handle(tick{}, 0.5, out);
  CHECK(out.empty());
  c.handle(tick{}, 1.0, out);
  REQUIRE(out.size() == 2);
  CHECK(std::get<reserve>(out[0]).id == 1);
  CHECK(std::get<reserve>(out[1]).id == 2);
}

TEST_CASE("a settling router that knows its predecessor's nodes routes as soon as all of them are back, decode nodes once they reported what they hold") {
  core c({.threshold_tokens = 1024, .queue_max = 8, .settle_until_s = 1.0,
          .settle_for = {"local-prefill-0", "decode-0", "decode-1"}});
  commands out;
  c.handle(node_up{{"local-prefill-0", node_kind::prefill, false, 0}}, 0.1, out);
  c.handle(node_up{{"decode-0", node_kind::decode, false, 4}}, 0.1, out);
  c.handle(node_reported{*c.node_by_name("decode-0")}, 0.1, out);
  c.handle(request_arrived{1, 100, 4, 0}, 0.2, out);
  CHECK(out.empty());  // decode-1 is still due
  c.handle(node_up{{"decode-1", node_kind::decode, false, 4}}, 0.25, out);
  CHECK(out.empty());  // registered, but what it holds of the last router's requests is not known yet
  CHECK(c.settling(0.25));
  c.handle(node_reported{*c.node_by_name("decode-1")}, 0.26, out);
  CHECK_FALSE(c.settling(0.26));
  REQUIRE(out.size() == 1);
  CHECK(std::get<reserve>(out[0]).id == 1);
  out.clear();
  c.handle(request_arrived{2, 100, 4, 0}, 0.3, out);
  CHECK(out.size() == 1);  // settled: routed on arrival
}

TEST_CASE("a predecessor's node that never comes back delays routing only until the settling time") {
  core c({.threshold_tokens = 1024, .queue_max = 8, .settle_until_s = 1.0, .settle_for = {"decode-0", "decode-9"}});
  commands out;
  c.handle(node_up{{"local-prefill-0", node_kind::prefill, false, 0}}, 0.1, out);
  c.handle(node_up{{"decode-0", node_kind::decode, false, 4}}, 0.1, out);
  c.handle(request_arrived{1, 100, 4, 0}, 0.2, out);
  c.handle(tick{}, 0.9, out);
  CHECK(out.empty());
  c.handle(tick{}, 1.0, out);
  CHECK(out.size() == 1);
}

TEST_CASE("the decode node holding the prompt's start is reserved, and the prefill is told what it holds") {
  fixture f({.threshold_tokens = 1024, .use_directory = true});
  f.add_directory();
  // decode-1 decoded the conversation's earlier turn: it holds 2,688 of the 2,701 tokens.
  const commands answered = f.arrive_with_hit(1, 2701, "decode-1", 2688);
  auto res = f.of<reserve>(answered);
  REQUIRE(res.size() == 1);
  CHECK(res[0].decode == f.id("decode-1"));  // not decode-0, first of the equally idle ones
  CHECK_FALSE(res[0].whole_kv);
  CHECK(f.of<prefill>(answered).empty());  // it waits for what the reservation says is held
  // The reservation answers what the node really holds (its cache may have lost some since).
  auto pre = f.of<prefill>(f.step(reserved{1, 0, 2624}));
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].decode == f.id("decode-1"));
  CHECK(pre[0].decode_held_tokens == 2624);
  CHECK(f.c.find(1)->decode_held_tokens == 2624);
  f.step(prefill_done{1, 0, 2701});
  f.step(first_token{1, 1000, 0, 5000});
  CHECK(f.c.find(1)->kv_bytes == 1000);
  CHECK(f.c.find(1)->kv_held_bytes == 5000);
  // Without a hit on a decode node, the least occupied one (decode-0, now emptier) serves.
  res = f.of<reserve>(f.arrive_with_hit(2, 2701, "local-prefill-0", 640));
  REQUIRE(res.size() == 1);
  CHECK(res[0].decode == f.id("decode-0"));
  CHECK(f.checker.violations().empty());
}

TEST_CASE("when the directory says the decode node holds none of the prompt, the reservation and the prefill go at once") {
  fixture f({.threshold_tokens = 1024, .use_directory = true});
  f.add_directory();
  const commands answered = f.arrive_with_hit(1, 3000, "prfaas-prefill-0", 0);
  auto res = f.of<reserve>(answered);
  auto pre = f.of<prefill>(answered);
  REQUIRE(res.size() == 1);
  REQUIRE(pre.size() == 1);
  CHECK(res[0].whole_kv);                 // the decode node takes nothing from its cache
  CHECK(pre[0].decode == res[0].decode);
  CHECK(pre[0].decode_held_tokens == 0);  // the prefill sends the whole KV
  CHECK(f.c.find(1)->ph == phase::prefilling);
  CHECK(f.c.find(1)->reservation_pending);
  CHECK(f.c.node(pre[0].node).load == 1);
  CHECK(f.c.node(res[0].decode).load == 1);
  // The reservation's answer only confirms it: no second prefill.
  CHECK(f.step(reserved{1, 0, 0}).empty());
  CHECK_FALSE(f.c.find(1)->reservation_pending);
  CHECK(f.c.counters().stale_events == 0);
  f.step(prefill_done{1, 0, 3000});
  f.step(first_token{1, 1000});
  auto replies = f.of<reply>(f.step(decode_done{1}));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].ok);
  f.checker.at_end(f.c);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("a reservation refused after its prefill went: the prefill node lets go and the request goes again") {
  fixture f({.threshold_tokens = 1024, .use_directory = true, .max_attempts = 2});
  f.add_directory();
  const commands answered = f.arrive_with_hit(1, 3000, "prfaas-prefill-0", 0);
  const auto pre = f.of<prefill>(answered);
  REQUIRE(pre.size() == 1);
  const auto& again = f.step(request_failed{1, errc::no_capacity, "full", 0});
  auto aborts = f.of<abort_request>(again);
  REQUIRE(aborts.size() == 2);  // the prefill node and the decode node
  CHECK(((aborts[0].node == pre[0].node) || (aborts[1].node == pre[0].node)));
  CHECK(f.c.node(pre[0].node).load == 0);
  CHECK(f.c.find(1)->attempt == 1);
  CHECK(f.of<lookup_cache>(again).size() == 1);  // from routing, with the directory's word again
  // The first attempt's late answers are stale.
  f.step(reserved{1, 0, 0});
  f.step(prefill_done{1, 0, 3000, 0});
  CHECK(f.c.counters().stale_events == 2);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("without a directory the reservation's answer is the only word on what the decode node holds: one after the other") {
  fixture f({.threshold_tokens = 1024});
  const auto& out = f.step(request_arrived{1, 3000, 8, 0});
  REQUIRE(f.of<reserve>(out).size() == 1);
  CHECK_FALSE(f.of<reserve>(out)[0].whole_kv);
  CHECK(f.of<prefill>(out).empty());
  CHECK(f.of<prefill>(f.step(reserved{1, 0, 640})).at(0).decode_held_tokens == 640);
}

TEST_CASE("a request a lost router dispatched is taken over on its decode node as far as it got, and ends there") {
  fixture f;
  const node_id decode = f.id("decode-1");
  // One decoding already, one whose KV is still arriving.
  f.step(request_adopted{41, 0, decode, 3000, 16, 60, true, policy::prefill_path::prfaas});
  f.step(request_adopted{42, 1, decode, 200, 16, 0, false, policy::prefill_path::local});
  REQUIRE(f.c.find(41));
  CHECK(f.c.find(41)->ph == phase::decoding);
  CHECK(f.c.find(41)->path == policy::prefill_path::prfaas);
  CHECK(f.c.find(42)->ph == phase::transferring);
  CHECK(f.c.find(42)->attempt == 1);
  CHECK(f.c.node(decode).load == 2);
  CHECK(f.c.node(decode).decoding == 1);
  CHECK(f.c.counters().adopted == 2);
  // 42 waits for its prefill node's word (prefill_word_wait_s) before 41's deadline comes.
  CHECK(f.c.next_deadline() == std::optional<double>(5));
  // Nothing is dispatched again: the prefill is not run twice.
  CHECK(f.out.empty());
  auto replies = f.of<reply>(f.step(decode_done{41, 0}));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].ok);
  CHECK(replies[0].request.prefill_node == kNoNode);
  f.step(first_token{42, 1000, 1});
  CHECK(f.c.find(42)->ph == phase::decoding);
  CHECK(f.of<reply>(f.step(decode_done{42, 1})).size() == 1);
  CHECK(f.c.node(decode).load == 0);
  f.checker.at_end(f.c);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("a request taken over with its KV arriving becomes the prefill node's that says it holds the prefill: its report ends the prefill, its loss dispatches the request again") {
  fixture f({.max_attempts = 3});
  const node_id decode = f.id("decode-1"), prefill = f.id("prfaas-prefill-0");
  f.step(request_adopted{42, 1, decode, 3000, 16, 0, false, policy::prefill_path::prfaas});
  f.step(request_adopted{43, 0, decode, 3000, 16, 0, false, policy::prefill_path::prfaas});
  f.step(prefill_held{42, 1, prefill});
  REQUIRE(f.c.find(42));
  CHECK(f.c.find(42)->prefill_node == prefill);
  CHECK(f.c.find(42)->ph == phase::prefilling);
  CHECK(f.c.node(prefill).load == 1);
  // Not taken: another attempt, a node that is no prefill node, a request whose prefill node is known.
  const auto stale = f.c.counters().stale_events;
  f.step(prefill_held{43, 1, prefill});
  f.step(prefill_held{43, 0, f.id("decode-0")});
  f.step(prefill_held{42, 1, f.id("prfaas-prefill-1")});
  CHECK(f.c.counters().stale_events == stale + 3);
  CHECK(f.c.find(43)->prefill_node == kNoNode);
  CHECK(f.c.find(42)->prefill_node == prefill);
  // The prefill node's report counts: the request ends once decoded, its prefill run once.
  f.step(prefill_done{42, 0, 3000, 1});
  CHECK(f.c.node(prefill).load == 0);
  f.step(first_token{42, 1000, 1});
  auto replies = f.of<reply>(f.step(decode_done{42, 1}));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].ok);
  CHECK(replies[0].request.prefill_node == prefill);
  // The prefill node of 43, once known, lost: 43 runs again from routing, its decode node let go.
  f.step(prefill_held{43, 0, prefill});
  const auto& out = f.step(node_down{prefill, "gone"});
  CHECK(f.of<reserve>(out).size() == 1);
  CHECK(f.c.find(43)->attempt == 1);
  CHECK(f.checker.violations().empty());  // node loads and holders consistent at every step
}

TEST_CASE("a prefill node's word that comes before the decode node's report waits for it, and a request no prefill node speaks for runs again once the wait is over") {
  fixture f({.max_attempts = 3});
  const node_id decode = f.id("decode-0"), prefill = f.id("prfaas-prefill-1");
  f.step(prefill_held{51, 0, prefill}, 10.0);  // the prefill node registered first
  f.step(request_adopted{51, 0, decode, 3000, 16, 0, false, policy::prefill_path::prfaas}, 11.0);
  CHECK(f.c.find(51)->prefill_node == prefill);
  CHECK(f.c.find(51)->ph == phase::prefilling);
  // A word too old is forgotten: the request it was for waits like one nobody spoke for.
  f.step(prefill_held{52, 0, prefill}, 11.0);
  f.step(tick{}, 17.0);
  f.step(request_adopted{52, 0, decode, 3000, 16, 0, false, policy::prefill_path::prfaas}, 17.0);
  CHECK(f.c.find(52)->prefill_node == kNoNode);
  // Nobody speaks for 52: the driver's one timer is due when its wait ends, and it runs again.
  REQUIRE(f.c.next_deadline());
  CHECK(*f.c.next_deadline() == Approx(17.0 + 5.0));
  CHECK(f.of<reserve>(f.step(tick{}, 21.9)).empty());
  const auto& out = f.step(tick{}, 22.0);
  CHECK(f.of<reserve>(out).size() == 1);
  CHECK(f.c.find(52)->attempt == 1);
  // 51's KV came: a later tick leaves it be.
  f.step(first_token{51, 1000, 0}, 22.0);
  CHECK(f.of<reserve>(f.step(tick{}, 40.0)).empty());
  CHECK(f.c.find(51)->ph == phase::decoding);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("a request taken over is the prefill node's its decode node named: another prefill node's word counts for nothing, before the report or after") {
  fixture f({.max_attempts = 3});
  const node_id decode = f.id("decode-0"), named = f.id("prfaas-prefill-1"), other = f.id("prfaas-prefill-0");
  const auto adopted = [&](request_id id) {
    return request_adopted{id, 0, decode, 3000, 16, 0, false, policy::prefill_path::prfaas, "prfaas-prefill-1"};
  };
  // Words before the report: the other node's first, then the named node's; the named one wins.
  f.step(prefill_held{61, 0, other}, 10.0);
  f.step(prefill_held{61, 0, named}, 10.0);
  f.step(adopted(61), 11.0);
  CHECK(f.c.find(61)->prefill_node == named);
  // Only the other node's word before the report: the request still waits for the named one's.
  f.step(prefill_held{62, 0, other}, 11.0);
  f.step(adopted(62), 11.0);
  CHECK(f.c.find(62)->prefill_node == kNoNode);
  CHECK(f.c.find(62)->ph == phase::transferring);
  // After the report: the other node's word is stale, the named node's counts.
  const auto stale = f.c.counters().stale_events;
  f.step(prefill_held{62, 0, other}, 12.0);
  CHECK(f.c.find(62)->prefill_node == kNoNode);
  CHECK(f.c.counters().stale_events == stale + 1);
  f.step(prefill_held{62, 0, named}, 12.0);
  CHECK(f.c.find(62)->prefill_node == named);
  CHECK(f.c.find(62)->ph == phase::prefilling);
  // A false word alone leaves the request to run again once the wait is over.
  f.step(adopted(63), 12.0);
  f.step(prefill_held{63, 0, other}, 12.5);
  const auto& out = f.step(tick{}, 17.0);
  CHECK(f.of<reserve>(out).size() == 1);
  CHECK(f.c.find(63)->attempt == 1);
  // Without a name (a decode node of a router that named none) any prefill node's word counts.
  f.step(request_adopted{64, 0, decode, 3000, 16, 0, false, policy::prefill_path::prfaas}, 18.0);
  f.step(prefill_held{64, 0, other}, 18.0);
  CHECK(f.c.find(64)->prefill_node == other);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("a request taken over is refused for an id in flight, a node that is no decode node, or past max_in_flight") {
  fixture f({.max_in_flight = 2});
  f.step(request_arrived{7, 200, 4, 0});
  f.step(request_adopted{7, 0, f.id("decode-0"), 200, 4, 0, true});          // in flight already
  f.step(request_adopted{8, 0, f.id("local-prefill-0"), 200, 4, 0, true});   // not a decode node
  f.step(request_adopted{9, 0, f.id("decode-0"), 200, 4, 0, true});
  f.step(request_adopted{10, 0, f.id("decode-0"), 200, 4, 0, true});         // past max_in_flight
  CHECK_FALSE(f.c.find(8));
  CHECK(f.c.find(9));
  CHECK_FALSE(f.c.find(10));
  CHECK(f.c.counters().adopted == 1);
  CHECK(f.c.counters().stale_events == 3);
  CHECK(f.checker.violations().empty());
}

TEST_CASE("a request taken over whose decode node is then lost runs again from routing") {
  fixture f({.max_attempts = 3});
  f.step(request_adopted{5, 0, f.id("decode-0"), 3000, 16, 0, true, policy::prefill_path::prfaas});
  const auto& out = f.step(node_down{f.id("decode-0"), "gone"});
  CHECK(f.of<reserve>(out).size() == 1);
  CHECK(f.c.find(5)->attempt == 1);
  CHECK(f.checker.violations().empty());
}

// The lean request path, counted: the actor messages the router process reads and writes per
// request (its /metrics: prfaas_actor_plane_messages_total, counted at the TLS layer).  A request
// costs the router the client's request and its reply, one reservation of a decode node, one
// prefill job, the prefill node's report, and the decode node's start and result.  Its prompt is
// matched against the router's copy of the cache directory's index: no round trip.  Nodes send
// their cache updates to the directory themselves; the directory sends the router what changed,
// gathered per round of its mailbox (one at a time, as here: the prefill node's update and the
// decode node's, each its own message; under load many in one).  Beside requests, by time and not
// by request: a prefill node's link report while its KV moves (transport::telemetry_gate; the
// router counts them, and they are taken off), a decode node's checkpoint of a long generation's
// tokens (every 500 ms; these generations are shorter), and what passes while nothing runs.

#include <catch2/catch.hpp>

#include <thread>

#include "runtime/metrics/exposition.h"
#include "tests/support/process.h"

using namespace prfaas::testing;

namespace {

// The router's actor messages so far, in and out, less the prefill nodes' link reports (which
// come by time while KV moves, not by request: transport::telemetry_gate).
std::pair<double, double> router_messages(const deployment& d) {
  const auto r = run({PRFAAS_CLI, "metrics", "--state", d.state_dir()});
  REQUIRE(r.status == 0);
  auto page = prfaas::metrics::read_samples(r.out);
  const std::string family = "prfaas_actor_plane_messages_total";
  REQUIRE(page.count(family + "{direction=\"in\"}"));
  REQUIRE(page.count(family + "{direction=\"out\"}"));
  REQUIRE(page.count("prfaas_link_reports_total"));
  return {page[family + "{direction=\"in\"}"] - page["prfaas_link_reports_total"], page[family + "{direction=\"out\"}"]};
}

}  // namespace

TEST_CASE("a request costs the router at most 7 actor messages in and 3 out, no directory round trip, cache updates going to the directory directly") {
  deployment d("[router]\nthreshold_tokens = 256\n[gateway]\nenabled = false\n");  // no poller
  temp_dir dir;
  const int n = 60;
  const auto trace = write_trace(dir, n, {120, 200, 60, 240});  // under t: no link reports
  // What passes without requests (the nodes' liveness reports, the supervisors' looks), per
  // second, taken off what passes while they run; a metrics request is one message each way.
  const auto idle0 = router_messages(d);
  const double t0 = now_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const auto idle1 = router_messages(d);
  const double idle_s = now_seconds() - t0;
  const double idle_in = (idle1.first - idle0.first - 1) / idle_s, idle_out = (idle1.second - idle0.second - 1) / idle_s;
  const double t1 = now_seconds();
  const auto r = run(replay_args(d, trace, n, dir.path() + "/outcomes.jsonl", 1), 240000);
  REQUIRE(r.status == 0);
  const auto after = router_messages(d);
  const double busy_s = now_seconds() - t1;
  const double in = (after.first - idle1.first - 1 - idle_in * busy_s) / n,
               out = (after.second - idle1.second - 1 - idle_out * busy_s) / n;
  WARN("without requests: " << idle_in << " in, " << idle_out << " out per second");
  WARN("router actor messages per request: " << in << " in, " << out << " out");
  // The replay's own status request and connection are the rest.
  CHECK(in <= 7.15);
  CHECK(out <= 3.15);  // the reservation, the prefill job, the reply: no match
  CHECK(in >= 5);  // the request, the reservation's answer, the prefill report, the start, the result (and the directory's news)
  CHECK(out >= 2);
}

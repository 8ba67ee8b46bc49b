// The control plane's slow loops, as the router and the simulator both drive them: the stages
// integrated over time, conversions from drain to the node's return, and the threshold
// controller moving t through the core.

#include <catch2/catch.hpp>

#include <cmath>

#include "runtime/sched/control_plane.h"
#include "runtime/sim/scenario.h"

using namespace prfaas;
using namespace prfaas::sched;

namespace {

// One PrfaaS prefill node, two local prefill nodes, two decode nodes of 4 slots each.
void add_nodes(control_plane& cp) {
  commands out;
  for (const auto& d : {node_desc{"prfaas-prefill-0", node_kind::prefill, true, 0},
                        node_desc{"local-prefill-1", node_kind::prefill, false, 0},
                        node_desc{"local-prefill-0", node_kind::prefill, false, 0},
                        node_desc{"decode-1", node_kind::decode, false, 4}, node_desc{"decode-0", node_kind::decode, false, 4}})
    cp.handle(node_up{d}, 0, out);
}

control_plane_options rebalancing() {
  control_plane_options o;
  o.rebalancer = true;
  o.conversion_s = 5;
  return o;
}

template <class T>
const T* find(const commands& out) {
  for (const auto& c : out)
    if (const auto* x = std::get_if<T>(&c)) return x;
  return nullptr;
}

}  // namespace

TEST_CASE("the stages are integrated over time: local prefill busy and decode slots decoding, per period") {
  control_plane cp({});
  add_nodes(cp);
  commands out;
  cp.handle(request_arrived{1, 100, 4, 0}, 0, out);  // short: local; a decode slot is reserved
  cp.handle(reserved{1}, 0, out);                     // ... and a local prefill node takes it
  cp.handle(prefill_done{1, 0, 100}, 4, out);         // busy 4 s of 10
  cp.handle(first_token{1}, 4, out);                  // a reserved slot decodes from its first token
  cp.handle(decode_done{1}, 8, out);                  // 4 s of 10
  const auto p = cp.rebalance(10, out);
  CHECK(p.inputs.pd_prefill_busy == Approx(4.0 / 2 / 10));   // one of two local prefill nodes, 4 s
  CHECK(p.inputs.decode_occupancy == Approx(4.0 / 8 / 10));  // one of 8 slots, 4 s
  CHECK(p.inputs.n_p == 2);  // the PrfaaS node never counts
  CHECK(p.inputs.n_d == 2);
  CHECK(p.node.empty());     // the rebalancer is off
  const auto next = cp.rebalance(20, out);  // a new period, idle throughout
  CHECK(next.inputs.pd_prefill_busy == 0);
  CHECK(next.inputs.decode_occupancy == 0);
}

TEST_CASE("a prefill-bound period converts the first decode node: drained, told, counted once it serves as prefill") {
  control_plane cp(rebalancing());
  add_nodes(cp);
  commands out;
  // Both local prefill nodes busy the whole period, decode idle.
  for (uint64_t id : {1, 2}) {
    cp.handle(request_arrived{id, 100, 4, 0}, 0, out);
    cp.handle(reserved{id}, 0, out);
  }
  REQUIRE(cp.state().levels().local_prefill_busy == 2);
  out.clear();
  const auto p = cp.rebalance(10, out);
  CHECK(p.inputs.pd_prefill_busy == Approx(1.0));
  REQUIRE(p.node == "decode-0");  // first in name order that holds nothing... or drains first
  CHECK(p.to == node_kind::prefill);
  REQUIRE(cp.converting("decode-0"));
  const auto id = *cp.state().node_by_name("decode-0");
  CHECK_FALSE(cp.state().node(id).accepting);
  // It may hold a reservation: told only once it holds nothing.
  if (cp.state().node(id).load > 0) {
    CHECK_FALSE(find<convert_node>(out));
    out.clear();
    for (uint64_t r : {1, 2}) {
      cp.handle(prefill_done{r, 0, 100}, 11, out);
      cp.handle(first_token{r}, 11, out);
      cp.handle(decode_done{r}, 12, out);
    }
  }
  const auto* told = find<convert_node>(out);
  REQUIRE(told);
  CHECK(told->node == id);
  CHECK(told->to == node_kind::prefill);
  CHECK(cp.conversions() == 0);
  // No second conversion while this one is under way.
  CHECK(cp.rebalance(20, out).node.empty());
  out.clear();
  cp.handle(node_down{id, "left its role"}, 13, out);
  cp.handle(node_up{{"decode-0", node_kind::prefill, false, 0}}, 13, out);
  const auto* ended = find<conversion_ended>(out);
  REQUIRE(ended);
  CHECK(ended->ok);
  CHECK(ended->node == "decode-0");
  CHECK(cp.conversions() == 1);
  CHECK_FALSE(cp.converting("decode-0"));
  CHECK(cp.state().levels().local_prefill == 3);
}

TEST_CASE("a conversion that does not drain in time ends with deadline_exceeded at the next tick after it") {
  control_plane cp(rebalancing());
  add_nodes(cp);
  commands out;
  cp.handle(request_arrived{1, 100, 4, 0}, 0, out);
  const auto decode = std::get<reserve>(out.back()).decode;
  const std::string name = cp.state().node(decode).desc.name;
  out.clear();
  REQUIRE_FALSE(cp.convert(name, "prefill", 0, out));
  CHECK_FALSE(find<convert_node>(out));  // it holds the reservation
  CHECK(cp.convert(name, "prefill", 0, out).why.find("converting already") != std::string::npos);
  cp.handle(tick{}, 4, out);
  CHECK_FALSE(find<conversion_ended>(out));
  cp.handle(tick{}, 6, out);
  const auto* ended = find<conversion_ended>(out);
  REQUIRE(ended);
  CHECK_FALSE(ended->ok);
  CHECK(ended->code == errc::deadline_exceeded);
  CHECK(ended->why == name + " did not drain in time");
  CHECK_FALSE(cp.converting(name));
}

TEST_CASE("the threshold controller learns the routed lengths and moves t through the core when the link is saturated") {
  const auto s = sim::load_scenario(PRFAAS_SOURCE_DIR "/scenarios/paper-case-study.toml");
  control_plane_options o;
  o.core.threshold_tokens = 2000;
  o.prfaas_profile = std::make_shared<const profile::instance_profile>(s.prfaas);
  o.pd_profile = std::make_shared<const profile::instance_profile>(s.pd);
  o.output_tokens = s.output_tokens;
  control_plane cp(o);
  REQUIRE(cp.controller_on());
  commands out;
  for (int i = 0; i < 4; ++i) cp.handle(node_up{{"prfaas-" + std::to_string(i), node_kind::prefill, true, 0}}, 0, out);
  for (int i = 0; i < 4; ++i) cp.handle(node_up{{"local-" + std::to_string(i), node_kind::prefill, false, 0}}, 0, out);
  for (int i = 0; i < 8; ++i) cp.handle(node_up{{"decode-" + std::to_string(i), node_kind::decode, false, 64}}, 0, out);
  // Prompts of 1,000 to 40,000 tokens, each routed, prefilled and finished.
  for (uint64_t id = 1; id <= 400; ++id) {
    const int tokens = 1000 + static_cast<int>((id * 7919) % 39000);
    out.clear();
    cp.handle(request_arrived{id, tokens, 8, 0}, 1, out);
    cp.handle(reserved{id}, 1, out);
    cp.handle(prefill_done{id, 0, tokens}, 1, out);
    cp.handle(first_token{id}, 1, out);
    cp.handle(decode_done{id}, 1, out);
    REQUIRE(find<reply>(out));
  }
  // The link is saturated at a tenth of its planned capacity: t must rise.
  const double link = s.link_gbps / 10;
  out.clear();
  const auto moved = cp.control({link * 0.99, link}, 30, out);
  REQUIRE(moved);
  CHECK(moved->before == 2000);
  CHECK(moved->after > 2000);
  CHECK(moved->inputs.n_prfaas == 4);
  CHECK(moved->inputs.egress_utilisation == Approx(0.99));
  CHECK(cp.state().threshold_tokens() == static_cast<int>(moved->after));
  CHECK(cp.threshold_moves() == 1);
  CHECK(cp.last_minute(30).first == 400);
}

TEST_CASE("without profiles the controller is off and control() changes nothing") {
  control_plane cp({});
  commands out;
  CHECK_FALSE(cp.controller_on());
  CHECK_FALSE(cp.control({1, 1}, 1, out));
  CHECK(out.empty());
  CHECK(cp.threshold() == cp.state().threshold_tokens());
}

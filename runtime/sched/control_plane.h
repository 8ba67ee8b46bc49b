#pragma once
// The control plane: the core (core.h: requests, nodes, routing) and the slow loops around it,
// defined once and driven alike by the live router (actors/router.cpp) and by the simulator
// (runtime/sim/simulator.cpp).  Pure: no CAF, no clock; the driver passes the time.
//
//   - the threshold controller (policy/threshold_controller.h): every routed request's uncached
//     length is observed here; control() runs one period on the link the driver measured;
//   - the P/D rebalancer (policy/rebalancer.h): the stages' levels (core::levels) are integrated
//     over time here, event by event; rebalance() runs one period on their means;
//   - conversions of local nodes between prefill and decode: drained, then the driver is told
//     (convert_node), and ended when the node comes back in its new role or its time runs out
//     (conversion_ended);
//   - what completed lately (the offload share) and the request log (timelines, /metrics).
//
//   control_plane cp(options);
//   cp.handle(sched::request_arrived{...}, now, out);   // every event, as core::handle
//   cp.control({egress_gbps, capacity_gbps}, now, out); // every controller period
//   cp.rebalance(now, out);                            // every rebalance period
//
// Both drivers feed it the same quantities: loads and decoding sequences from the core, and the
// link's egress as each world measures it (nodes' reports live, bytes sent in the simulator).

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "runtime/policy/rebalancer.h"
#include "runtime/policy/threshold_controller.h"
#include "runtime/profile/instance_profile.h"
#include "runtime/sched/core.h"
#include "runtime/sched/local_stages.h"
#include "runtime/sched/request_log.h"

namespace prfaas::metrics { class exposition; }

namespace prfaas::sched {

struct control_plane_options {
  core_options core;
  // The threshold controller runs when both profiles are given (it plans with them).
  std::shared_ptr<const profile::instance_profile> prfaas_profile, pd_profile;
  double output_tokens = 0;
  bool rebalancer = false;
  // A converting node must drain and come back in its new role within this.
  double conversion_s = 30;
  size_t log_keep = 1024;           // timelines the request log keeps
};

// The inter-cluster link over the controller's last period, as the driver measured it.
struct link_view {
  double egress_gbps = 0;           // PrfaaS egress
  double capacity_gbps = 0;         // the link's capacity now (0: unknown)
};

// A move of t by the controller, with what it saw.
struct threshold_move {
  int before = 0;
  double after = 0;
  policy::controller_inputs inputs;
};

// A rebalance period: the stages' means over it, and the conversion it started (node empty: none).
struct rebalance_period {
  policy::rebalance_inputs inputs;
  std::string node;
  node_kind to = node_kind::prefill;
};

struct conversion {
  node_kind to = node_kind::prefill;
  double deadline_s = 0;
  bool told = false;                // drained, and the driver told to convert it
};

class control_plane {
 public:
  explicit control_plane(control_plane_options options);

  // One event, as core::handle; the commands may include convert_node and conversion_ended.
  void handle(const event& e, double now_s, commands& out);
  // One period of the threshold controller (nothing when it is off).
  std::optional<threshold_move> control(const link_view& link, double now_s, commands& out);
  // One period of the rebalancer: the stages' means since the last call; may start a conversion
  // (none while one is under way, or with the rebalancer off).
  rebalance_period rebalance(double now_s, commands& out);
  // A conversion by hand (`to`: prefill | decode): drains the node; a refusal says why not.
  refusal convert(const std::string& name, const std::string& to, double now_s, commands& out);

  const core& state() const { return core_; }
  const conversion* converting(const std::string& name) const;
  bool controller_on() const { return controller_ != nullptr; }
  double threshold() const;         // t: the controller's (fractional), else the core's
  int threshold_moves() const { return threshold_moves_; }
  int conversions() const { return conversions_; }
  // Requests completed in the minute before `now_s`, and how many of them prefilled on PrfaaS.
  std::pair<int, int> last_minute(double now_s) const;
  request_log& log() { return log_; }
  const request_log& log() const { return log_; }

  // Its families of /metrics: the request log's, nodes, queues, t, conversions, offload share.
  void write_metrics(metrics::exposition& page, double now_s) const;

 private:
  void integrate(double now_s);     // the stages' levels since the last event
  void conversions_step(const event& e, double now_s, commands& out);

  control_plane_options options_;
  core core_;
  std::unique_ptr<policy::threshold_controller> controller_;
  int threshold_moves_ = 0, conversions_ = 0;
  // The rebalancer's integrals since its last period: busy fraction and occupancy, times seconds.
  double last_s_ = 0, period_start_s_ = 0, busy_integral_ = 0, occupancy_integral_ = 0;
  std::map<std::string, conversion> converting_;
  std::deque<std::pair<double, bool>> recent_;  // completions: when, offloaded (bounded)
  std::map<std::pair<std::string, std::string>, int64_t> node_events_;  // (role, up | down)
  request_log log_;
};

}  // namespace prfaas::sched

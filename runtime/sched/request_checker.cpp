#include "runtime/sched/request_checker.h"

namespace prfaas::sched {

void request_checker::violation(std::string what) {
  if (violations_.size() < max_violations_) violations_.push_back(std::move(what));
}

void request_checker::after(const event& e, const commands& out, const core& c) {
  ++steps_;
  if (const auto* a = std::get_if<request_arrived>(&e)) {
    auto [it, fresh] = state_.emplace(a->id, 1);
    if (fresh) ++arrived_;
  }
  // Taken over from a lost router: it arrives here as far as it got (when the core took it).
  if (const auto* a = std::get_if<request_adopted>(&e); a && c.find(a->id)) {
    auto [it, fresh] = state_.emplace(a->id, 1);
    if (fresh) ++arrived_;
  }
  for (const auto& cmd : out) {
    const auto* r = std::get_if<reply>(&cmd);
    if (!r) continue;
    auto it = state_.find(r->id);
    if (it == state_.end()) violation("request " + std::to_string(r->id) + " ended but never arrived");
    else if (it->second == 2) violation("request " + std::to_string(r->id) + " ended twice");
    else { it->second = 2; ++ended_; }
  }
  if (every_ <= 1 || steps_ % every_ == 0) scan(c);
}

void request_checker::scan(const core& c) {
  std::vector<int> load(c.nodes().size(), 0);
  for (const auto& [id, r] : c.requests()) {
    auto it = state_.find(id);
    if (it == state_.end() || it->second != 1)
      violation("request " + std::to_string(id) + " is in the core but not in flight");
    if (r.ph == phase::done || r.ph == phase::failed)
      violation("request " + std::to_string(id) + " kept in the core after it ended");
    if (r.holds_prefill) {
      if (r.ph != phase::pulling && r.ph != phase::prefilling && r.ph != phase::transferring && r.ph != phase::decoding)
        violation("request " + std::to_string(id) + " holds its prefill node in phase " + to_string(r.ph));
      if (!c.node(r.prefill_node).up) violation("request " + std::to_string(id) + " holds a prefill node that is down");
      ++load[r.prefill_node];
    }
    if (r.holds_decode) {
      if (!c.node(r.decode_node).up) violation("request " + std::to_string(id) + " holds a decode node that is down");
      ++load[r.decode_node];
    }
  }
  for (const auto& n : c.nodes())
    if (n.load != load[n.id])
      violation("node " + n.desc.name + " has load " + std::to_string(n.load) + " but holds " +
                std::to_string(load[n.id]) + " requests");
}

void request_checker::at_end(const core& c) {
  scan(c);
  if (!c.requests().empty()) violation(std::to_string(c.requests().size()) + " requests still in flight at the end");
  if (ended_ != arrived_)
    violation(std::to_string(arrived_) + " requests arrived but " + std::to_string(ended_) + " ended");
}

}  // namespace prfaas::sched

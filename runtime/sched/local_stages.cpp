#include "runtime/sched/local_stages.h"

#include <algorithm>

namespace prfaas::sched {

refusal conversion_refusal(const core& c, const std::string& name, const std::string& to, bool converting) {
  const auto id = c.node_by_name(name);
  if (!id || !c.node(*id).up) return {errc::invalid_argument, "no node named " + name + " is up"};
  const auto& n = c.node(*id);
  const auto kind = n.desc.kind;
  if (n.desc.prfaas || kind == node_kind::cache_directory || (to != "prefill" && to != "decode"))
    return {errc::invalid_argument, "only local prefill and decode nodes convert, to prefill or decode"};
  if (to_string(kind) == to) return {errc::invalid_argument, name + " is a " + to + " node already"};
  if (converting || !n.accepting) return {errc::invalid_argument, name + " is draining or converting already"};
  int others = 0;
  for (const auto& m : c.nodes()) others += m.up && m.accepting && m.id != *id && m.desc.kind == kind && !m.desc.prfaas;
  if (kind == node_kind::decode && others == 0) return {errc::no_capacity, name + " is the last decode node"};
  return {};
}

std::optional<std::string> conversion_candidate(const core& c, int move) {
  if (move == 0) return std::nullopt;
  const auto from = move > 0 ? node_kind::decode : node_kind::prefill;
  std::optional<std::string> best;
  for (const auto& n : c.nodes())
    if (n.up && n.accepting && !n.desc.prfaas && n.desc.kind == from && (!best || n.desc.name < *best))
      best = n.desc.name;
  return best;
}

}  // namespace prfaas::sched

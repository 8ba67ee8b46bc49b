#include "runtime/netem/link_model.h"

#include <algorithm>

#include "runtime/common/errc.h"

namespace prfaas::netem {

link_model::link_model(link_params p, uint64_t seed) : p_(p), rng_(seed) {
  PRFAAS_REQUIRE(p.one_way_ms >= 0 && p.one_way_ms <= 10000, "one-way delay must be in [0, 10000] ms");
  PRFAAS_REQUIRE(p.gbps >= 0 && p.gbps <= 1000, "rate must be in [0, 1000] Gbps (0: unlimited)");
  PRFAAS_REQUIRE(p.loss >= 0 && p.loss < 1, "loss must be in [0, 1)");
  PRFAAS_REQUIRE(p.reorder >= 0 && p.reorder < 1, "reorder must be in [0, 1)");
  PRFAAS_REQUIRE(p.reorder_ms >= 0 && p.reorder_ms <= 1000, "reorder delay must be in [0, 1000] ms");
  ns_per_byte_ = p.gbps > 0 ? 8.0 / p.gbps : 0;
  queue_bytes_ = p.queue_bytes > 0 ? p.queue_bytes
                                   : std::max<size_t>(256 << 10, static_cast<size_t>(p.gbps * 1e9 / 8 * 0.050));
}

std::optional<clock::time_point> link_model::admit(size_t bytes, clock::time_point now) {
  if (p_.loss > 0 && uniform_(rng_) < p_.loss) {
    ++counters_.lost;
    return std::nullopt;
  }
  clock::time_point depart = now;
  if (ns_per_byte_ > 0) {
    const auto start = std::max(now, free_at_);
    // Bytes still waiting to be serialised ahead of this packet.
    const double waiting = std::chrono::duration<double, std::nano>(start - now).count() / ns_per_byte_;
    if (waiting + static_cast<double>(bytes) > static_cast<double>(queue_bytes_)) {
      ++counters_.queue_drops;
      return std::nullopt;
    }
    free_at_ = start + std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(bytes) * ns_per_byte_));
    depart = free_at_;
  }
  auto arrive = depart + std::chrono::nanoseconds(static_cast<int64_t>(p_.one_way_ms * 1e6));
  if (p_.reorder > 0 && uniform_(rng_) < p_.reorder) {
    ++counters_.reordered;
    arrive += std::chrono::nanoseconds(static_cast<int64_t>(p_.reorder_ms * 1e6));
  }
  ++counters_.packets;
  counters_.bytes += bytes;
  return arrive;
}

}  // namespace prfaas::netem

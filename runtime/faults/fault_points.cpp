#include "runtime/faults/fault_points.h"

namespace prfaas {

const char* to_string(fault_point p) {
  switch (p) {
    case fault_point::drop_frame: return "drop_frame";
    case fault_point::reset_link: return "reset_link";
    case fault_point::fail_alloc: return "fail_alloc";
    case fault_point::crash_role: return "crash_role";
  }
  return "unknown";
}

fault_injector::fault_injector(fault_options options) : options_(options), rng_(options.seed) {}

double fault_injector::probability(fault_point p) const {
  switch (p) {
    case fault_point::drop_frame: return options_.drop_frame;
    case fault_point::reset_link: return options_.reset_link;
    case fault_point::fail_alloc: return options_.fail_alloc;
    case fault_point::crash_role: return options_.crash_role;
  }
  return 0;
}

bool fault_injector::fire(fault_point p) {
  const double prob = probability(p);
  if (prob <= 0) return false;
  std::lock_guard lock(mutex_);
  if (std::uniform_real_distribution<double>(0, 1)(rng_) >= prob) return false;
  ++fired_[static_cast<size_t>(p)];
  return true;
}

uint64_t fault_injector::fired(fault_point p) const {
  std::lock_guard lock(mutex_);
  return fired_[static_cast<size_t>(p)];
}

}  // namespace prfaas

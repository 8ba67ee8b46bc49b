#pragma once
// Named fault points: the project's fault-injection facility, for its own tests and for users'.
// `fault_options` (the config's [faults] section) says how often each point fires; a
// `fault_injector` is passed to the code that holds the points (never a global), and draws from
// one seeded generator.  Every point is off by default, and costs one branch when off.
//
//   point          where                          what the design does about it
//   drop_frame     KV sender, per payload frame   the frame is not sent; the sender finds the
//                                                 transfer unconfirmed and resumes it
//   reset_link     KV sender, per frame           the link's connections break; it resumes
//   delay_layer    prefill, after every layer     the layer is held back delay_layer_ms
//   fail_alloc     decode, per reservation        refused as if full (no_capacity): re-dispatched
//   crash_role     prefill and decode, per job    the role actor dies; its supervisor restarts
//                                                 it and the router re-dispatches what it held
//
//   fault_injector faults(options);
//   if (faults.fire(fault_point::drop_frame)) continue;   // the frame is lost

#include <array>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

namespace prfaas {

// The points drawn with a probability (delay_layer_ms is read as a duration, never drawn).
enum class fault_point : uint8_t { drop_frame, reset_link, fail_alloc, crash_role };
inline constexpr size_t kFaultPoints = 4;
const char* to_string(fault_point p);

struct fault_options {
  uint64_t seed = 1;
  double drop_frame = 0;    // probability per KV payload frame
  double reset_link = 0;    // probability per KV frame
  int delay_layer_ms = 0;   // added after every prefill layer
  double fail_alloc = 0;    // probability per decode reservation
  double crash_role = 0;    // probability per prefill or decode job
  bool any() const { return drop_frame > 0 || reset_link > 0 || delay_layer_ms > 0 || fail_alloc > 0 || crash_role > 0; }
};

class fault_injector {
 public:
  explicit fault_injector(fault_options options);
  // Draws for a probability point (true: inject the fault now).  Thread-safe.
  bool fire(fault_point p);
  const fault_options& options() const { return options_; }
  uint64_t fired(fault_point p) const;

 private:
  double probability(fault_point p) const;
  fault_options options_;
  mutable std::mutex mutex_;
  std::mt19937_64 rng_;
  std::array<uint64_t, kFaultPoints> fired_{};
};

}  // namespace prfaas

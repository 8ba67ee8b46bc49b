#include "kernels/cpu/threads.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>

namespace prfaas::kernels::cpu {
namespace {

std::atomic<int> threads{0};

// Before libgomp's own initialiser reads OMP_WAIT_POLICY (threads.h says why); a value the
// environment already holds wins.
void passive_openmp_wait(int, char**, char**) { ::setenv("OMP_WAIT_POLICY", "passive", 0); }

}  // namespace

// In the executable's .preinit_array: static libraries only (a shared library may not have one),
// and `used` keeps the linker from dropping it with the rest of this object referenced.
__attribute__((section(".preinit_array"), used)) static void (*const preinit_passive_wait)(int, char**, char**) =
    passive_openmp_wait;

void set_compute_threads(int n) { threads.store(n < 0 ? 0 : n, std::memory_order_relaxed); }

int compute_threads() { return threads.load(std::memory_order_relaxed); }

void apply_compute_threads() {
  const int n = threads.load(std::memory_order_relaxed);
  if (n > 0 && omp_get_max_threads() != n) omp_set_num_threads(n);
}

}  // namespace prfaas::kernels::cpu

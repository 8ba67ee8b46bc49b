#pragma once
// How many threads the CPU kernels compute on, and how they wait.
//
// OpenMP keeps its thread count per calling thread: a thread OpenMP did not start (an actor's,
// the CLI's) takes the process's initial value, so omp_set_num_threads on main holds nowhere
// else.  The count is set once per process here and applied by the thread that computes, at
// the start of each forward pass (hybrid_model::forward), which costs one thread-local read.
//
// The wait: idle OpenMP threads spin for a while by default (libgomp: ~300,000 iterations),
// which on a host shared by several nodes burns the cores the others compute on.  Every
// executable that links these kernels starts with OMP_WAIT_POLICY=passive unless its
// environment says otherwise: threads.cpp sets it from the executable's .preinit_array, which
// runs before any library's initialiser, so before libgomp reads its environment (once, at
// load).  No process restarts itself for it.

namespace prfaas::kernels::cpu {

// Threads for every later forward pass, on whichever thread computes (n >= 1; 0: OpenMP's own).
void set_compute_threads(int n);
int compute_threads();

// Applies the count to the calling thread's OpenMP settings (no-op when unset or unchanged).
void apply_compute_threads();

}  // namespace prfaas::kernels::cpu

#pragma once
// A CPU cap on one process, through a cgroup of its own (v2's cpu.max, or v1's cpu controller's
// CFS quota): `bench router --cap` holds the router to a share of a core so that it, not the
// nodes and clients sharing the machine, is the bottleneck: its CPU per request is then measured
// at saturation (its mailbox and sockets hold many messages at each wake-up).
//
//   cpu_cap cap(router_pid, 0.10);   // at most 10 % of a core from now on
//   ...                              // the cgroup goes when `cap` does (after the process)
//
// Needs write access to the cgroup hierarchy (root, or a delegated subtree); throws cli_error
// naming the file that could not be written otherwise.

#include <string>

namespace prfaas::apps {

class cpu_cap {
 public:
  // `share`: of one core, in (0, 1].
  cpu_cap(int pid, double share);
  ~cpu_cap();
  cpu_cap(const cpu_cap&) = delete;
  cpu_cap& operator=(const cpu_cap&) = delete;

  // Whether `pid` is in this cap's cgroup (read from /proc/PID/cgroup).
  bool holds(int pid) const;

 private:
  std::string mount_;  // the hierarchy's root directory
  std::string name_;   // the cgroup, under it
};

}  // namespace prfaas::apps

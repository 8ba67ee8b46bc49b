#pragma once
// Whether a process listens at an address, as far as one TCP connect can tell.  A refused
// connect (the host answered that nothing listens on the port) is the one certain sign that the
// process which listened there is gone; a connect that completes proves little (a stopped
// process's kernel still accepts), and silence proves nothing (a partition, a host down).
//
//   if (probe_port(leader, 200ms) == port_answer::refused) ...  // its process is gone

#include <chrono>

#include "runtime/common/endpoint.h"

namespace prfaas::control {

enum class port_answer { accepting, refused, silent };

// One non-blocking connect, closed at once; unresolvable hosts and timeouts are `silent`.
port_answer probe_port(const endpoint& at, std::chrono::milliseconds timeout);

}  // namespace prfaas::control
